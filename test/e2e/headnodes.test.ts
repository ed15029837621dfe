/**
 * The HIL seed's whole workflow, through the public API and CLI only, on a
 * 3-node lab: a tenant reserves two nodes, creates a provisioning network,
 * connects their boot NICs, creates a headnode from the base image with an
 * hnic on that network, starts it, reaches it over SSH through its VPN
 * (from a namespace standing for the tenant's laptop), starts its PXE
 * service, sets the nodes to boot from PXE and power-cycles them: both boot
 * from the tenant's headnode and report in to it. A node of another project
 * on another network never gets an answer from that headnode. The console is
 * read through the console API. Then the server is killed and started again:
 * the headnode and the VPN kept running and are found again; deleting them
 * (also right before a crash) leaves no VM, tap, namespace or daemon behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HilClient } from '../../src/client/index.ts';
import { missingSummary } from '../../src/lab/doctor.ts';
import { readState } from '../../src/lab/lab.ts';
import { labLayout, type LabLayout } from '../../src/lab/layout.ts';
import { findBinary, freePort, processesMentioning } from '../../src/lab/system.ts';
import { HIL_ADMIN, REPO, start, until, type Child } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';
import { startTenantLaptop, type TenantLaptop } from '../support/tenant-laptop.ts';

const HIL_LAB = `${REPO}bin/hil-lab`;
const HIL = `${REPO}bin/hil`;
const missing = ['wireguard-go', 'wg', 'dropbear', 'ssh'].filter((b) => !findBinary(b) && !existsSync(`/usr/sbin/${b}`));
const skip = skipUnless(missingSummary() ?? (missing.length ? `missing ${missing.join(', ')} (apt-get install wireguard-go wireguard-tools dropbear-bin openssh-client)` : undefined));

describe('headnodes: the seed workflow on a 3-node lab', { skip }, () => {
  const tag = randomBytes(2).toString('hex');
  let tmp: string;
  let labDir: string;
  let configFile: string;
  let server: Child | undefined;
  let endpoint: string;
  let port: number;
  let layout: LabLayout;
  let admin: HilClient;
  let alice: HilClient;
  let bob: HilClient;
  let laptop: TenantLaptop;
  let key: string;
  const env = (user: string) => ({ ...process.env, HIL_ENDPOINT: endpoint, HIL_USERNAME: user, HIL_PASSWORD: `${user}-pw` });
  const lab = (...args: string[]) => spawnSync(HIL_LAB, [...args, '--dir', labDir], { env: env('admin'), encoding: 'utf8', timeout: 180_000 });
  const hil = (user: string, ...args: string[]) => {
    const r = spawnSync(HIL, args, { env: env(user), encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `hil ${args.join(' ')}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const ssh = (cmd: string, timeoutMs = 30_000) =>
    laptop.run('ssh', ['-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-o', 'LogLevel=ERROR', 'root@10.50.0.1', cmd], timeoutMs);
  const startServer = async () => {
    server = start(HIL_ADMIN, ['--config', configFile, 'serve', '--migrate'], { HIL_DATA_DIR: tmp, HIL_LISTEN: `127.0.0.1:${port}`, HIL_ADMIN_PASSWORD: 'admin-pw', HIL_VLAN_POOL: '300-309' });
    await server.waitFor('hil API server listening', 60_000);
  };
  const vsctl = (...args: string[]) => execFileSync('ovs-vsctl', [`--db=unix:${layout.ovsdbSocket}`, ...args], { encoding: 'utf8' }).trim();
  const headnodePorts = () => vsctl('list-ports', layout.bridge).split('\n').filter((p) => p.startsWith('hnt'));
  const qemuOf = (uuid: string) => processesMentioning(`headnode-${uuid}`).filter((p) => p.cmdline.includes('qemu-system'));
  const netns = () => (existsSync('/run/netns') ? readdirSync('/run/netns') : []);
  const macOf = (node: number) => layout.nodes[node]!.nics[0]!.mac;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hil-headnodes-e2e-'));
    labDir = join(tmp, 'lab');
    port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    const up = lab('up', '--nodes', '3', '--nics', '1', '--no-register');
    assert.equal(up.status, 0, up.stderr);
    layout = labLayout(readState(labDir)!.spec);
    const third = 0x10 + (parseInt(tag, 16) % 200);
    laptop = await startTenantLaptop(tag, `10.203.${third}.1`, `10.203.${third}.2`);
    configFile = join(tmp, 'hil.toml');
    writeFileSync(
      configFile,
      [
        '[host_switch]',
        `ovs_bridge = "${layout.bridge}"`,
        `ovsdb = "unix:${layout.ovsdbSocket}"`,
        `ovs_netns = "${layout.switchNetns}"`,
        '[headnode]',
        `image_dir = "${join(tmp, 'headnode-images')}"`,
        'memory_mib = 192',
        '[vpn]',
        `endpoint = "${laptop.hostIp}"`,
        'ports = "51890-51899"',
      ].join('\n'),
    );
    const built = spawnSync(HIL_ADMIN, ['--config', configFile, 'headnode', 'build-image'], { env: { ...process.env, HIL_DATA_DIR: tmp }, encoding: 'utf8', timeout: 120_000 });
    assert.equal(built.status, 0, built.stderr);
    await startServer();
    const reg = lab('register');
    assert.equal(reg.status, 0, reg.stderr);
    admin = new HilClient({ endpoint, username: 'admin', password: 'admin-pw' });
    alice = new HilClient({ endpoint, username: 'alice', password: 'alice-pw' });
    bob = new HilClient({ endpoint, username: 'bob', password: 'bob-pw' });
    key = join(tmp, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  });

  after(async () => {
    laptop?.cleanup();
    if (labDir && existsSync(labDir)) lab('down');
    await server?.kill();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('a tenant reserves two nodes and puts their boot NICs on its own provisioning network', async () => {
    const [n1, n2, n3] = layout.nodes.map((n) => n.name);
    for (const [user, project, nodes] of [['alice', 'alpha', [n1, n2]], ['bob', 'beta', [n3]]] as const) {
      await admin.project.create(project);
      await admin.user.create(user, `${user}-pw`, false);
      await admin.user.addProject(user, project);
      for (const node of nodes) await (user === 'alice' ? alice : bob).project.connectNode(project, node!);
    }
    hil('alice', 'network', 'create', 'pxe-net', 'alpha');
    for (const node of [n1, n2]) hil('alice', 'node', 'network', 'connect', node!, 'eth0', 'pxe-net', '--wait');
    // Bob's node is on his own network, which the headnode is not on.
    hil('bob', 'network', 'create', 'beta-net', 'beta');
    hil('bob', 'node', 'network', 'connect', n3!, 'eth0', 'beta-net', '--wait');
  });

  it('creates a headnode with an hnic on that network, starts it, and reads its console through the console API', { timeout: 180_000 }, async () => {
    assert.match(hil('alice', 'headnode', 'list-images'), /^base-headnode$/m);
    hil('alice', 'headnode', 'create', 'hn1', 'alpha', 'base-headnode', '--ssh-key', `${key}.pub`);
    hil('alice', 'headnode', 'nic', 'create', 'hn1', 'eth0', '--address', '10.50.0.1/24');
    hil('alice', 'headnode', 'network', 'connect', 'hn1', 'eth0', 'pxe-net');
    hil('alice', 'headnode', 'start', 'hn1');
    const started = Date.now();
    await until('the headnode to run', async () => (await alice.headnode.show('hn1')).state === 'running', 60_000);
    await until('the headnode to say it is ready on its console', async () => Buffer.from(await alice.headnode.consoleLog('hn1')).toString('latin1').includes('hil-headnode: ready hn1'), 120_000);
    console.log(`# headnode: start → ready on its console in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal((await alice.headnode.powerStatus('hn1')).power_status, 'On');
    assert.deepEqual(headnodePorts().length, 1, 'one tap on the host switch');
    await assert.rejects(bob.headnode.consoleLog('hn1'), /access/, "another project cannot read the headnode's console");
  });

  it('reaches the headnode over SSH through the VPN from the tenant laptop, and starts its PXE service', { timeout: 120_000 }, async () => {
    assert.notEqual(ssh('true', 8000).status, 0, 'no way in before the VPN');
    laptop.configure(hil('alice', 'network', 'vpn', 'create', 'laptop', 'pxe-net', '--address', '10.50.0.254/24'));
    assert.match(hil('alice', 'network', 'vpn', 'list', 'pxe-net'), /^laptop$/m);
    const hostname = await until('SSH through the VPN', async () => {
      const r = ssh('hostname', 15_000);
      return r.status === 0 && r.stdout.trim();
    }, 60_000);
    assert.equal(hostname, 'hn1');
    const pxe = ssh('hil-pxe start eth0');
    assert.equal(pxe.status, 0, pxe.stderr);
    assert.equal(ssh('hil-pxe status').status, 0);
  });

  it('both nodes PXE-boot from the headnode and report in; the other project node never gets an answer', { timeout: 420_000 }, async () => {
    const [n1, n2, n3] = layout.nodes.map((n) => n.name);
    for (const [who, node] of [[alice, n1], [alice, n2], [bob, n3]] as const) {
      await who.node.setBootdev(node!, 'pxe');
      await who.node.powerCycle(node!);
    }
    const reports = await until('both nodes to report in to the headnode', async () => {
      const r = ssh('hil-pxe reports');
      return r.status === 0 && [macOf(0), macOf(1)].every((m) => r.stdout.includes(m)) && r.stdout;
    }, 360_000);
    assert.match(reports, /10\.50\.0\.\d+/);
    await until("node 3's firmware to give up", async () => Buffer.from(await bob.node.consoleLog(n3!)).toString('latin1').includes('No bootable device'), 240_000);
    const dnsmasqLog = ssh('cat /var/log/dnsmasq.log').stdout;
    assert.ok(dnsmasqLog.includes(macOf(0)), 'the headnode leased node 1 an address');
    assert.ok(!dnsmasqLog.includes(macOf(2)) && !reports.includes(macOf(2)), 'the headnode never heard from the other project node');
  });

  it('keeps the headnode and the VPN running through a server crash, and finds them again', { timeout: 120_000 }, async () => {
    const uuid = (await alice.headnode.show('hn1')).uuid;
    const before = qemuOf(uuid).map((p) => p.pid);
    assert.equal(before.length, 1);
    await server!.kill('SIGKILL');
    assert.equal(ssh('hostname').stdout.trim(), 'hn1', 'the tenant still reaches its headnode while HIL is down');
    await startServer();
    await until('the headnode to be found running', async () => (await alice.headnode.show('hn1')).state === 'running', 30_000);
    assert.deepEqual(qemuOf(uuid).map((p) => p.pid), before, 'the same VM, not a new one');
    await new Promise((r) => setTimeout(r, 3000)); // a few keeper rounds: nothing is restarted or torn down
    assert.deepEqual(qemuOf(uuid).map((p) => p.pid), before);
    assert.equal(ssh('hostname').stdout.trim(), 'hn1');
  });

  it('deleting the VPN and the headnode leaves nothing behind, also when the server dies right after', { timeout: 180_000 }, async () => {
    const uuid = (await alice.headnode.show('hn1')).uuid;
    const vlan = (await alice.network.show('pxe-net')).channels.find((c) => c !== 'vlan/native')!.slice('vlan/'.length);
    assert.ok(netns().includes(`hilvpn-${vlan}`), 'the endpoint runs in its namespace');
    hil('alice', 'network', 'vpn', 'delete', 'laptop');
    // Only this network's: other tests may run VPN endpoints of their own meanwhile.
    await until('the VPN endpoint to go', async () => !netns().includes(`hilvpn-${vlan}`) && processesMentioning(`hilwg${vlan}`).length === 0, 30_000);
    assert.notEqual(ssh('true', 8000).status, 0, 'the revoked VPN reaches nothing');
    hil('alice', 'headnode', 'delete', 'hn1');
    await server!.kill('SIGKILL'); // perhaps before the keeper acted: the next start's sweep must finish the job
    await startServer();
    await until('the VM, its tap and its files to go', async () => qemuOf(uuid).length === 0 && headnodePorts().length === 0 && !existsSync(join(tmp, 'headnodes', uuid)), 60_000);
    assert.deepEqual(JSON.parse(hil('alice', 'headnode', 'list', 'alpha', '--json')), []);
  });
});
