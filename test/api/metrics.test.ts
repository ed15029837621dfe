/**
 * GET /metrics (docs/operations.md): Prometheus text that a strict reader
 * takes, every family the document promises, and figures that move when
 * requests, BMC calls and networking actions happen; labels are route
 * patterns, never URLs. Also the separate listener (metrics.listen).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { testDatabases } from '../support/databases.ts';
import { addUser, basicAuth, withHil, type TestHil } from '../support/hil.ts';
import { parseExposition, type Exposition } from '../support/prometheus.ts';
import { cabledProject, attach, assertError, mkNode, queueConnect } from '../support/fixtures.ts';
import { gatedBmc } from '../support/gated-bmc.ts';
import { mockBmcDriver } from '../../src/drivers/bmc/mock.ts';
import type { ManagedBmcDriver } from '../../src/drivers/bmc/interface.ts';
import { countTakeover, observeActionFinished, setClaimsHeld } from '../../src/metrics/process.ts';
import { freePort } from '../../src/lab/system.ts';
import type { Config } from '../../src/config/config.ts';

/** Every family docs/operations.md lists, with its type; pool connections only on PostgreSQL. */
const PROMISED: Record<string, string> = {
  hil_http_requests_total: 'counter',
  hil_http_request_duration_seconds: 'histogram',
  hil_networking_actions: 'gauge',
  hil_networking_action_queue_seconds: 'histogram',
  hil_driver_call_duration_seconds: 'histogram',
  hil_driver_call_errors_total: 'counter',
  hil_bmc_timeouts_total: 'counter',
  hil_claims_held: 'gauge',
  hil_claims_taken_over_total: 'counter',
  hil_db_pool_connections: 'gauge',
  // Two of Node's default metrics, to show they are there with the prefix.
  hil_process_cpu_seconds_total: 'counter',
  hil_nodejs_eventloop_lag_seconds: 'gauge',
};

async function scrape(t: TestHil): Promise<Exposition> {
  const r = await t.as()('GET', '/metrics');
  assert.equal(r.status, 200, r.text);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parseExposition(r.text);
}

/** A counter or histogram count that may not exist yet (0 then). */
const count = (e: Exposition, name: string, labels: Record<string, string>) => e.value(name, labels) ?? 0;

/** The mock BMC, but every power call fails as a BMC that refuses would. */
function refusingBmc(): ManagedBmcDriver {
  const mock = mockBmcDriver();
  const refuse = async () => {
    throw new Error('BMC says no');
  };
  return { ...mock, type: 'refusing', power: { setPower: refuse, powerCycle: refuse, powerStatus: refuse } };
}

