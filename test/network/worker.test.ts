/**
 * The networking worker against a real database and the mock switch (whose
 * state and call log live in the database): failures stay local to their
 * action, hung switches are cut off, and work is picked up at once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { mockSwitchDb, waitAction, withHil, type TestHil } from '../support/hil.ts';
import { cabledProject, MOCK_SWITCH, queueConnect, SWITCH_FIELDS } from '../support/fixtures.ts';
import { NetworkWorker } from '../../src/network/worker.ts';
import { Claims } from '../../src/claims/claims.ts';
import { switchCatalog, type SwitchCatalog } from '../../src/drivers/switch/index.ts';
import type { SwitchDriver } from '../../src/drivers/switch/interface.ts';
import { mockSwitchDriver } from '../../src/drivers/switch/mock.ts';

/** A catalog with just `driver`: the worker then talks to no other switch model. */
const only = (t: TestHil, driver: SwitchDriver) => switchCatalog({ db: t.hil.store.db }, [driver]);

/** A worker as a process runs one: under its own claims, started first and stopped (released) last. */
class TestWorker {
  readonly claims: Claims;
  readonly worker: NetworkWorker;
  constructor(t: TestHil, o: { actionTimeoutMs: number; switches: SwitchCatalog; batchLingerMs: number }) {
    this.claims = new Claims({ store: t.hil.store, log: t.hil.deps.log, role: 'worker', ttlMs: 5000, heartbeatMs: 1000 });
    this.worker = new NetworkWorker({ db: t.hil.store.db, log: t.hil.deps.log, maxAttempts: 1, retryBackoffMs: 10, switchConcurrency: 4, pollMs: 60_000, claims: this.claims, ...o });
  }
  async start() {
    await this.claims.start();
    await this.worker.start();
  }
  async stop() {
    await this.worker.stop();
    await this.claims.stop();
  }
  kick = () => this.worker.kick();
  idle = () => this.worker.idle();
}

function workerFor(t: TestHil, actionTimeoutMs = 2000, switches = t.hil.switches, batchLingerMs = 0): TestWorker {
  return new TestWorker(t, { actionTimeoutMs, switches, batchLingerMs });
}

async function injectFault(t: TestHil, port: string, mode: 'throw' | 'hang') {
  const sw = await t.hil.store.db.selectFrom('switch').select('id').where('label', '=', 'sw0').executeTakeFirstOrThrow();
  await mockSwitchDb(t).insertInto('mock_switch_fault').values({ switch_id: sw.id, port, mode }).execute();
}

async function statuses(t: TestHil) {
  return t.hil.store.db
    .selectFrom('networking_action')
    .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
    .innerJoin('node', 'node.id', 'nic.node_id')
    .select(['node.label as node', 'networking_action.status', 'networking_action.error'])
    .orderBy('networking_action.id')
    .execute();
}

