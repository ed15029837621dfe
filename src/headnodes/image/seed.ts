/**
 * A headnode's first-boot seed: a small raw ext2 disk labelled `cidata`
 * holding cloud-init NoCloud's three files, which the headnode's boot reads
 * (guest/hil-seed.sh) and a cloud-init image would read as well. Made with
 * mke2fs -d from a temporary directory: no mounting, no root.
 *
 * The layout is fixed and line-oriented so that busybox sed and awk can
 * parse it; it is valid YAML, but the guest reads only this shape:
 *
 *   meta-data
 *     instance-id: <instance id>
 *     local-hostname: <hostname>
 *
 *   user-data
 *     #cloud-config
 *     hostname: <hostname>
 *     ssh_authorized_keys:            ("ssh_authorized_keys: []" when none)
 *       - '<key>'                     (one line per key, ' doubled as in YAML)
 *
 *   network-config
 *     version: 2
 *     ethernets:
 *       <name>:                       (one block per interface, in order)
 *         match:
 *           macaddress: "<mac, lower case>"
 *         set-name: <name>
 *         addresses:                  (an address given: IPv4 CIDR)
 *           - <a.b.c.d/n>
 *         dhcp4: true                 (no address given: instead of addresses)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MKE2FS } from './host-tools.ts';
import { HeadnodeImageError } from './image-error.ts';

export interface HeadnodeInterface {
  /** The name the NIC gets (set-name): 1 to 15 of a-z 0-9 _ -. */
  name: string;
  /** Which NIC: its MAC address, aa:bb:cc:dd:ee:ff. */
  mac: string;
  /** Its IPv4 address with prefix (10.50.0.1/24); DHCP when absent. */
  address?: string;
}

export interface HeadnodeSeed {
  instanceId: string;
  hostname: string;
  sshAuthorizedKeys: string[];
  interfaces: HeadnodeInterface[];
}

/** The seed disk's size: the three files are a few hundred bytes, ext2 wants room for its own tables. */
const SEED_KIB = 2048;


const INSTANCE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const DNS_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IFNAME = /^[a-z0-9_-]{1,15}$/;
/** An OpenSSH public key line: type, base64 blob, optional comment of printable ASCII. */
const SSH_KEY = /^[a-z0-9][a-z0-9@.-]{2,63} [A-Za-z0-9+/]+={0,3}( [\x20-\x7e]*)?$/;

function fail(what: string): never {
  throw new HeadnodeImageError(`headnode seed: ${what}`);
}

function checkCidr(where: string, cidr: string): void {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const ok = m !== null && m.slice(1, 5).every((o) => Number(o) <= 255 && String(Number(o)) === o) && Number(m[5]) >= 1 && Number(m[5]) <= 32;
  if (!ok) fail(`${where}: address must be IPv4 with a prefix length, like 10.50.0.1/24 (got ${JSON.stringify(cidr)})`);
}

function checkInterfaces(interfaces: readonly HeadnodeInterface[]): void {
  const names = new Set<string>();
  const macs = new Set<string>();
  interfaces.forEach((nic, i) => {
    const where = `interfaces[${i}]`;
    if (!IFNAME.test(nic.name) || nic.name === 'lo') fail(`${where}: name must be 1 to 15 of a-z 0-9 _ - and not "lo" (got ${JSON.stringify(nic.name)})`);
    const mac = nic.mac.toLowerCase();
    if (!MAC.test(mac)) fail(`${where}: mac must look like 52:54:00:12:34:56 (got ${JSON.stringify(nic.mac)})`);
    if (names.has(nic.name)) fail(`${where}: the name ${nic.name} is given twice`);
    if (macs.has(mac)) fail(`${where}: the MAC ${mac} is given twice`);
    names.add(nic.name);
    macs.add(mac);
    if (nic.address !== undefined) checkCidr(where, nic.address);
  });
}

/** Throws a HeadnodeImageError naming the first thing wrong with `seed`. */
export function validateSeed(seed: HeadnodeSeed): void {
  if (!INSTANCE_ID.test(seed.instanceId)) fail(`instanceId must be 1 to 128 of A-Z a-z 0-9 . _ : - (got ${JSON.stringify(seed.instanceId)})`);
  if (!DNS_LABEL.test(seed.hostname)) fail(`hostname must be a DNS label: 1 to 63 letters, digits and inner hyphens (got ${JSON.stringify(seed.hostname)})`);
  seed.sshAuthorizedKeys.forEach((key, i) => {
    if (/[\r\n]/.test(key)) fail(`sshAuthorizedKeys[${i}] holds a line break: one key per entry`);
    if (!SSH_KEY.test(key.trim())) fail(`sshAuthorizedKeys[${i}] is not an OpenSSH public key line ("ssh-ed25519 AAAA… comment")`);
  });
  checkInterfaces(seed.interfaces);
}

const yamlQuote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** The seed's three files, in the layout the header describes (the seed must be valid). */
export function seedFiles(seed: HeadnodeSeed): Record<'meta-data' | 'user-data' | 'network-config', string> {
  const keys = seed.sshAuthorizedKeys.map((k) => `  - ${yamlQuote(k.trim())}\n`).join('');
  const ethernets = seed.interfaces.map((nic) => {
    const how = nic.address === undefined ? '    dhcp4: true\n' : `    addresses:\n      - ${nic.address}\n`;
    return `  ${nic.name}:\n    match:\n      macaddress: "${nic.mac.toLowerCase()}"\n    set-name: ${nic.name}\n${how}`;
  });
  return {
    'meta-data': `instance-id: ${seed.instanceId}\nlocal-hostname: ${seed.hostname}\n`,
    'user-data': `#cloud-config\nhostname: ${seed.hostname}\n${keys ? `ssh_authorized_keys:\n${keys}` : 'ssh_authorized_keys: []\n'}`,
    'network-config': `version: 2\nethernets:${ethernets.length ? `\n${ethernets.join('')}` : ' {}\n'}`,
  };
}

/** Writes the seed disk for `seed` at `path` (replaced whole: written beside it, then renamed). */
export function writeSeed(path: string, seed: HeadnodeSeed): void {
  validateSeed(seed);
  const dir = mkdtempSync(join(tmpdir(), 'hil-seed-'));
  const partial = `${path}.partial-${process.pid}`;
  try {
    for (const [name, text] of Object.entries(seedFiles(seed))) writeFileSync(join(dir, name), text, { mode: 0o644 });
    rmSync(partial, { force: true });
    execFileSync(MKE2FS, ['-q', '-F', '-t', 'ext2', '-L', 'cidata', '-m', '0', '-E', 'root_owner=0:0', '-d', dir, partial, `${SEED_KIB}k`], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(partial, path);
  } catch (err) {
    rmSync(partial, { force: true });
    if (err instanceof HeadnodeImageError) throw err;
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new HeadnodeImageError(`cannot write the seed disk ${path}: ${stderr || (err as Error).message} (mke2fs is in e2fsprogs)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
