/**
 * Recursive HIL, three layers deep, as three server processes:
 *
 *   base (Open vSwitch + four namespace nodes) ← d1 (project "reseller" at the base)
 *                                               ← d2 (project "reseller2" at d1)
 *
 * Customers use only the derived HILs' public API (the typed client): alice
 * at d1, bob at d2. What the switch does is checked with real traffic between
 * the namespace nodes, on the base's real switch. Also: pool import, grow,
 * shrink and on-demand growth moving nodes between layers, released nodes
 * going back by policy, derived networks' base networks deleted with them,
 * nothing outside a customer's project visible at any layer, and the base
 * stopped mid-operation: the derived action ends ERROR with the reason,
 * nothing half-recorded, and a retry after the restart succeeds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HilApiError, HilClient } from '../../src/client/index.ts';
import { testDatabases, type FreshDb, type TestDatabase } from '../support/databases.ts';
import { NetnsLab, netnsSkipReason, type NsNode } from '../support/netns.ts';
import { startOvs, skipReason as ovsSkipReason, type Ovs } from '../support/ovs.ts';
import { HIL_ADMIN, REPO, start, until, type Child } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';
import { freePort } from '../../src/lab/system.ts';

const skip = skipUnless(netnsSkipReason() ?? ovsSkipReason);


interface Layer {
  name: string;
  db: FreshDb;
  dir: string;
  port: number;
  endpoint: string;
  env: Record<string, string>;
  server?: Child;
  admin: HilClient;
}

async function layer(database: TestDatabase, root: string, name: string, upstream?: { endpoint: string; user: string; password: string; project: string; config: string }): Promise<Layer> {
  const dir = join(root, name);
  mkdirSync(dir);
  const port = await freePort();
  const db = await database.create();
  const env: Record<string, string> = { HIL_DATABASE_URL: db.url, HIL_DATA_DIR: dir, HIL_LISTEN: `127.0.0.1:${port}`, HIL_ADMIN_PASSWORD: `${name}-admin-pw`, HIL_LOG_LEVEL: 'warn' };
  if (upstream) {
    writeFileSync(join(dir, 'hil.toml'), upstream.config);
    Object.assign(env, {
      HIL_CONFIG: join(dir, 'hil.toml'),
      HIL_UPSTREAM_ENDPOINT: upstream.endpoint,
      HIL_UPSTREAM_USERNAME: upstream.user,
      HIL_UPSTREAM_PASSWORD: upstream.password,
      HIL_UPSTREAM_PROJECT: upstream.project,
    });
  } else {
    env.HIL_VLAN_POOL = '600-609';
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return { name, db, dir, port, endpoint, env, admin: new HilClient({ endpoint, username: 'admin', password: `${name}-admin-pw` }) };
}

async function serve(l: Layer): Promise<void> {
  l.server = start(HIL_ADMIN, ['serve', '--migrate'], { ...l.env, HIL_LOG_LEVEL: 'info' });
  await l.server.waitFor('hil API server listening', 30_000);
}

function pool(l: Layer, ...args: string[]): string {
  const r = spawnSync(HIL_ADMIN, ['pool', ...args], { env: { ...process.env, ...l.env }, encoding: 'utf8' });
  assert.equal(r.status, 0, `${l.name}: hil-admin pool ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

const derivedConfig = (o: { onDemand: boolean; maxFree?: number }) => `
[upstream]
on_demand = ${o.onDemand}
${o.maxFree === undefined ? '' : `max_free = ${o.maxFree}`}
timeout_seconds = 5
[worker]
action_timeout_seconds = 10
max_attempts = 1
`;

async function rejects(p: Promise<unknown>, status: number, what: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof HilApiError, `${what}: ${String(err)}`);
    assert.equal(err.status, status, `${what}: ${err.status} ${err.type} ${err.message}`);
    return true;
  });
}

for (const database of testDatabases()) {
  describe(`recursive HIL on ${database.name}: base, derived and derived-of-derived`, { skip: database.skip || skip }, () => {
    let root: string;
    let ovs: Ovs;
    let lab: NetnsLab;
    let n: NsNode[];
    let base: Layer;
    let d1: Layer;
    let d2: Layer;
    let alice: HilClient;
    let bob: HilClient;
    const bridge = 'recbr0';

    const done = async (who: HilClient, req: Promise<{ status_id: string }>) => {
      const action = await who.waitForAction((await req).status_id, { timeoutMs: 30_000 });
      assert.equal(action.status, 'DONE', JSON.stringify(action));
    };

    before(async () => {
      root = mkdtempSync(join(tmpdir(), 'hil-recursive-'));
      ovs = await startOvs();
      ovs.addBridge(bridge);
      lab = new NetnsLab();
      n = [1, 2, 3, 4].map((i) => lab.addNode(`rn${i}`, `10.88.0.${i}`));
      for (const node of n) ovs.vsctl('add-port', bridge, node.hostIf);

      // The base: a datacenter with an OVS switch and four nodes; a reseller project and its user.
      base = await layer(database, root, 'base');
      await serve(base);
      await base.admin.switch.register('ovs0', 'ovs', { ovs_bridge: bridge, ovsdb: ovs.endpoint });
      for (const node of n) {
        await base.admin.node.register(node.name, { obm: { type: 'mock' } });
        await base.admin.node.addNic(node.name, 'eth0', node.mac);
        await base.admin.port.register('ovs0', node.hostIf);
        await base.admin.port.connectNic('ovs0', node.hostIf, node.name, 'eth0');
        const revert = await base.admin.port.revert('ovs0', node.hostIf);
        assert.equal((await base.admin.waitForAction(revert.status_id)).status, 'DONE');
      }
      await base.admin.project.create('reseller');
      await base.admin.user.create('reseller', 'reseller-pw', false);
      await base.admin.user.addProject('reseller', 'reseller');
      for (const node of [n[0], n[1]]) await base.admin.project.connectNode('reseller', node.name);

      // d1 rents from the base, offering the base's free nodes on demand.
      d1 = await layer(database, root, 'd1', { endpoint: base.endpoint, user: 'reseller', password: 'reseller-pw', project: 'reseller', config: derivedConfig({ onDemand: true }) });
      await serve(d1);
      await d1.admin.project.create('alpha');
      await d1.admin.user.create('alice', 'alice-pw', false);
      await d1.admin.user.addProject('alice', 'alpha');
      await d1.admin.project.create('reseller2');
      await d1.admin.user.create('reseller2', 'reseller2-pw', false);
      await d1.admin.user.addProject('reseller2', 'reseller2');
      alice = new HilClient({ endpoint: d1.endpoint, username: 'alice', password: 'alice-pw' });

      // d2 rents from d1, and keeps at most one free node: it gives back what its customers release beyond that.
      d2 = await layer(database, root, 'd2', { endpoint: d1.endpoint, user: 'reseller2', password: 'reseller2-pw', project: 'reseller2', config: derivedConfig({ onDemand: false, maxFree: 1 }) });
      await serve(d2);
      await d2.admin.project.create('beta');
      await d2.admin.user.create('bob', 'bob-pw', false);
      await d2.admin.user.addProject('bob', 'beta');
      bob = new HilClient({ endpoint: d2.endpoint, username: 'bob', password: 'bob-pw' });
    });

    after(async () => {
      for (const l of [d2, d1, base]) {
        await l?.server?.kill();
        await l?.db.drop();
      }
      lab?.cleanup();
      ovs?.stop();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('imports the base project nodes as the derived free pool', async () => {
      assert.match(pool(d1, 'import'), new RegExp(`imported: ${n[0].name} ${n[1].name}`));
      assert.match(pool(d1, 'import'), /imported: \(nothing new\)/, 'import is re-runnable');
      const shown = await d1.admin.node.show(n[0].name);
      assert.deepEqual(
        shown.nics.map((x) => [x.label, x.macaddr, x.switch, x.port]),
        [['eth0', n[0].mac, 'upstream', `${n[0].name}/eth0`]],
      );
      // d1 offers its own free nodes and, on demand, the base's.
      assert.deepEqual(await alice.node.list('free'), n.map((x) => x.name));
    });

    it('lets two customers, one layer apart, allocate nodes and networks that are isolated from each other', async () => {
      // alice (d1): n1, and n3 taken from the base on demand; one network.
      await alice.project.connectNode('alpha', n[0].name);
      await alice.project.connectNode('alpha', n[2].name);
      assert.deepEqual((await base.admin.project.nodes('reseller')).sort(), [n[0].name, n[1].name, n[2].name]);
      await alice.network.create('anet', 'alpha', 'alpha', '');
      for (const node of [n[0], n[2]]) await done(alice, alice.node.connectNetwork(node.name, 'eth0', 'anet'));

      // d2 gets n2 from d1 (its reseller allocates it at d1), and one more by pool grow,
      // which d1 itself takes from the base on demand (n4): growth through two layers.
      const reseller2 = new HilClient({ endpoint: d1.endpoint, username: 'reseller2', password: 'reseller2-pw' });
      await reseller2.project.connectNode('reseller2', n[1].name);
      assert.match(pool(d2, 'import'), new RegExp(`imported: ${n[1].name}`));
      assert.match(pool(d2, 'grow', '1'), new RegExp(`taken from the base: ${n[3].name}`));
      assert.deepEqual((await base.admin.project.nodes('reseller')).sort(), n.map((x) => x.name));
      for (const node of [n[1], n[3]]) await bob.project.connectNode('beta', node.name);
      await bob.network.create('bnet', 'beta', 'beta', '');
      for (const node of [n[1], n[3]]) await done(bob, bob.node.connectNetwork(node.name, 'eth0', 'bnet'));

      // On the base's real switch: within a customer's network traffic flows; across customers it does not.
      assert.equal(lab.ping(n[0], n[2]), true, "alice's two nodes");
      assert.equal(lab.ping(n[1], n[3]), true, "bob's two nodes");
      for (const [a, b] of [[n[0], n[1]], [n[0], n[3]], [n[2], n[1]], [n[2], n[3]]]) assert.equal(lab.ping(a, b), false, `${a.name} → ${b.name}`);
    });

    it("carries a customer's network tagged, through the layers, onto the base's VLAN", async () => {
      const before = new Set(Object.keys(await base.admin.network.list()));
      await alice.network.create('atrunk', 'alpha', 'alpha', '');
      const baseName = Object.keys(await base.admin.network.list()).find((x) => !before.has(x))!;
      const baseVlan = Number((await base.admin.network.show(baseName)).channels.find((c) => c !== 'vlan/native')!.split('/')[1]);
      const [native, tagged] = (await alice.network.show('atrunk')).channels;
      assert.equal(native, 'vlan/native');
      await done(alice, alice.node.connectNetwork(n[0].name, 'eth0', 'atrunk', tagged));
      assert.deepEqual((await alice.node.show(n[0].name)).nics[0].networks, { 'vlan/native': 'anet', [tagged]: 'atrunk' });
      assert.equal(ovs.vsctl('get', 'port', n[0].hostIf, 'trunks'), `[${baseVlan}]`, "the base's port trunks the base network's VLAN");
      assert.equal(lab.ping(n[0], n[2]), true, 'the native network still flows');
      await done(alice, alice.node.detachNetwork(n[0].name, 'eth0', 'atrunk'));
      assert.equal(ovs.vsctl('get', 'port', n[0].hostIf, 'trunks'), '[]');
      await alice.network.delete('atrunk');

      // Two layers up: bob's tagged channel at d2 is d1's, which is the base's.
      const before2 = new Set(Object.keys(await base.admin.network.list()));
      await bob.network.create('btrunk', 'beta', 'beta', '');
      const baseName2 = Object.keys(await base.admin.network.list()).find((x) => !before2.has(x))!;
      const baseVlan2 = (await base.admin.network.show(baseName2)).channels.find((c) => c !== 'vlan/native')!.split('/')[1];
      await done(bob, bob.node.connectNetwork(n[1].name, 'eth0', 'btrunk', (await bob.network.show('btrunk')).channels[1]));
      assert.equal(ovs.vsctl('get', 'port', n[1].hostIf, 'trunks'), `[${baseVlan2}]`);
      await done(bob, bob.node.detachNetwork(n[1].name, 'eth0', 'btrunk'));
      await bob.network.delete('btrunk');
    });

    it("shows a customer nothing outside its own project, at any layer", async () => {
      // alice at d1: bob's node is reseller2's there; base and d2 do not know her.
      await rejects(alice.node.show(n[1].name), 401, "alice: a node of another project");
      await rejects(alice.network.show('bnet'), 404, "alice: bob's network is not a d1 network");
      await rejects(alice.switch.list(), 401, 'alice: switches');
      await rejects(alice.port.show('upstream', `${n[0].name}/eth0`), 401, 'alice: ports');
      await rejects(alice.project.nodes('reseller2'), 401, "alice: another project's nodes");
      for (const l of [base, d2]) await rejects(new HilClient({ endpoint: l.endpoint, username: 'alice', password: 'alice-pw' }).node.list('all'), 401, `alice at ${l.name}`);
      // bob at d2: alice's nodes are not there; d1 and base do not know him.
      await rejects(bob.node.show(n[0].name), 404, "bob: alice's node");
      await rejects(bob.network.show('anet'), 404, "bob: alice's network");
      await rejects(bob.switch.list(), 401, 'bob: switches');
      for (const l of [base, d1]) await rejects(new HilClient({ endpoint: l.endpoint, username: 'bob', password: 'bob-pw' }).node.list('free'), 401, `bob at ${l.name}`);
      // Same CLI: bob's bin/hil against d2 sees his node as he would at any HIL.
      const cli = spawnSync(`${REPO}bin/hil`, ['node', 'show', n[1].name], {
        env: { ...process.env, HIL_ENDPOINT: d2.endpoint, HIL_USERNAME: 'bob', HIL_PASSWORD: 'bob-pw' },
        encoding: 'utf8',
      });
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(cli.stdout, new RegExp(`node: ${n[1].name}\\nproject: beta`));
      assert.match(cli.stdout, /bnet \(vlan\/native\)/);
      // The base's switch and ports never show above it, even to a derived admin.
      const seen = JSON.stringify([await bob.node.show(n[1].name), await d2.admin.node.show(n[1].name), await d1.admin.node.show(n[1].name), await d1.admin.switch.list()]);
      assert.doesNotMatch(seen, new RegExp(`ovs0|${n[1].hostIf}`));
    });

    it("drives the base node's BMC through every layer", async () => {
      // bob's node at d2 is d1's node, which is the base's: its BMC is the base's mock BMC.
      const node = n[1].name;
      await bob.node.enableObm(node);
      await bob.node.powerOn(node);
      assert.equal((await bob.node.powerStatus(node)).power_status, 'on');
      assert.equal((await base.admin.node.powerStatus(node)).power_status, 'on', 'the base node is on');
      await bob.node.powerOff(node);
      assert.equal((await base.admin.node.powerStatus(node)).power_status, 'off');
      await bob.node.setBootdev(node, 'pxe');
      // The mock BMC's console counts lines; they reach bob two layers up.
      const log = await until('console output at d2', async () => {
        const text = Buffer.from(await bob.node.consoleLog(node)).toString();
        return /^\d+\n\d+\n/m.test(text) ? text : undefined;
      }, 15_000);
      assert.match(log, /\d+\n/);
      // What bob types two layers up reaches the base node's serial line (the mock echoes it as "> …").
      const typed = `typed-at-d2-${Date.now()}`;
      const interactive = await bob.node.openConsole(node);
      try {
        let seen = '';
        const echoed = (async () => {
          for await (const chunk of interactive.output) {
            seen += Buffer.from(chunk).toString();
            if (seen.includes(`> ${typed}`)) return true;
          }
          return false;
        })();
        const typing = setInterval(() => interactive.write(Buffer.from(`${typed}\n`)), 300);
        const reached = await Promise.race([echoed, new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
        clearInterval(typing);
        assert.ok(reached, `input typed at d2 never reached the base node's console; saw: ${seen.slice(-300)}`);
      } finally {
        interactive.close();
      }
      await rejects(alice.node.powerStatus(node), 401, "alice: another project's BMC");
      await rejects(alice.node.openConsole(node), 401, "alice: another project's console");
      await bob.node.disableObm(node);
    });

    it('stops the base mid-operation: ERROR with the reason, nothing half-recorded, and a retry works', async () => {
      await done(alice, alice.node.detachNetwork(n[2].name, 'eth0', 'anet'));
      assert.equal(lab.ping(n[0], n[2]), false);
      const baseNetworks = Object.keys(await base.admin.network.list()).length;
      await base.server!.kill('SIGKILL');

      const failed = await alice.waitForAction((await alice.node.connectNetwork(n[2].name, 'eth0', 'anet')).status_id, { timeoutMs: 30_000 });
      assert.equal(failed.status, 'ERROR');
      assert.match(failed.error ?? '', /base HIL: .*cannot reach the HIL server/);
      assert.deepEqual((await alice.node.show(n[2].name)).nics[0].networks, {}, 'no attachment was recorded');
      await rejects(alice.network.create('anet2', 'alpha', 'alpha', ''), 502, 'a network while the base is down');
      await rejects(alice.network.show('anet2'), 404, 'the failed network was not recorded');
      assert.deepEqual(await alice.node.list('free'), [], "d1's free list without the base: its own free nodes (none)");

      await serve(base);
      assert.equal(Object.keys(await base.admin.network.list()).length, baseNetworks, 'the base did not get a network either');
      await done(alice, alice.node.connectNetwork(n[2].name, 'eth0', 'anet'));
      assert.deepEqual((await alice.node.show(n[2].name)).nics[0].networks, { 'vlan/native': 'anet' });
      assert.equal(lab.ping(n[0], n[2]), true, `after the retry: ${ovs.vsctl('--columns=name,tag,trunks,vlan_mode', 'list', 'port')}`);
      // d1's view of its upstream ports agrees with the base, port by port.
      const verify = spawnSync(HIL_ADMIN, ['network', 'verify'], { env: { ...process.env, ...d1.env }, encoding: 'utf8' });
      assert.equal(verify.status, 0, verify.stdout + verify.stderr);
      assert.match(verify.stdout, /4 ports on 1 switch\(es\) checked: 0 difference\(s\)/);
    });

    it('deletes base networks with derived ones, and returns released nodes down the layers', async () => {
      const before = new Set(Object.keys(await base.admin.network.list()));
      for (const node of [n[1], n[3]]) await done(bob, bob.node.detachNetwork(node.name, 'eth0', 'bnet'));
      await bob.network.delete('bnet');
      const after = new Set(Object.keys(await base.admin.network.list()));
      assert.equal(after.size, before.size - 1, 'the base network behind bnet is gone');
      assert.deepEqual((await d1.admin.project.networks('reseller2')), [], "and d1's network between them");

      // bob releases both nodes: d2 keeps one free node (max_free = 1) and gives the other back to d1.
      for (const node of [n[1], n[3]]) await bob.project.detachNode('beta', node.name);
      const returned = await until(
        'd2 to return a node to d1',
        async () => {
          const left = await d2.admin.node.list('all');
          const back = [n[1], n[3]].find((x) => !left.includes(x.name));
          return left.length === 1 && back && (await d1.admin.node.list('free')).includes(back.name) ? back : undefined;
        },
        15_000,
      );
      const [kept] = await d2.admin.node.list('free');
      assert.deepEqual(await d1.admin.project.nodes('reseller2'), [kept]);

      // d1's operator shrinks by one free node (back to the base's free pool), and grows again.
      assert.match(pool(d1, 'shrink', '1'), new RegExp(`returned to the base: ${returned.name}`));
      assert.ok((await base.admin.node.list('free')).includes(returned.name));
      assert.ok(!(await d1.admin.node.list('all')).includes(returned.name));
      assert.match(pool(d1, 'grow', '1'), new RegExp(`taken from the base: ${returned.name}`));
      assert.deepEqual(await base.admin.project.nodes('reseller'), n.map((x) => x.name));
    });

    it("never logs a layer's credentials at its base", () => {
      for (const l of [base, d1, d2]) {
        const out = l.server!.output();
        assert.ok(out.length > 0);
        for (const secret of ['reseller-pw', 'reseller2-pw', 'alice-pw', 'bob-pw']) assert.ok(!out.includes(secret), `${l.name}'s log holds ${secret}`);
      }
    });
  });
}
