/**
 * The base headnode image, booted for real under QEMU (TCG) with no host
 * networking changes: the headnode's first hnic is user-mode networking with
 * SSH forwarded from a loopback port; its second is a QEMU socket link on
 * loopback, the "tenant network", where a diskless node PXE-boots from the
 * headnode's hil-pxe. A node on a link of its own hears nothing. Every QEMU
 * is killed in `after`, whatever failed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { buildHeadnodeImage, readHeadnodeImage, type HeadnodeImage } from '../../src/headnodes/image/build.ts';
import { missingPackages } from '../../src/headnodes/image/host-tools.ts';
import { writeSeed } from '../../src/headnodes/image/seed.ts';
import { freePort } from '../../src/lab/system.ts';
import { skipUnless } from '../support/require.ts';

function skipReason(): string | undefined {
  if (spawnSync('qemu-system-x86_64', ['--version']).status !== 0) return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
  if (spawnSync('ssh', ['-V']).status !== 0 || spawnSync('ssh-keygen', ['--help']).error) return 'the OpenSSH client is not installed (apt-get install openssh-client)';
  if (!existsSync('/usr/lib/ipxe/qemu/efi-virtio.rom') && !existsSync('/usr/share/qemu/pxe-virtio.rom')) return "QEMU's iPXE ROMs are not installed (apt-get install ipxe-qemu)";
  const missing = missingPackages();
  return missing.length ? `a headnode image needs ${missing.join(', ')} (apt-get install ${missing.join(' ')})` : undefined;
}

const HOSTNAME = 'hn-test1';
const HEADNODE_MACS = ['52:54:00:4e:00:01', '52:54:00:4e:00:02'];
const NODE_MAC = '52:54:00:4e:10:01';
const LONELY_MAC = '52:54:00:4e:20:01';

/** One QEMU with its serial console in a file. */
class Vm {
  readonly console: string;
  readonly #qemu: ChildProcess;
  readonly exited: Promise<void>;

  constructor(dir: string, name: string, args: string[]) {
    this.console = join(dir, `${name}.console`);
    this.#qemu = spawn('qemu-system-x86_64', ['-accel', 'tcg', '-m', '256', '-display', 'none', '-no-reboot', '-serial', `file:${this.console}`, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.exited = new Promise((resolve) => this.#qemu.once('exit', () => resolve()));
  }

  text(): string {
    return existsSync(this.console) ? readFileSync(this.console, 'latin1') : '';
  }

