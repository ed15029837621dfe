/**
 * The datacenter in a box, driven the way a tenant drives a real one: a HIL
 * server (child process, SQLite, database auth), a 2-node lab built and
 * registered by `bin/hil-lab up`, and then only the public API, as the admin
 * and as two tenants. What the nodes did is read from the boot server's
 * reports, from dnsmasq's log and from their consoles through HIL.
 *
 * - a node with a NIC on the provisioning network PXE-boots and reports in,
 *   from that NIC (its other NIC is on no network and fails first);
 * - a node on no network, and then on another project's network, gets no
 *   DHCP and never reports in: its firmware gives up ("No bootable device");
 * - moved onto the provisioning network and power-cycled, it does;
 * - `hil-lab down` leaves no process, namespace, interface or file behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HilClient } from '../../src/client/index.ts';
import { missingSummary } from '../../src/lab/doctor.ts';
import { hostLinks, readReports, readState } from '../../src/lab/lab.ts';
import { labLayout, type LabLayout } from '../../src/lab/layout.ts';
import { processesMentioning } from '../../src/lab/system.ts';
import { HIL_ADMIN, REPO, start, until, type Child } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';
import { freePort } from '../../src/lab/system.ts';

const HIL_LAB = `${REPO}bin/hil-lab`;
const skip = skipUnless(missingSummary());


describe('hil-lab: a 2-node datacenter driven through HIL', { skip }, () => {
  let tmp: string;
  let labDir: string;
  let server: Child;
  let endpoint: string;
  let layout: LabLayout;
  let admin: HilClient;
  let alice: HilClient;
  let bob: HilClient;
  const lab = (...args: string[]) =>
    spawnSync(HIL_LAB, [...args, '--dir', labDir], {
      env: { ...process.env, HIL_ENDPOINT: endpoint, HIL_USERNAME: 'admin', HIL_PASSWORD: 'admin-pw' },
      encoding: 'utf8',
      timeout: 120_000,
    });

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hil-lab-e2e-'));
    labDir = join(tmp, 'lab');
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    server = start(HIL_ADMIN, ['serve', '--migrate'], { HIL_DATA_DIR: tmp, HIL_LISTEN: `127.0.0.1:${port}`, HIL_ADMIN_PASSWORD: 'admin-pw', HIL_VLAN_POOL: '200-209' });
    await server.waitFor('hil API server listening', 30_000);
    admin = new HilClient({ endpoint, username: 'admin', password: 'admin-pw' });
    alice = new HilClient({ endpoint, username: 'alice', password: 'alice-pw' });
    bob = new HilClient({ endpoint, username: 'bob', password: 'bob-pw' });
  });

  after(async () => {
    if (labDir && existsSync(labDir)) lab('down');
    await server?.kill();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const macs = (node: number) => layout.nodes[node].nics.map((n) => n.mac);
  const reportsFrom = (mac: string) => readReports(layout).filter((r) => r.mac === mac);
  const dhcpLinesFor = (node: number) =>
    readFileSync(layout.dnsmasqLog, 'utf8')
      .split('\n')
      .filter((l) => macs(node).some((m) => l.includes(m)));
  const consoleOf = async (who: HilClient, node: string) => Buffer.from(await who.node.consoleLog(node)).toString('latin1');
  const count = (text: string, what: string) => text.split(what).length - 1;
  const done = async (who: HilClient, statusId: Promise<{ status_id: string }>) => {
    const action = await who.waitForAction((await statusId).status_id);
    assert.equal(action.status, 'DONE', JSON.stringify(action));
  };

  it('builds the lab and registers it into HIL (hil-lab up)', async () => {
    const r = lab('up', '--nodes', '2', '--nics', '2');
    assert.equal(r.status, 0, r.stderr);
    layout = labLayout(readState(labDir)!.spec);
    const [n1, n2] = layout.nodes.map((n) => n.name);
    assert.match(r.stdout, new RegExp(`${n1}\\s+off\\s+127\\.0\\.0\\.1:${layout.nodes[0].bmcPort}`));

    // What HIL now knows, as an admin sees it.
    assert.deepEqual((await admin.node.list('free')).sort(), [n1, n2]);
    const node1 = await admin.node.show(n1);
    assert.deepEqual(
      node1.nics.map((n) => [n.label, n.macaddr, n.port, n.switch]),
      layout.nodes[0].nics.map((n) => [n.name, n.mac, n.tap, layout.hilNames.switch]),
    );
    const net = await admin.network.show(layout.hilNames.provisioningNetwork);
    assert.ok(net.channels.includes(`vlan/${layout.spec.provisioningVlan}`), JSON.stringify(net));
    assert.equal(await admin.node.powerStatus(n1).then((s) => s.power_status), 'off');

    // Tenants: alice (project alpha) gets node 1, bob (project beta) node 2.
    for (const [user, project, node] of [['alice', 'alpha', n1], ['bob', 'beta', n2]] as const) {
      await admin.project.create(project);
      await admin.user.create(user, `${user}-pw`, false);
      await admin.user.addProject(user, project);
      await admin.project.connectNode(project, node);
    }
  });

  it('PXE-boots only the node HIL put on the provisioning network', { timeout: 240_000 }, async () => {
    const [n1, n2] = layout.nodes.map((n) => n.name);
    // Node 1 boots from its second NIC: the first, on no network, must fail first.
    await done(alice, alice.node.connectNetwork(n1, 'eth1', layout.hilNames.provisioningNetwork));
    for (const [who, node] of [[alice, n1], [bob, n2]] as const) {
      await who.node.setBootdev(node, 'pxe');
      await who.node.powerCycle(node); // off → on
      assert.equal((await who.node.powerStatus(node)).power_status, 'on');
    }

    const report = await until('node 1 to report in', async () => reportsFrom(macs(0)[1])[0], 180_000);
    assert.match(report.ip, /^10\.128\.0\.\d+$/);
    assert.equal(reportsFrom(macs(0)[0]).length, 0, 'node 1 has no network on eth0');
    await until('node 1 to say so on its console', async () => (await consoleOf(alice, n1)).includes(`hil-lab: reported in: mac=${macs(0)[1]} ip=${report.ip}`), 30_000);

    // Node 2 has no network at all: its firmware tries both NICs and gives up.
    await until('node 2 to give up', async () => count(await consoleOf(bob, n2), 'No bootable device') >= 1, 180_000);
    assert.deepEqual(dhcpLinesFor(1), [], 'dnsmasq never heard from node 2');
    assert.equal(macs(1).flatMap(reportsFrom).length, 0);
  });

  it('keeps a node on another project network off the provisioning network, until HIL moves it', { timeout: 360_000 }, async () => {
    const n2 = layout.nodes[1].name;
    await bob.network.create('beta-net', 'beta', 'beta', '');
    await done(bob, bob.node.connectNetwork(n2, 'eth0', 'beta-net'));
    await bob.node.powerCycle(n2);
    await until('node 2 to give up again', async () => count(await consoleOf(bob, n2), 'No bootable device') >= 2, 180_000);
    assert.deepEqual(dhcpLinesFor(1), [], 'dnsmasq never heard from node 2');
    assert.equal(macs(1).flatMap(reportsFrom).length, 0);

    // Onto the provisioning network, and a power cycle: now it boots.
    await done(bob, bob.node.detachNetwork(n2, 'eth0', 'beta-net'));
    await done(bob, bob.node.connectNetwork(n2, 'eth0', layout.hilNames.provisioningNetwork));
    await bob.node.powerCycle(n2);
    const report = await until('node 2 to report in', async () => reportsFrom(macs(1)[0])[0], 180_000);
    assert.match(report.ip, /^10\.128\.0\.\d+$/);
    assert.ok(dhcpLinesFor(1).some((l) => l.includes('DHCPACK')), 'dnsmasq leased node 2 an address');
  });

  it('tears down without leftovers (hil-lab down)', () => {
    const { id } = layout.spec;
    const r = lab('down');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /stopped (\d+) processes/);
    assert.ok(Number(/stopped (\d+)/.exec(r.stdout)![1]) >= 2 + 2 + 2 + 2, r.stdout); // 2 BMCs, 2 QEMUs, dnsmasq + boot server, OVS
    assert.deepEqual(processesMentioning(labDir), []);
    assert.deepEqual(
      (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter((n) => n.includes(id)),
      [],
    );
    assert.deepEqual(hostLinks(`hl${id}`), []);
    assert.equal(existsSync(labDir), false);
  });
});

describe('npm run demo', { skip }, () => {
  it('walks the tenant story on a 2-node lab and leaves nothing behind', { timeout: 300_000 }, () => {
    // The README's command (as root, which is what its sudo gives); test/docs lists it as run here.
    const r = spawnSync('npm', ['run', 'demo'], { cwd: REPO, encoding: 'utf8', timeout: 280_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const mac = /reported in after [\d.]+ s: mac ([0-9a-f:]{17}), address (10\.128\.0\.\d+)/.exec(r.stdout);
    assert.ok(mac, r.stdout);
    // The console tail came from HIL, and shows the guest saying the same.
    assert.match(r.stdout, new RegExp(`\\| hil-lab: reported in: mac=${mac[1]} ip=${mac[2].replace(/\./g, '\\.')}`));
    const scratch = /data in (\S+)/.exec(r.stdout)![1];
    assert.equal(existsSync(scratch), false);
    assert.deepEqual(processesMentioning(scratch), []);
  });
});
