/**
 * The headnode keeper against real parts, without a lab: a HIL (API and
 * worker in one process) whose host switch is a throwaway Open vSwitch, and
 * headnodes as real QEMU VMs from a freshly built base image. What a tenant
 * asks for through the API becomes a VM, a tap tagged with the network's
 * VLAN, a retag when the hnic moves, a VM started again when it died, a
 * reset on power_cycle, a failure the tenant can read; a stop ends the VM
 * and removes its port; nothing is left after a delete.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildHeadnodeImage } from '../../src/headnodes/image/build.ts';
import { missingPackages } from '../../src/headnodes/image/host-tools.ts';
import { processesMentioning } from '../../src/lab/system.ts';
import { testDatabases } from '../support/databases.ts';
import { startTestHil, type Caller, type TestHil } from '../support/hil.ts';
import { startOvs, skipReason as ovsSkip, type Ovs } from '../support/ovs.ts';
import { until } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';

const missing = missingPackages();
const skip = skipUnless(ovsSkip ?? (missing.length ? `missing ${missing.join(', ')}` : undefined));
const sqlite = testDatabases().find((d) => d.name === 'sqlite')!;

describe('headnode keeper: real VMs on a real switch', { skip }, () => {
  const tag = randomBytes(2).toString('hex');
  const bridge = `hkbr${tag}`;
  const switchNetns = `hil-hk-sw-${tag}`;
  let work: string;
  let ovs: Ovs;
  let t: TestHil;
  let api: Caller;
  let drop: () => Promise<void>;
  const vlanOf = (port: string) => ovs.vsctl('get', 'port', port, 'tag');
  const ports = () => ovs.vsctl('list-ports', bridge).split('\n').filter((p) => p.startsWith('hnt'));
  const show = async (hn: string) => (await api('GET', `/v0/headnode/${hn}`)).body;
  const qemuPids = (uuid: string) => processesMentioning(`headnode-${uuid}`).filter((p) => p.cmdline.includes('qemu-system')).map((p) => p.pid);
  const consoleText = async (hn: string) => (await api('GET', `/v0/headnode/${hn}/console_log`)).text;
  const ok = async (p: Promise<{ status: number; text: string }>, what: string) => {
    const r = await p;
    assert.equal(r.status, 200, `${what}: ${r.text}`);
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'hil-headnode-keeper-'));
    await buildHeadnodeImage({ outDir: join(work, 'images') });
    ovs = await startOvs();
    ovs.addBridge(bridge);
    execFileSync('ip', ['netns', 'attach', switchNetns, String(ovs.vswitchdPid())]);
    const db = await sqlite.create();
    drop = () => db.drop();
    t = await startTestHil(db, {
      config: (c) => {
        c.host_switch = { ovs_bridge: bridge, ovsdb: ovs.endpoint, ovs_netns: switchNetns };
        c.headnode = { base_imgs: ['base-headnode', 'never-built'], image_dir: join(work, 'images'), run_dir: join(work, 'run'), memory_mib: 160, stop_timeout_seconds: 3 };
      },
    });
    api = t.as();
    await ok(api('PUT', '/v0/project/runway'), 'project');
    for (const net of ['net-a', 'net-b']) await ok(api('PUT', `/v0/network/${net}`, { owner: 'runway', access: 'runway', net_id: '' }), net);
  });

  after(async () => {
    await t?.close();
    await drop?.();
    for (const p of processesMentioning(work ?? '/nonexistent')) spawnSync('kill', ['-9', String(p.pid)]);
    spawnSync('ip', ['netns', 'delete', switchNetns]);
    ovs?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('starts a VM whose tap carries its network VLAN, and retags it when the hnic moves', { timeout: 120_000 }, async () => {
    await ok(api('PUT', '/v0/headnode/hn', { project: 'runway', base_img: 'base-headnode' }), 'create');
    await ok(api('PUT', '/v0/headnode/hn/hnic/eth0', { address: '10.60.0.1/24' }), 'hnic');
    await ok(api('POST', '/v0/headnode/hn/hnic/eth0/connect_network', { network: 'net-a' }), 'connect');
    await ok(api('POST', '/v0/headnode/hn/start'), 'start');
    await until('the VM to run', async () => (await show('hn')).state === 'running', 60_000);
    const vlans = Object.fromEntries(
      await Promise.all(['net-a', 'net-b'].map(async (n) => [n, (await api('GET', `/v0/network/${n}`)).body.channels.find((c: string) => c !== 'vlan/native').slice(5)])),
    ) as Record<string, string>;
    assert.deepEqual(ports().length, 1);
    assert.equal(vlanOf(ports()[0]!), vlans['net-a']);
    assert.match(execFileSync('ip', ['-n', switchNetns, '-br', 'link', 'show', ports()[0]!], { encoding: 'utf8' }), /\bUP\b|UNKNOWN/, 'the tap is up');
    await until('the guest to be ready', async () => (await consoleText('hn')).includes('hil-headnode: ready hn'), 90_000);
    await ok(api('POST', '/v0/headnode/hn/hnic/eth0/connect_network', { network: 'net-b' }), 'move while running');
    await until('the tap to be retagged', async () => vlanOf(ports()[0]!) === vlans['net-b'], 15_000);
    await ok(api('POST', '/v0/headnode/hn/hnic/eth0/detach_network'), 'detach');
    await until('the tap to leave the bridge', async () => ports().length === 0, 15_000);
    await ok(api('POST', '/v0/headnode/hn/hnic/eth0/connect_network', { network: 'net-a' }), 'back');
    await until('the tap to come back', async () => ports().length === 1, 15_000);
  });

  it('types into the serial console over the WebSocket, and reads the answer there and in the log', { timeout: 60_000 }, async () => {
    const base = (await t.hil.app!.listen({ port: 0, host: '127.0.0.1' })).replace('http', 'ws');
    const ws = new WebSocket(`${base}/v0/headnode/hn/console/ws`);
    ws.binaryType = 'arraybuffer';
    let received = '';
    ws.addEventListener('message', (e) => (received += Buffer.from(e.data as ArrayBuffer).toString('latin1')));
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve);
      ws.addEventListener('error', reject);
    });
    ws.send('echo typed-$((6 * 7))\n');
    await until('the shell to answer on the socket', async () => received.includes('typed-42'), 20_000);
    await until('the answer in the console log', async () => (await consoleText('hn')).includes('typed-42'), 5_000);
    ws.close();
  });

  it('starts a VM that died again, and resets it on power_cycle (the same process, a second boot)', { timeout: 180_000 }, async () => {
    const { uuid } = await show('hn');
    const [first] = qemuPids(uuid);
    assert.ok(first);
    process.kill(first, 'SIGKILL');
    await until('a new VM', async () => qemuPids(uuid).length === 1 && qemuPids(uuid)[0] !== first, 30_000);
    await until('it to be ready again', async () => (await consoleText('hn')).split('hil-headnode: ready hn').length - 1 >= 2, 90_000);
    const second = qemuPids(uuid)[0]!; // read once it runs: while QEMU daemonizes, its parent shows for a moment
    await ok(api('POST', '/v0/headnode/hn/power_cycle'), 'power_cycle');
    await until('a third boot, in the same process', async () => (await consoleText('hn')).split('hil-headnode: ready hn').length - 1 >= 3, 90_000);
    assert.deepEqual(qemuPids(uuid), [second]);
  });

  it('stops: the guest powers off, its port goes; its disk stays for the next start', { timeout: 60_000 }, async () => {
    const { uuid } = await show('hn');
    await ok(api('POST', '/v0/headnode/hn/stop'), 'stop');
    await until('the VM to stop', async () => (await show('hn')).state === 'stopped' && qemuPids(uuid).length === 0, 30_000);
    assert.deepEqual(ports(), []);
    assert.equal((await api('GET', '/v0/headnode/hn/power_status')).body.power_status, 'Off');
    assert.ok(existsSync(join(work, 'run', uuid, 'disk.qcow2')));
    // Stopped, it may be changed: an hnic added after the first start.
    await ok(api('PUT', '/v0/headnode/hn/hnic/eth1'), 'hnic after the first start');
  });

  it('says why a start failed, without the server paths, and deleting leaves no VM, port or file', { timeout: 60_000 }, async () => {
    await ok(api('PUT', '/v0/headnode/broken', { project: 'runway', base_img: 'never-built' }), 'create');
    await ok(api('POST', '/v0/headnode/broken/start'), 'start');
    await until('the start to fail', async () => (await show('broken')).state === 'failed', 30_000);
    const error = (await show('broken')).error as string;
    assert.match(error, /image/i);
    assert.ok(!error.includes(work), `no server path in ${error}`);
    const { uuid } = await show('hn');
    await ok(api('POST', '/v0/headnode/hn/start'), 'start again');
    await until('the VM to run', async () => qemuPids(uuid).length === 1 && ports().length === 1, 60_000);
    await ok(api('DELETE', '/v0/headnode/hn'), 'delete');
    await until('nothing left', async () => qemuPids(uuid).length === 0 && ports().length === 0 && !existsSync(join(work, 'run', uuid)), 30_000);
  });
});