for (const database of testDatabases()) {
  describe(`metrics on ${database.name}`, { skip: database.skip }, () => {
    it('is Prometheus text with every family docs/operations.md lists (pool connections on PostgreSQL only)', () =>
      withHil(database, {}, async (t) => {
        await t.as()('GET', '/v0/nodes/free');
        const e = await scrape(t);
        const doc = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
        for (const [family, type] of Object.entries(PROMISED)) {
          if (family === 'hil_db_pool_connections' && database.name === 'sqlite') {
            assert.equal(e.types.has(family), false, 'SQLite has no pool');
            continue;
          }
          assert.equal(e.types.get(family), type, `${family} is a ${type}`);
          if (!family.startsWith('hil_process_') && !family.startsWith('hil_nodejs_')) assert.ok(doc.includes(`\`${family}\``), `${family} is documented`);
        }
        assert.ok([...e.types.keys()].every((f) => f.startsWith('hil_')), 'every family has the hil_ prefix');
      }));

    it('counts requests by route pattern, never the URL: /v0/node/:node, and "unmatched" for what no route has', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkNode(api, 'n1');
        const before = await scrape(t);
        const node = { method: 'GET', route: '/v0/node/:node', status: '200' };
        for (let i = 0; i < 3; i++) assert.equal((await api('GET', '/v0/node/n1')).status, 200);
        assert.equal((await api('GET', '/v0/no-such-route-x7')).status, 404);
        const after = await scrape(t);
        assert.equal(count(after, 'hil_http_requests_total', node) - count(before, 'hil_http_requests_total', node), 3);
        const durations = { method: 'GET', route: '/v0/node/:node' };
        assert.equal(count(after, 'hil_http_request_duration_seconds_count', durations) - count(before, 'hil_http_request_duration_seconds_count', durations), 3);
        assert.ok(count(after, 'hil_http_request_duration_seconds_sum', durations) > count(before, 'hil_http_request_duration_seconds_sum', durations));
        assert.equal(count(after, 'hil_http_requests_total', { route: 'unmatched', status: '404' }), 1);
        const routes = new Set(after.samples.filter((s) => s.name === 'hil_http_requests_total').map((s) => s.labels.route));
        assert.equal([...routes].some((r) => r!.includes('n1') || r!.includes('x7')), false, [...routes].join(', '));
      }));

    it('times BMC calls per type and operation, and counts their failures and timeouts', () => {
      const slow = gatedBmc('metrics-gated');
      const bmcDrivers = [mockBmcDriver(), refusingBmc(), slow.driver];
      return withHil(database, { bmcDrivers, config: (c) => void (c.obm.timeout_seconds = 0.3) }, async (t) => {
        const api = t.as();
        for (const [node, type] of [['n1', 'mock'], ['n2', 'refusing'], ['n3', 'metrics-gated']]) {
          await mkNode(api, node!, { obm: { type } });
          assert.equal((await api('PUT', `/v0/node/${node}/obm`, { enabled: true })).status, 200);
        }
        const before = await scrape(t);
        const call = (driver: string, op: string) => ({ kind: 'bmc', driver, op });
        assert.equal((await api('POST', '/v0/node/n1/power_cycle', {})).status, 200);
        assert.equal((await api('GET', '/v0/node/n1/power_status')).status, 200);
        assertError(await api('POST', '/v0/node/n2/power_cycle', {}), 500, 'OBMError', /BMC says no/);
        assertError(await api('POST', '/v0/node/n3/power_cycle', {}), 500, 'OBMError', /timed out/);
        const after = await scrape(t);
        const moved = (name: string, labels: Record<string, string>) => count(after, name, labels) - count(before, name, labels);
        assert.equal(moved('hil_driver_call_duration_seconds_count', call('mock', 'power_cycle')), 1);
        assert.equal(moved('hil_driver_call_duration_seconds_count', call('mock', 'power_status')), 1);
        assert.equal(moved('hil_driver_call_errors_total', call('mock', 'power_cycle')), 0);
        assert.equal(moved('hil_driver_call_errors_total', call('refusing', 'power_cycle')), 1);
        assert.equal(moved('hil_bmc_timeouts_total', { driver: 'metrics-gated' }), 1);
        assert.equal(moved('hil_bmc_timeouts_total', { driver: 'refusing' }), 0);
        // The abandoned call is timed when the BMC finally answers.
        slow.open();
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(count(await scrape(t), 'hil_driver_call_duration_seconds_count', call('metrics-gated', 'power_cycle')) - count(before, 'hil_driver_call_duration_seconds_count', call('metrics-gated', 'power_cycle')), 1);
      });
    });

    it('reads the networking journal by status at each scrape', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await cabledProject(api, 2);
        const zero = await scrape(t);
        for (const status of ['PENDING', 'DONE', 'ERROR']) assert.equal(zero.value('hil_networking_actions', { status }), 0, status);
        await attach(api, 'n1', 'eth0', 'net');
        assert.equal((await scrape(t)).value('hil_networking_actions', { status: 'DONE' }), 1);
        // A row another process wrote counts the same: the gauge is the table's, not this process's memory.
        await t.hil.worker!.stop();
        await queueConnect(api, 'n2', 'eth0', 'net');
        const e = await scrape(t);
        assert.deepEqual(['PENDING', 'DONE', 'ERROR'].map((status) => e.value('hil_networking_actions', { status })), [1, 1, 0]);
        await t.hil.store.db.updateTable('networking_action').set({ status: 'ERROR', error: 'test', finished_at: Date.now() }).where('status', '=', 'PENDING').execute();
        assert.equal((await scrape(t)).value('hil_networking_actions', { status: 'ERROR' }), 1);
      }));

    it('shows what the helpers other layers call record: queue times, claims held and taken over', () =>
      withHil(database, {}, async (t) => {
        const before = await scrape(t);
        observeActionFinished(0.2);
        observeActionFinished(40);
        setClaimsHeld('metrics-test', 3);
        countTakeover('metrics-test');
        const after = await scrape(t);
        const queued = (e: Exposition, le?: string) => count(e, le ? 'hil_networking_action_queue_seconds_bucket' : 'hil_networking_action_queue_seconds_count', le ? { le } : {});
        assert.equal(queued(after) - queued(before), 2);
        assert.equal(queued(after, '0.25') - queued(before, '0.25'), 1, 'a fifth of a second is in the 0.25 s bucket, forty seconds not');
        assert.equal(after.value('hil_claims_held', { kind: 'metrics-test' }), 3);
        assert.equal(count(after, 'hil_claims_taken_over_total', { kind: 'metrics-test' }) - count(before, 'hil_claims_taken_over_total', { kind: 'metrics-test' }), 1);
      }));

    it('keeps each HIL of one process to its own request counts', () =>
      withHil(database, {}, async (a) =>
        withHil(database, {}, async (b) => {
          const projects = { method: 'GET', route: '/v0/projects', status: '200' };
          const [a0, b0] = [count(await scrape(a), 'hil_http_requests_total', projects), count(await scrape(b), 'hil_http_requests_total', projects)];
          await a.as()('GET', '/v0/projects');
          assert.equal(count(await scrape(a), 'hil_http_requests_total', projects) - a0, 1);
          assert.equal(count(await scrape(b), 'hil_http_requests_total', projects) - b0, 0);
        }),
      ));

    it('metrics.listen: /metrics and the probes on their own port, which serves nothing else; the API port has no /metrics', async () => {
      const port = await freePort();
      await withHil(database, { config: (c) => void (c.metrics.listen = `127.0.0.1:${port}`) }, async (t) => {
        const ops = t.hil.operationsApp;
        assert.ok(ops, 'the listener is built');
        await ops.listen({ host: '127.0.0.1', port });
        const base = `http://127.0.0.1:${port}`;
        const metrics = await fetch(`${base}/metrics`);
        assert.equal(metrics.status, 200);
        assert.ok(parseExposition(await metrics.text()).types.has('hil_http_requests_total'));
        assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { status: 'ok' });
        assert.equal((await fetch(`${base}/readyz`)).status, 200);
        assert.equal((await fetch(`${base}/version`)).status, 200);
        const api = await fetch(`${base}/v0/projects`);
        assert.deepEqual([api.status, ((await api.json()) as { type: string }).type], [404, 'NotFoundError']);
        assertError(await t.as()('GET', '/metrics'), 404, 'NotFoundError');
        assert.equal((await t.as()('GET', '/healthz')).status, 200, 'the API port keeps its probes');
      });
    });
    it('metrics.require_auth holds on the metrics listener too: 401 without an administrator, 200 with one', async () => {
      const port = await freePort();
      const config = (c: Config) => {
        c.metrics.listen = `127.0.0.1:${port}`;
        c.metrics.require_auth = true;
      };
      await withHil(database, { auth: 'database', config }, async (t) => {
        const root = await addUser(t, 'root', 'root-pw', true);
        const user = await addUser(t, 'user', 'user-pw', false);
        await t.hil.operationsApp!.listen({ host: '127.0.0.1', port });
        const get = (auth?: string) => fetch(`http://127.0.0.1:${port}/metrics`, { headers: auth ? { authorization: auth } : {} });
        const anonymous = await get();
        assert.deepEqual([anonymous.status, ((await anonymous.json()) as { type: string }).type], [401, 'AuthorizationError']);
        assert.equal((await get(basicAuth(user.username, user.password))).status, 401);
        assert.equal((await get(basicAuth(root.username, 'wrong'))).status, 401);
        assert.equal((await get(basicAuth(root.username, root.password))).status, 200);
        assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'the probes stay open');
      });
    });
  });
}