  async waitFor(pattern: RegExp, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.text())) {
      if (this.#qemu.exitCode !== null) throw new Error(`QEMU exited (${this.#qemu.exitCode}) before ${pattern}; console:\n${this.text().slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${ms / 1000} s; console:\n${this.text().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async kill(): Promise<void> {
    if (this.#qemu.exitCode === null && this.#qemu.signalCode === null) this.#qemu.kill('SIGKILL');
    await this.exited;
  }
}

describe('the base headnode image', { skip: skipUnless(skipReason()) }, () => {
  let dir: string;
  let image: HeadnodeImage;
  let sshPort: number;
  let tenantPort: number;
  let headnode: Vm;
  const vms: Vm[] = [];

  const vm = (name: string, args: string[]) => {
    const v = new Vm(dir, name, args);
    vms.push(v);
    return v;
  };

  function ssh(key: string, command: string): { status: number | null; stdout: string; stderr: string } {
    const opts = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10'];
    const r = spawnSync('ssh', [...opts, '-i', key, '-p', String(sshPort), 'root@127.0.0.1', command], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  function sshOk(command: string): string {
    const r = ssh(join(dir, 'key'), command);
    assert.equal(r.status, 0, `ssh ${command}: ${r.stderr}`);
    return r.stdout;
  }

  /** A diskless node that PXE-boots from its one virtio NIC on `netdev`. */
  const node = (name: string, mac: string, netdev: string) => vm(name, ['-boot', 'n', '-netdev', `${netdev},id=n0`, '-device', `virtio-net-pci,netdev=n0,mac=${mac}`]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hil-headnode-image-'));
    const t0 = Date.now();
    image = await buildHeadnodeImage({ outDir: join(dir, 'images') });
    const sizes = ['disk', 'initrd'].map((k) => `${k} ${(readFileSync(image[k as 'disk' | 'initrd']).length / 2 ** 20).toFixed(1)} MiB`);
    console.log(`# headnode image built in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${sizes.join(', ')}`);
    for (const k of ['key', 'wrong']) assert.equal(spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', join(dir, k)]).status, 0);
    const seed = join(dir, 'seed.img');
    writeSeed(seed, {
      instanceId: 'i-image-test',
      hostname: HOSTNAME,
      sshAuthorizedKeys: [readFileSync(join(dir, 'key.pub'), 'utf8').trim()],
      interfaces: [
        { name: 'uplink', mac: HEADNODE_MACS[0] },
        { name: 'tenant0', mac: HEADNODE_MACS[1], address: '10.50.0.1/24' },
      ],
    });
    const overlay = join(dir, 'headnode.qcow2');
    assert.equal(spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image.disk, overlay]).status, 0);
    sshPort = await freePort();
    tenantPort = await freePort();
    const t1 = Date.now();
    headnode = vm('headnode', [
      '-kernel', image.kernel, '-initrd', image.initrd, '-append', `${image.cmdline} console=ttyS0`,
      '-drive', `file=${overlay},if=virtio,format=qcow2`,
      '-drive', `file=${seed},if=virtio,format=raw,readonly=on`,
      '-netdev', `user,id=h0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', `virtio-net-pci,netdev=h0,mac=${HEADNODE_MACS[0]}`,
      '-netdev', `socket,id=h1,listen=127.0.0.1:${tenantPort}`, '-device', `virtio-net-pci,netdev=h1,mac=${HEADNODE_MACS[1]}`,
      '-monitor', `unix:${join(dir, 'monitor.sock')},server=on,wait=off`,
    ]);
    await headnode.waitFor(new RegExp(`hil-headnode: ready ${HOSTNAME}\\r?\\n`), 120_000);
    console.log(`# headnode ready ${((Date.now() - t1) / 1000).toFixed(1)} s after QEMU started`);
  });

  after(async () => {
    await Promise.all(vms.map((v) => v.kill()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is a complete image that readHeadnodeImage reads back, and a directory without one is refused clearly', () => {
    assert.deepEqual(readHeadnodeImage(image.dir), image);
    assert.equal(image.name, 'base-headnode');
    assert.throws(() => readHeadnodeImage(dir), /not a headnode image: cannot read image\.json/);
  });

  it("lets in the seed's key: the hostname and the interfaces are the seed's", () => {
    assert.equal(sshOk('hostname').trim(), HOSTNAME);
    const links = sshOk('ip -o link show; ip -4 -o addr show');
    assert.match(links, new RegExp(`uplink: .*link/ether ${HEADNODE_MACS[0]}`));
    assert.match(links, new RegExp(`tenant0: .*link/ether ${HEADNODE_MACS[1]}`));
    assert.match(links, /tenant0\s+inet 10\.50\.0\.1\/24/);
    assert.match(links, /uplink\s+inet 10\.0\.2\.15\/24/, 'DHCP (QEMU user networking) on the interface without an address');
    const mem = /Mem:\s+(\d+)\s+(\d+)/.exec(sshOk('free -m'));
    console.log(`# headnode memory: ${mem?.[2]} MiB used of ${mem?.[1]} MiB (-m 256)`);
  });

  it('refuses a key the seed does not name, and takes no password', () => {
    const r = ssh(join(dir, 'wrong'), 'true');
    assert.equal(r.status, 255);
    assert.match(r.stderr, /Permission denied \(publickey\)/);
  });

  it("PXE-boots a node on its tenant network with hil-pxe, and lists the node's report", { timeout: 150_000 }, async () => {
    assert.match(sshOk('hil-pxe start tenant0'), /serving tenant0 \(10\.50\.0\.1\/24\): DHCP 10\.50\.0\.100-10\.50\.0\.199/);
    assert.match(sshOk('hil-pxe status'), /running on tenant0/);
    const t0 = Date.now();
    const n = node('node', NODE_MAC, `socket,connect=127.0.0.1:${tenantPort}`);
    await n.waitFor(/hil-pxe-hello mac=\S+ ip=\S+/, 120_000);
    console.log(`# node PXE-booted to hil-pxe-hello in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const hello = /hil-pxe-hello mac=(\S+) ip=(\S+)/.exec(n.text())!;
    assert.equal(hello[1], NODE_MAC);
    assert.match(hello[2], /^10\.50\.0\.1\d\d$/);
    assert.match(sshOk('hil-pxe reports'), new RegExp(`^${NODE_MAC} ${hello[2].replace(/\./g, '\\.')} \\d{4}-\\d\\d-\\d\\dT`, 'm'));
    assert.match(sshOk('cat /var/log/dnsmasq.log'), new RegExp(`bootfile-name +http://10\\.50\\.0\\.1/boot\\.ipxe`), 'the iPXE ROM was sent to HTTP');
    await n.kill();
  });

  it('gives no DHCP answer to a node on a link it is not on', { timeout: 90_000 }, async () => {
    const lonely = node('lonely', LONELY_MAC, `socket,listen=127.0.0.1:${await freePort()}`);
    // iPXE sends its first DHCPDISCOVER within seconds; 25 s is several of its retries.
    await new Promise((r) => setTimeout(r, 25_000));
    assert.doesNotMatch(lonely.text(), /hil-pxe-hello/);
    assert.doesNotMatch(sshOk('cat /var/log/dnsmasq.log; hil-pxe reports'), new RegExp(LONELY_MAC));
    await lonely.kill();
  });

  it('stops hil-pxe', () => {
    assert.match(sshOk('hil-pxe stop'), /stopped/);
    const r = ssh(join(dir, 'key'), 'hil-pxe status');
    assert.equal(r.status, 3);
    assert.match(r.stdout, /hil-pxe: stopped/);
  });

  it("shuts down cleanly on QEMU's system_powerdown (the ACPI power button)", { timeout: 60_000 }, async () => {
    const monitor = createConnection(join(dir, 'monitor.sock'));
    await once(monitor, 'connect');
    monitor.end('system_powerdown\n');
    const exited = await Promise.race([headnode.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 45_000))]);
    monitor.destroy();
    assert.ok(exited, `QEMU still runs 45 s after system_powerdown; console:\n${headnode.text().slice(-2000)}`);
    assert.match(headnode.text(), /hil-headnode: shutting down/);
    assert.doesNotMatch(headnode.text(), /the root filesystem stays read-write/);
  });
});

describe('writeSeed', () => {
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBtWv4r0p5Yr5eXq6Xn1mMqF0bq9yJ2d8s1g7fQk3Zx1 o\'neil@example';
  const good = { instanceId: 'i-1', hostname: 'hn1', sshAuthorizedKeys: [key], interfaces: [{ name: 'eth0', mac: '52:54:00:AA:00:01' }, { name: 'tenant0', mac: '52:54:00:aa:00:02', address: '10.50.0.1/24' }] };

  it('writes an ext2 disk labelled cidata with the NoCloud files in the documented layout', { skip: skipUnless(existsSync('/usr/sbin/debugfs') ? undefined : 'debugfs is not installed (apt-get install e2fsprogs)') }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-seed-test-'));
    try {
      const path = join(dir, 'seed.img');
      writeSeed(path, good);
      const cat = (f: string) => spawnSync('/usr/sbin/debugfs', ['-R', `cat ${f}`, path], { encoding: 'utf8' }).stdout;
      assert.match(spawnSync('/usr/sbin/dumpe2fs', ['-h', path], { encoding: 'utf8' }).stdout, /Filesystem volume name:\s+cidata/);
      assert.equal(cat('meta-data'), 'instance-id: i-1\nlocal-hostname: hn1\n');
      assert.equal(cat('user-data'), `#cloud-config\nhostname: hn1\nssh_authorized_keys:\n  - '${key.replace("'", "''")}'\n`);
      assert.equal(
        cat('network-config'),
        'version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: "52:54:00:aa:00:01"\n    set-name: eth0\n    dhcp4: true\n' +
          '  tenant0:\n    match:\n      macaddress: "52:54:00:aa:00:02"\n    set-name: tenant0\n    addresses:\n      - 10.50.0.1/24\n',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const [what, change, message] of [
    ['a hostname that is no DNS label', { hostname: 'hn_1' }, /hostname must be a DNS label/],
    ['a key with a line break', { sshAuthorizedKeys: [`${key}\nssh-ed25519 AAAA`] }, /sshAuthorizedKeys\[0\] holds a line break/],
    ['a key that is no key', { sshAuthorizedKeys: ['hello'] }, /sshAuthorizedKeys\[0\] is not an OpenSSH public key line/],
    ['a bad MAC', { interfaces: [{ name: 'eth0', mac: '52:54:00:aa:00' }] }, /interfaces\[0\]: mac must look like/],
    ['an interface name over 15 characters', { interfaces: [{ name: 'a-very-long-name0', mac: '52:54:00:aa:00:01' }] }, /interfaces\[0\]: name must be 1 to 15/],
    ['a name given twice', { interfaces: [{ name: 'eth0', mac: '52:54:00:aa:00:01' }, { name: 'eth0', mac: '52:54:00:aa:00:02' }] }, /interfaces\[1\]: the name eth0 is given twice/],
    ['an address without prefix', { interfaces: [{ name: 'eth0', mac: '52:54:00:aa:00:01', address: '10.50.0.1' }] }, /address must be IPv4 with a prefix length/],
  ] as const) {
    it(`refuses ${what}`, () => {
      assert.throws(() => writeSeed(join(tmpdir(), 'never-written.img'), { ...good, ...change } as typeof good), message);
    });
  }
});
