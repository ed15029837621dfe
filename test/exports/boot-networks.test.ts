/**
 * The storage host's side of boot networks, on real parts: an Open vSwitch
 * (the ovs driver), namespace "nodes" cabled to it, and the storage host's
 * trunk NIC (a veth in this namespace) on a port HIL puts every boot
 * network on, tagged. Two projects' nodes boot from disks: each gets its
 * fixed address by DHCP on its own boot network (and the iPXE script's URL
 * when it says it is iPXE), its script over HTTP, and its disk over iSCSI;
 * the other project's node reaches none of it, not even by addressing the
 * storage host's address on the other network through its own link (the
 * boot firewall); nothing is forwarded. Clearing the last boot disk of a
 * project takes its link, DHCP and network away.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../support/databases.ts';
import { startTestHil, waitAction, type Caller, type TestHil } from '../support/hil.ts';
import { NetnsLab, netnsSkipReason, type NsNode } from '../support/netns.ts';
import { startOvs, skipReason as ovsSkipReason, type Ovs } from '../support/ovs.ts';
import { ioIscsi } from '../support/qemu-io.ts';
import { skipUnless } from '../support/require.ts';
import { bootConfig, diskConfig, diskDirs, freePorts, iscsiExportSkipReason, uploadDisk, waitFor, type DiskDirs } from '../support/disks.ts';
import { firewallTable } from '../../src/exports/boot-firewall.ts';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip = skipUnless(
  netnsSkipReason() ??
    ovsSkipReason ??
    iscsiExportSkipReason() ??
    (has('dnsmasq') ? undefined : 'dnsmasq is not installed (apt-get install dnsmasq)') ??
    (has('nft') ? undefined : 'nft is not installed (apt-get install nftables)') ??
    (has('busybox') ? undefined : 'busybox is not installed (apt-get install busybox-static)'),
);
const OVS = 'http://schema.massopencloud.org/haas/v0/switches/ovs';
const BRIDGE = 'hilbr0';
const database = testDatabases()[0]!;

const sh = (args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const inNs = (node: NsNode, args: string[]) => spawnSync('ip', ['netns', 'exec', node.ns, ...args], { encoding: 'utf8', timeout: 30_000 });

async function ok(api: Caller, method: string, path: string, body?: unknown) {
  const r = await api(method, path, body);
  assert.ok(r.status === 200 || r.status === 202, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

/** The node's DHCP answer, as busybox udhcpc's script sees it; `ipxe`: it sends option 175 as iPXE does. */
function dhcp(node: NsNode, dir: string, o: { ipxe?: boolean } = {}): Record<string, string> {
  const script = join(dir, `dhcp-${node.name}.sh`);
  const out = join(dir, `dhcp-${node.name}.env`);
  writeFileSync(script, `#!/bin/sh\n[ "$1" = bound ] && env > ${out}\nexit 0\n`);
  chmodSync(script, 0o755);
  rmSync(out, { force: true });
  const r = inNs(node, ['busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '6', '-T', '1', '-s', script, ...(o.ipxe ? ['-x', '0xaf:01'] : [])]);
  let text = '';
  try {
    text = readFileSync(out, 'utf8');
  } catch {
    assert.fail(`no DHCP lease for ${node.name}: ${r.stdout} ${r.stderr}`);
  }
  return Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** GET from inside a node; answers the status and body (status 0: no connection). Asynchronous: the boot server runs in this process. */
async function get(node: NsNode, url: string): Promise<{ status: number; body: string }> {
  const r = await inNsAsync(node, ['curl', '-sS', '--connect-timeout', '2', '--max-time', '5', '-w', '\n%{http_code}', url]);
  const lines = r.stdout.split('\n');
  return { status: Number(lines.pop()) || 0, body: lines.join('\n') };
}

/** Whether a TCP connection from the node to address:port opens. */
const connects = async (node: NsNode, address: string, port: number) => (await inNsAsync(node, ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${address}/${port}`])).status === 0;

function inNsAsync(node: NsNode, args: string[]): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', node.ns, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (process.env.DEBUG_BOOT) console.log('inNs', args.join(' '), err?.message, String(stdout), String(stderr));
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, stdout: String(stdout) });
    });
  });
}

describe(`boot networks on the storage host (${database.name})`, { skip: database.skip ?? skip }, () => {
  let ovs: Ovs;
  let lab: NetnsLab;
  let dirs: DiskDirs;
  let files: string;
  let db: Awaited<ReturnType<typeof database.create>>;
  let t: TestHil;
  let api: Caller;
  let r1: NsNode, r2: NsNode, m1: NsNode;
  const tag = randomBytes(3).toString('hex');
  // The kernel here has no 802.1Q, so the storage host uses links "ovs": a bridge of its own (on the
  // test's vswitchd) whose uplink is a patch cable to the switch's port hbp<tag>, the storage NIC's port.
  const prefix = `hb${tag}`; // its links: hb<tag>v<vlan>
  const storageBridge = `hbs${tag}`;
  const trunkPort = `hbp${tag}`;
  const ovsNetns = `hil-ovs-${tag}`;
  let httpPort: number;
  let exportPorts: string;
  let other: Server;

  before(async () => {
    ovs = await startOvs();
    ovs.addBridge(BRIDGE);
    lab = new NetnsLab();
    [r1, r2, m1] = [lab.addNode('r1', '192.0.2.11'), lab.addNode('r2', '192.0.2.12'), lab.addNode('m1', '192.0.2.21')];
    for (const n of [r1, r2, m1]) {
      inNs(n, ['ip', 'addr', 'flush', 'dev', 'eth0']);
      ovs.vsctl('add-port', BRIDGE, n.hostIf);
    }
    ovs.addBridge(storageBridge);
    ovs.vsctl('add-port', BRIDGE, trunkPort, '--', 'set', 'interface', trunkPort, 'type=patch', `options:peer=hbu${tag}`);
    ovs.vsctl('add-port', storageBridge, `hbu${tag}`, '--', 'set', 'interface', `hbu${tag}`, 'type=patch', `options:peer=${trunkPort}`);
    sh(['ip', 'netns', 'attach', ovsNetns, String(ovs.vswitchdPid())]);
    const trunkMac = '52:54:00:5b:00:01';

    dirs = diskDirs();
    files = mkdtempSync(join(tmpdir(), 'hil-bootnet-'));
    exportPorts = await freePorts(20);
    httpPort = Number((await freePorts(1)).split("-")[0]);
    db = await database.create();
    t = await startTestHil(db, {
      config: (c) => {
        diskConfig(dirs, exportPorts, bootConfig({ subnets: '10.213.0.0/16', interface: prefix, httpPort, ovs: { bridge: storageBridge, ovsdb: ovs.endpoint, netns: ovsNetns } }))(c);
        c.worker.action_timeout_seconds = 15;
      },
    });
    api = t.as();
    await ok(api, 'PUT', '/v0/switch/sw0', { type: OVS, ovs_bridge: BRIDGE, ovsdb: ovs.endpoint });
    const cabled: Array<[string, string, string, string]> = [
      ['storage', 'trunk', trunkMac, trunkPort],
      ['r1', 'eth0', r1.mac, r1.hostIf],
      ['r2', 'eth0', r2.mac, r2.hostIf],
      ['m1', 'eth0', m1.mac, m1.hostIf],
    ];
    for (const [node, nic, mac, port] of cabled) {
      await ok(api, 'PUT', `/v0/switch/sw0/port/${port}`);
      await ok(api, 'PUT', `/v0/node/${node}`, { obm: { type: 'mock' } });
      await ok(api, 'PUT', `/v0/node/${node}/nic/${nic}`, { macaddr: mac });
      await ok(api, 'POST', `/v0/switch/sw0/port/${port}/connect_nic`, { node, nic });
    }
    await ok(api, 'POST', '/v0/verify_networks', { fix: true }); // fresh OVS ports carry every VLAN
    for (const [p, nodes] of [['runway', ['r1', 'r2']], ['manhattan', ['m1']]] as const) {
      await ok(api, 'PUT', `/v0/project/${p}`);
      for (const node of nodes) await ok(api, 'POST', `/v0/project/${p}/connect_node`, { node });
    }
    // gold: a disk and nothing else (sanboot); kgold: a disk with a kernel, an initrd and a command line.
    await ok(api, 'PUT', '/v0/image/gold', { project: 'admin', format: 'raw', public: true });
    assert.equal((await uploadDisk(t, 'gold', Buffer.alloc(1 << 20, 0x47))).status, 200);
    await ok(api, 'PUT', '/v0/image/kgold', { project: 'runway', format: 'raw', cmdline: 'console=ttyS0 quiet' });
    assert.equal((await uploadDisk(t, 'kgold', Buffer.alloc(1 << 20, 0x4b))).status, 200);
    for (const [part, text] of [['kernel', 'KERNEL-BYTES'], ['initrd', 'INITRD-BYTES']]) {
      const r = await api('PUT', `/v0/image/kgold/${part}`, undefined, { rawBody: text, headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(r.status, 200, r.text);
    }
    for (const [d, image, p] of [['rd1', 'gold', 'runway'], ['rd2', 'kgold', 'runway'], ['md1', 'gold', 'manhattan']]) await ok(api, 'PUT', `/v0/disk/${d}`, { image, project: p });
    for (const [node, disk] of [['r1', 'rd1'], ['r2', 'rd2'], ['m1', 'md1']]) {
      const view = await ok(api, 'POST', `/v0/node/${node}/boot_disk`, { disk });
      assert.equal((await waitAction(api, view.status_id, 20_000)).status, 'DONE');
    }
    // A service of the storage host's that is not a boot service, on every address.
    other = createServer((s) => s.end('secret\n')).listen(0, '0.0.0.0');
    await new Promise((r) => other.once('listening', r));
  });

  after(async () => {
    if (process.env.DEBUG_BOOT) {
      console.log(JSON.stringify(t?.logs.filter((l) => Number(l.level) >= 40), null, 1));
      console.log(spawnSync('sh', ['-c', `tail -n 30 ${dirs.run}/boot/net-*/dnsmasq.log; nft list ruleset; ovs-vsctl --db=${ovs.endpoint} show`], { encoding: 'utf8' }).stdout);
    }
    other?.close();
    await t?.close();
    await db?.drop();
    for (const l of links()) spawnSync('ip', ['link', 'del', l.ifname], { stdio: 'ignore' }); // their peers go with them
    spawnSync('nft', ['delete', 'table', 'inet', firewallTable(prefix)], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'delete', ovsNetns], { stdio: 'ignore' });
    lab?.cleanup();
    ovs?.stop();
    if (dirs) rmSync(dirs.root, { recursive: true, force: true });
    if (files) rmSync(files, { recursive: true, force: true });
  });

  const links = () => (JSON.parse(sh(['ip', '-j', 'addr', 'show'])) as Array<{ ifname: string; addr_info: Array<{ local: string }> }>).filter((l) => /^\d+$/.test(l.ifname.slice(prefix.length + 1)) && l.ifname.startsWith(`${prefix}v`));

  it("puts the storage NIC on both projects' boot networks, tagged, with the storage address of each", async () => {
    const vlanOf = async (net: string) => Number((await ok(api, 'GET', `/v0/network/${net}`)).channels[1].split('/')[1]);
    const [vr, vm] = [await vlanOf('hil-boot-runway'), await vlanOf('hil-boot-manhattan')];
    const addressed = () => links().filter((l) => l.addr_info.some((a) => a.local.startsWith('10.213.'))).length;
    await waitFor('both boot links up with their addresses', async () => (addressed() === 2 ? true : undefined));
    const byName = Object.fromEntries(links().map((l) => [l.ifname, l.addr_info.map((a) => a.local)]));
    assert.ok(byName[`${prefix}v${vr}`]?.includes('10.213.0.1'), JSON.stringify(byName));
    assert.ok(byName[`${prefix}v${vm}`]?.includes('10.213.1.1'), JSON.stringify(byName));
    const trunkNetworks = (await ok(api, 'GET', '/v0/node/storage')).nics[0].networks;
    assert.deepEqual(Object.values(trunkNetworks).sort(), ['hil-boot-manhattan', 'hil-boot-runway']);
    assert.ok(Object.keys(trunkNetworks).every((c) => c !== 'vlan/native'), 'tagged');
  });

  it('answers each node with its fixed address, and iPXE with the boot script', async () => {
    // Each network's DHCP starts once the storage NIC is on it: the first answer may take a heartbeat.
    const leased = (n: NsNode, o: { ipxe?: boolean } = {}) => waitFor(`${n.name} leased`, async () => (dhcpOrUndefined(n) ? dhcp(n, files, o) : undefined));
    const lease = await leased(r1);
    assert.equal(lease.ip, '10.213.0.2');
    assert.equal(lease.serverid, '10.213.0.1');
    assert.equal(lease.router, undefined, 'no router: the network reaches the storage host only');
    assert.equal(lease.boot_file, 'undionly.kpxe');
    const asIpxe = await leased(r1, { ipxe: true });
    assert.equal(asIpxe.boot_file, `http://10.213.0.1:${httpPort}/boot.ipxe`);
    assert.equal((await leased(r2)).ip, '10.213.0.3');
    assert.equal((await leased(m1)).ip, '10.213.1.2');
    for (const [n, ip] of [[r1, '10.213.0.2'], [r2, '10.213.0.3'], [m1, '10.213.1.2']] as const) inNs(n, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  });

  it("serves each node's script: sanboot for a bare disk, kernel and initrd with an iSCSI root for an image that has them", async () => {
    const base = `http://10.213.0.1:${httpPort}`;
    assert.match((await get(r1, `${base}/boot.ipxe`)).body, /chain http:\/\/10\.213\.0\.1:\d+\/boot\/\$\{netX\/mac\}\/script\.ipxe/);
    const e1 = (await ok(api, 'GET', '/v0/disk/rd1')).export;
    const s1 = (await get(r1, `${base}/boot/${r1.mac}/script.ipxe`));
    assert.equal(s1.status, 200);
    assert.ok(s1.body.includes(`sanboot iscsi:10.213.0.1::${e1.port}:1:${e1.name}`), s1.body);
    assert.ok(s1.body.includes(`set initiator-iqn ${e1.initiator}`), s1.body);
    // iPXE sends ${netX/mac} percent-encoded.
    assert.equal((await get(r1, `${base}/boot/${encodeURIComponent(r1.mac)}/script.ipxe`)).body, s1.body, 'the MAC as iPXE sends it');
    const s2 = (await get(r1, `${base}/boot/${r2.mac}/script.ipxe`)).body;
    const e2 = (await ok(api, 'GET', '/v0/disk/rd2')).export;
    assert.match(s2, new RegExp(`kernel ${base}/boot/${r2.mac}/vmlinuz initrd=initrd.img console=ttyS0 quiet hil.mac=${r2.mac} rd.iscsi.initiator=${e2.initiator.replace(/\./g, '\\.')} netroot=iscsi:hil-node-\\d+:\\S+@10\\.213\\.0\\.1:tcp:${e2.port}:1:${e2.name.replace(/\./g, '\\.')}`));
    assert.equal((await get(r2, `${base}/boot/${r2.mac}/vmlinuz`)).body, 'KERNEL-BYTES');
    assert.equal((await get(r2, `${base}/boot/${r2.mac}/initrd.img`)).body, 'INITRD-BYTES');
    assert.equal((await get(r1, `${base}/boot/${m1.mac}/script.ipxe`)).status, 404, "another project's node is not on this network");
  });

  it("tells a deploy's FPBL to jump once its node is deployed, and only its own network's nodes", async () => {
    const url = (mac: string) => `http://10.213.0.1:${httpPort}/boot/${mac}/deployed`;
    const db = t.hil.store.db;
    // Not held by the provisioning service: not deployed by it.
    assert.deepEqual(await get(r1, url(r1.mac)), { status: 409, body: 'not yet\n' });
    const node = await db.selectFrom('node').select('id').where('label', '=', 'r1').executeTakeFirstOrThrow();
    const disk = await db.selectFrom('disk').select('image_id').where('label', '=', 'rd1').executeTakeFirstOrThrow();
    const row = { node_id: node.id, state: 'deploying', phase: 'switching', path: 'power-cycle', image_id: disk.image_id, networks: '{}', since: Date.now() } as const;
    await db.insertInto('node_provisioning').values(row).execute();
    try {
      assert.equal((await get(r1, url(r1.mac))).status, 409, 'its NICs are still moving');
      await db.updateTable('node_provisioning').set({ state: 'deployed', phase: 'running' }).where('node_id', '=', node.id).execute();
      assert.deepEqual(await get(r1, url(r1.mac)), { status: 200, body: 'jump\n' });
      assert.equal((await get(r1, url(encodeURIComponent(r1.mac)))).status, 200, 'the MAC percent-encoded');
      assert.equal((await get(r1, url(m1.mac))).status, 404, "another project's node is not on this network");
    } finally {
      await db.deleteFrom('node_provisioning').where('node_id', '=', node.id).execute();
    }
  });

  it('each node reads its own disk over iSCSI from its boot network', async () => {
    for (const [node, disk, byte] of [[r1, 'rd1', '0x47'], [m1, 'md1', '0x47'], [r2, 'rd2', '0x4b']] as const) {
      // The export starts beside the NIC's move; a node boots from it once it serves.
      const e = await waitFor(`${disk} serving`, async () => {
        const x = (await ok(api, 'GET', `/v0/disk/${disk}`)).export;
        return x.state === 'serving' ? x : undefined;
      });
      const secret = (await t.hil.store.db.selectFrom('disk').select('export_psk').where('label', '=', disk).executeTakeFirstOrThrow()).export_psk!;
      const r = ioIscsi({ portal: `${e.host}:${e.port}`, iqn: e.name, initiator: e.initiator, chap: { user: e.identity, secret } }, [`read -P ${byte} 0 64k`], { netns: node.ns });
      assert.ok(r.ok, `${node.name}: ${r.output}`);
    }
  });

  it("another project's node reaches neither the other network's exports nor anything but boot services", async () => {
    const e1 = (await ok(api, 'GET', '/v0/disk/rd1')).export;
    const port = (other.address() as { port: number }).port;
    // m1 points runway's /24 at its own link: the storage host's weak host model would answer.
    inNs(m1, ['ip', 'route', 'add', '10.213.0.0/24', 'dev', 'eth0']);
    assert.equal(await connects(r1, '10.213.0.1', e1.port), true, "r1 connects to its own disk's export");
    // No connection, so no iSCSI login either (whatever credentials m1 had).
    assert.equal(await connects(m1, '10.213.0.1', e1.port), false, "m1 opened a connection to runway's export address");
    assert.equal((await get(m1, `http://10.213.0.1:${httpPort}/boot/${r1.mac}/script.ipxe`)).status, 0, "m1 reached runway's boot scripts");
    // On its own network, only the boot services: not the host's other listeners.
    assert.equal(await connects(m1, '10.213.1.1', port), false, "m1 reached a service that is not a boot service");
    assert.equal(await connects(r1, '10.213.0.1', port), false, "r1 reached a service that is not a boot service");
    assert.equal(await connects(r1, '10.213.0.1', httpPort), true, 'the boot HTTP port is open to its own nodes');
    // Across networks at layer 2: nothing (the switch keeps the VLANs apart).
    assert.equal(lab.ping(r1, { ...m1, ip: '10.213.1.2' }), false);
  });

  it("clearing the project's last boot disk takes its link, DHCP and boot network away; the other project's stay", async () => {
    await ok(api, 'DELETE', '/v0/node/m1/boot_disk');
    await waitFor('hil-boot-manhattan removed', async () => ((await api('GET', '/v0/network/hil-boot-manhattan')).status === 404 ? true : undefined), 30_000);
    await waitFor('its link removed', async () => (links().length === 1 ? true : undefined));
    assert.ok(links()[0]!.addr_info.some((a) => a.local === '10.213.0.1'));
    assert.equal(dhcpOrUndefined(m1), undefined, 'no DHCP answer for m1 any more');
    assert.equal(dhcp(r1, files).ip, '10.213.0.2');
  });
});

/** A lease, or undefined when nobody answers. */
function dhcpOrUndefined(node: NsNode): true | undefined {
  const r = spawnSync('ip', ['netns', 'exec', node.ns, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '2', '-T', '1', '-s', '/bin/true'], { encoding: 'utf8', timeout: 20_000 });
  return r.status === 0 ? true : undefined;
}
