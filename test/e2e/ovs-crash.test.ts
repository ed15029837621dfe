/**
 * Crash safety against a real switch: 500 connect/detach actions over 20
 * Open vSwitch ports while the worker process (`hil-admin serve-networks`)
 * is SIGKILLed at random moments and restarted. Every action must end DONE
 * or ERROR, and afterwards the switch must match the database exactly.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { withHil, type Caller } from '../support/hil.ts';
import { HIL_ADMIN, start, type Child } from '../support/processes.ts';
import { startOvs, skipReason as ovsSkipReason, type Ovs } from '../support/ovs.ts';
import { skipUnless } from '../support/require.ts';

const skip = skipUnless(process.getuid?.() === 0 ? ovsSkipReason : 'Open vSwitch needs root');
const PORTS = 20;
const ACTIONS = 500;
const KILLS = 5;

async function ok(api: Caller, method: string, path: string, body?: unknown) {
  const r = await api(method, path, body);
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

for (const database of testDatabases()) {
  describe(`OVS crash safety on ${database.name}`, { skip: database.skip || skip }, () => {
    let ovs: Ovs;
    const bridge = 'hilcr0';
    const port = (i: number) => `hcr${i}`;

    before(async () => {
      ovs = await startOvs();
      ovs.addBridge(bridge);
      for (let i = 0; i < PORTS; i++) ovs.vsctl('add-port', bridge, port(i), '--', 'set', 'interface', port(i), 'type=internal');
    });
    after(async () => ovs?.stop());

    it(`${ACTIONS} actions on ${PORTS} ports survive ${KILLS}+ SIGKILLs of the worker`, () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await ok(api, 'PUT', '/v0/project/p');
        await ok(api, 'PUT', '/v0/switch/ovs0', { type: 'ovs', ovs_bridge: bridge, ovsdb: ovs.endpoint });
        for (let i = 0; i < PORTS; i++) {
          await ok(api, 'PUT', `/v0/switch/ovs0/port/${port(i)}`);
          await ok(api, 'PUT', `/v0/node/n${i}`, { obm: { type: 'mock' } });
          await ok(api, 'PUT', `/v0/node/n${i}/nic/eth0`, { macaddr: `52:54:00:00:01:${i.toString(16).padStart(2, '0')}` });
          await ok(api, 'POST', `/v0/switch/ovs0/port/${port(i)}/connect_nic`, { node: `n${i}`, nic: 'eth0' });
          await ok(api, 'POST', '/v0/project/p/connect_node', { node: `n${i}` });
        }
        await ok(api, 'PUT', '/v0/network/x', { owner: 'p', access: 'p', net_id: '' });
        await ok(api, 'PUT', '/v0/network/y', { owner: 'p', access: 'p', net_id: '' });
        const yTagged = (await ok(api, 'GET', '/v0/network/y')).channels[1] as string;

        const env = { HIL_DATABASE_URL: t.hil.store.url, HIL_VLAN_POOL: '40-80', HIL_LOG_LEVEL: 'warn' };
        let worker: Child = start(HIL_ADMIN, ['serve-networks'], env);
        // Kills spread over the run (every ~60 actions queued), each at a random moment.
        let kills = 0;
        let stopKilling = false;
        let queued = 0;
        const killer = (async () => {
          for (let next = 60; !stopKilling && next < ACTIONS; next += 60) {
            while (!stopKilling && queued < next) await new Promise((r) => setTimeout(r, 10));
            await new Promise((r) => setTimeout(r, Math.random() * 300));
            if (stopKilling) break;
            await worker.kill('SIGKILL');
            kills++;
            worker = start(HIL_ADMIN, ['serve-networks'], env);
          }
        })();

        // Each nic walks: connect x (native) → connect y (tagged) → detach y → detach x → …
        const steps = [
          { path: 'connect_network', body: { network: 'x' } },
          { path: 'connect_network', body: { network: 'y', channel: yTagged } },
          { path: 'detach_network', body: { network: 'y' } },
          { path: 'detach_network', body: { network: 'x' } },
        ];
        const step = new Array(PORTS).fill(0);
        const current: Array<string | null> = new Array(PORTS).fill(null);
        const outcomes: Record<string, number> = {};
        const deadline = Date.now() + 240_000;
        try {
          while ((queued < ACTIONS || current.some((c) => c !== null)) && Date.now() < deadline) {
            for (let i = 0; i < PORTS; i++) {
              if (current[i] !== null) {
                const a = (await api('GET', `/v0/networking_action/${current[i]}`)).body;
                if (a.status === 'PENDING') continue;
                outcomes[a.status] = (outcomes[a.status] ?? 0) + 1;
                // An ERROR leaves the port as it was: the same step is retried later.
                if (a.status === 'DONE') step[i] = (step[i] + 1) % steps.length;
                current[i] = null;
              }
              if (queued < ACTIONS) {
                const s = steps[step[i]];
                current[i] = (await ok(api, 'POST', `/v0/node/n${i}/nic/eth0/${s.path}`, s.body)).status_id;
                queued++;
              }
            }
            await new Promise((r) => setTimeout(r, 20));
          }
        } finally {
          stopKilling = true;
          await killer;
          await worker.kill();
        }

        assert.ok(kills >= KILLS, `the worker was killed only ${kills} times`);
        assert.equal(queued, ACTIONS);
        assert.equal((outcomes.DONE ?? 0) + (outcomes.ERROR ?? 0), ACTIONS, `outcomes: ${JSON.stringify(outcomes)}`);
        const report = await ok(api, 'GET', '/v0/verify_networks');
        assert.equal(report.checked, PORTS);
        assert.deepEqual(report.pending, []);
        assert.deepEqual(report.differences, []);
      }));
  });
}