for (const database of testDatabases()) {
  describe(`networking worker on ${database.name}`, { skip: database.skip }, () => {
    it('three queued actions where the second driver call throws end DONE, ERROR, DONE', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 3);
        await injectFault(t, 'gi1/0/2', 'throw');
        const ids = [await queueConnect(api, 'n1', 'eth0', 'net'), await queueConnect(api, 'n2', 'eth0', 'net'), await queueConnect(api, 'n3', 'eth0', 'net')];

        const worker = workerFor(t);
        await worker.start();
        await worker.idle();
        try {
          const rows = await statuses(t);
          assert.deepEqual(rows.map((r) => [r.node, r.status]), [['n1', 'DONE'], ['n2', 'ERROR'], ['n3', 'DONE']]);
          assert.match(rows[1].error ?? '', /injected failure on port gi1\/0\/2/);
          const onSwitch = await mockSwitchDb(t).selectFrom('mock_switch_port').select('port').orderBy('port').execute();
          assert.deepEqual(onSwitch.map((r) => r.port), ['gi1/0/1', 'gi1/0/3']);
          assert.deepEqual((await api('GET', '/v0/node/n2')).body.nics[0].networks, {});
          assert.equal((await api('GET', `/v0/networking_action/${ids[1]}`)).body.status, 'ERROR');

          // The worker survived the failure: new work still gets done.
          await mockSwitchDb(t).deleteFrom('mock_switch_fault').execute();
          const retry = await queueConnect(api, 'n2', 'eth0', 'net');
          worker.kick();
          assert.equal((await waitAction(api, retry)).status, 'DONE');
        } finally {
          await worker.stop();
        }
      }));

    it('a switch call that hangs is cut off by the timeout; the rest of the queue goes on', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 2);
        await injectFault(t, 'gi1/0/1', 'hang');
        const hung = await queueConnect(api, 'n1', 'eth0', 'net');
        const after = await queueConnect(api, 'n2', 'eth0', 'net');
        const worker = workerFor(t, 300);
        const started = Date.now();
        await worker.start();
        try {
          const failed = await waitAction(api, hung, 5000);
          const elapsed = Date.now() - started;
          assert.equal(failed.status, 'ERROR');
          assert.match(failed.error, /timed out after 300 ms/);
          assert.ok(elapsed < 2000, `timed out after ${elapsed} ms, expected about 300`);
          assert.equal((await waitAction(api, after)).status, 'DONE');
        } finally {
          await worker.stop();
        }
      }));

    it('an action queued on an idle in-process worker is DONE within milliseconds', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await cabledProject(api, 1);
        await t.hil.worker!.idle();
        const started = performance.now();
        const id = await queueConnect(api, 'n1', 'eth0', 'net');
        const done = await waitAction(api, id);
        const ms = performance.now() - started;
        assert.equal(done.status, 'DONE');
        // Upstream's daemon sleeps 2 s between polls; anything near that means we are polling too.
        assert.ok(ms < 500, `connect→DONE took ${ms.toFixed(1)} ms`);
      }));

    it('an action whose nic lost its port ends ERROR instead of spinning', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 1);
        const id = await queueConnect(api, 'n1', 'eth0', 'net');
        // Only possible behind the API's back (detach_nic refuses while an action is pending).
        await t.hil.store.db.updateTable('nic').set({ port_id: null }).execute();
        const worker = workerFor(t);
        await worker.start();
        try {
          const a = await waitAction(api, id);
          assert.equal(a.status, 'ERROR');
          assert.match(a.error, /not connected to a switch port/);
        } finally {
          await worker.stop();
        }
      }));

    it('two workers never drain one switch together: one claims it, applies the action once, and releases it', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 1);
        const first = workerFor(t);
        const second = workerFor(t);
        await first.start();
        await second.start();
        try {
          const id = await queueConnect(api, 'n1', 'eth0', 'net');
          first.kick();
          second.kick();
          assert.equal((await waitAction(api, id)).status, 'DONE');
          await first.idle();
          await second.idle();
          const calls = await mockSwitchDb(t).selectFrom('mock_switch_call').select(['holder', 'generation']).execute();
          assert.equal(calls.length, 1);
          assert.ok([first.claims.holder, second.claims.holder].includes(calls[0].holder!), 'the call names the worker that made it');
          const claim = await t.hil.store.db.selectFrom('claim').selectAll().where('resource', 'like', 'switch:%').executeTakeFirstOrThrow();
          assert.equal(claim.holder, null, 'released once the queue was empty');
          // The other worker, kicked too, may take the claim after the first released it, find nothing and release it again (a later generation).
          const made = Number(calls[0].generation);
          assert.ok(made >= 1 && made <= Number(claim.generation), `the call was made under a generation the claim had (${made}, now ${claim.generation})`);
        } finally {
          await first.stop();
          await second.stop();
        }
      }));

    it('applies a queue through one switch session, not one login per action', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 5);
        const mock = mockSwitchDriver(mockSwitchDb(t));
        let sessions = 0;
        const counting = only(t, { ...mock, openSession: (sw) => (sessions++, mock.openSession(sw)) });
        for (let i = 1; i <= 5; i++) await queueConnect(api, `n${i}`, 'eth0', 'net');
        const worker = workerFor(t, 2000, counting);
        await worker.start();
        await worker.idle();
        await worker.stop();
        assert.deepEqual((await statuses(t)).map((r) => r.status), Array(5).fill('DONE'));
        assert.equal(sessions, 1);
      }));

    it('works on switches in parallel: a hung switch does not hold up another', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 1); // n1 on sw0
        assert.equal((await api('PUT', '/v0/switch/sw1', { type: MOCK_SWITCH, ...SWITCH_FIELDS })).status, 200);
        await api('PUT', '/v0/switch/sw1/port/gi1/0/1');
        await api('PUT', '/v0/node/m1', { obm: { type: 'mock' } });
        await api('PUT', '/v0/node/m1/nic/eth0', { macaddr: 'aa' });
        await api('POST', '/v0/switch/sw1/port/gi1/0/1/connect_nic', { node: 'm1', nic: 'eth0' });
        await api('POST', '/v0/project/p/connect_node', { node: 'm1' });
        await injectFault(t, 'gi1/0/1', 'hang'); // sw0's port only
        const hung = await queueConnect(api, 'n1', 'eth0', 'net');
        const other = (await api('POST', '/v0/node/m1/nic/eth0/connect_network', { network: 'net' })).body.status_id;
        const worker = workerFor(t, 1500);
        await worker.start();
        try {
          const started = Date.now();
          assert.equal((await waitAction(api, other, 2000)).status, 'DONE');
          assert.ok(Date.now() - started < 1000, 'sw1 waited for sw0');
          assert.equal((await api('GET', `/v0/networking_action/${hung}`)).body.status, 'PENDING');
        } finally {
          await worker.stop();
        }
      }));

    it('lingers during a burst, not for an action that arrives alone', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 6);
        const mock = mockSwitchDriver(mockSwitchDb(t));
        const batches: number[] = [];
        const counting = only(t,
          {
            ...mock,
            openSession: async (sw) => {
              const s = await mock.openSession(sw);
              return {
                ...s,
                // One entry per switch call: 1 for a single change, n for a batch of n.
                modifyPort: async (port, channel, networkId) => {
                  batches.push(1);
                  await s.modifyPort(port, channel, networkId);
                },
                applyBatch: async (changes) => {
                  batches.push(changes.length);
                  for (const c of changes) c.op === 'revert' ? await s.revertPort(c.port) : await s.modifyPort(c.port, c.channel, c.networkId);
                },
              };
            },
          },
        );
        const worker = workerFor(t, 2000, counting, 400);
        await worker.start();
        try {
          const started = Date.now();
          const alone = await queueConnect(api, 'n1', 'eth0', 'net');
          worker.kick();
          assert.equal((await waitAction(api, alone, 2000)).status, 'DONE');
          assert.ok(Date.now() - started < 300, `a lone action waited ${Date.now() - started} ms (linger 400 ms)`);
          await worker.idle();
          // A burst: two arrive together, so the worker waits for more before its next round.
          batches.length = 0;
          const burst = [await queueConnect(api, 'n2', 'eth0', 'net'), await queueConnect(api, 'n3', 'eth0', 'net')];
          worker.kick();
          await new Promise((r) => setTimeout(r, 50)); // the first round is under way
          for (let i = 4; i <= 6; i++) {
            burst.push(await queueConnect(api, `n${i}`, 'eth0', 'net'));
            worker.kick(); // as the API does for every request
          }
          for (const id of burst) assert.equal((await waitAction(api, id, 3000)).status, 'DONE');
          assert.deepEqual(batches, [2, 3], 'the three late ones shared one switch call');
        } finally {
          await worker.stop();
        }
      }));

    it('hands a driver that can batch the whole queue in one call', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 6);
        const mock = mockSwitchDriver(mockSwitchDb(t));
        const batches: number[] = [];
        const batching = only(t,
          {
            ...mock,
            openSession: async (sw) => {
              const s = await mock.openSession(sw);
              return {
                ...s,
                applyBatch: async (changes) => {
                  batches.push(changes.length);
                  for (const c of changes) c.op === 'revert' ? await s.revertPort(c.port) : await s.modifyPort(c.port, c.channel, c.networkId);
                },
              };
            },
          },
        );
        for (let i = 1; i <= 6; i++) await queueConnect(api, `n${i}`, 'eth0', 'net');
        const worker = workerFor(t, 2000, batching);
        await worker.start();
        await worker.idle();
        await worker.stop();
        assert.deepEqual(batches, [6]);
        assert.deepEqual((await statuses(t)).map((r) => r.status), Array(6).fill('DONE'));
        assert.equal((await t.hil.store.db.selectFrom('network_attachment').select('id').execute()).length, 6);

        // A failing batch is retried one by one, so only the bad action fails.
        await injectFault(t, 'gi1/0/2', 'throw');
        assert.equal((await api('PUT', '/v0/network/net2', { owner: 'p', access: 'p', net_id: '' })).status, 200);
        const tagged = (await api('GET', '/v0/network/net2')).body.channels[1];
        for (let i = 1; i <= 3; i++) await queueConnect(api, `n${i}`, 'eth0', 'net2', tagged);
        const again = workerFor(t, 2000, batching);
        await again.start();
        await again.idle();
        await again.stop();
        const last = (await statuses(t)).filter((r) => ['n1', 'n2', 'n3'].includes(r.node));
        assert.deepEqual(last.map((r) => [r.node, r.status]), [['n1', 'DONE'], ['n2', 'ERROR'], ['n3', 'DONE']]);
      }));
  });
}
