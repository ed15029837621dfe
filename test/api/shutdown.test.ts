/**
 * A graceful stop (Hil.close, what SIGTERM and SIGINT call; the signals
 * themselves: test/e2e/signals.test.ts): over real sockets, a request in
 * flight finishes, a request arriving meanwhile is answered 503
 * ServiceUnavailableError, no new connection is taken, the probes say
 * "stopping", every stage is logged; and a request still running when the
 * grace is over is cut, with a line saying which.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases, type TestDatabase } from '../support/databases.ts';
import { startTestHil, type TestHil } from '../support/hil.ts';
import { gatedBmc, type GatedBmc } from '../support/gated-bmc.ts';
import { rawConnection } from '../support/raw-http.ts';
import { assertError, listen, mkNode } from '../support/fixtures.ts';
import { until } from '../support/processes.ts';
import { freePort } from '../../src/lab/system.ts';

const messages = (t: TestHil) => t.logs.map((l) => String(l.msg));

/** A HIL whose node n1 has a BMC that holds power cycles until the test opens it; its API and metrics listening. */
async function slowWorld(database: TestDatabase, graceSeconds: number, fn: (w: { t: TestHil; bmc: GatedBmc; api: string; ops: string; apiPort: number }) => Promise<void>): Promise<void> {
  const bmc = gatedBmc();
  const db = await database.create();
  const opsPort = await freePort();
  const t = await startTestHil(db, {
    bmcDrivers: [bmc.driver],
    config: (c) => {
      c.server.shutdown_grace_seconds = graceSeconds;
      c.metrics.listen = `127.0.0.1:${opsPort}`;
    },
  });
  let closed = false;
  try {
    await mkNode(t.as(), 'n1', { obm: { type: 'gated' } });
    assert.equal((await t.as()('PUT', '/v0/node/n1/obm', { enabled: true })).status, 200);
    const api = await listen(t);
    await t.hil.operationsApp!.listen({ host: '127.0.0.1', port: opsPort });
    const wrapped = t.close;
    t.close = () => ((closed = true), wrapped());
    await fn({ t, bmc, api, ops: `http://127.0.0.1:${opsPort}`, apiPort: Number(new URL(api).port) });
  } finally {
    bmc.open();
    if (!closed) await t.close();
    await db.drop();
  }
}

for (const database of testDatabases()) {
  describe(`graceful shutdown on ${database.name}`, { skip: database.skip }, () => {
    it('lets a request in flight finish, answers late arrivals 503 in the error shape, refuses new connections, and logs each stage', () =>
      slowWorld(database, 10, async ({ t, bmc, api, ops, apiPort }) => {
        const early = await rawConnection(apiPort); // connected before the stop, its request sent after
        const inFlight = fetch(`${api}/v0/node/n1/power_cycle`, { method: 'POST', body: '{}' });
        await bmc.reached();
        const closing = t.close();
        await until('the API server to stop listening', async () => messages(t).some((m) => m.startsWith('stopping: the API server accepts no new connections')));

        const late = await early.send('GET /v0/nodes/free HTTP/1.1\r\nHost: hil\r\n\r\n');
        assert.equal(late.kind, 'answer', JSON.stringify(late));
        if (late.kind !== 'answer') return;
        assert.equal(late.status, 503);
        assert.equal(late.headers.connection, 'close');
        assertError({ status: late.status, body: JSON.parse(late.body), text: late.body, headers: late.headers }, 503, 'ServiceUnavailableError', /shutting down/);
        await assert.rejects(fetch(`${api}/v0/nodes/free`), 'no new connection is accepted');

        // The metrics listener answers until the end, and says the process is stopping.
        const health = await fetch(`${ops}/healthz`);
        assert.deepEqual([health.status, await health.json()], [503, { status: 'stopping' }]);
        const ready = await fetch(`${ops}/readyz`);
        assert.equal(ready.status, 503);
        assert.equal(((await ready.json()) as { checks: Record<string, string> }).checks.process, 'stopping');

        await until('a line naming the request it waits for', async () => messages(t).includes('stopping: the API server waiting for 1 request: POST /v0/node/n1/power_cycle'), 5000);
        bmc.open();
        const answer = await inFlight;
        assert.equal(answer.status, 200, await answer.text());
        assert.equal(answer.headers.get('connection'), 'close');
        await closing;
        const stages = [
          'stopping: consoles, fast provisioning and the pool policy',
          'stopping: the API server accepts no new connections and finishes the requests it has',
          'stopping: waiting for the networking worker to finish the switches it is working on',
          'stopping: the metrics listener',
          'stopping: closing the database',
        ];
        const seen = messages(t).filter((m) => stages.includes(m));
        assert.deepEqual(seen, stages, 'every stage, in order');
        assert.equal(t.logs.some((l) => (l.level as number) >= 40 && String(l.msg).startsWith('stopping')), false, 'nothing was cut');
      }));

    it('cuts a request still running when the grace is over, saying which', () =>
      slowWorld(database, 0.5, async ({ t, bmc, api }) => {
        const inFlight = fetch(`${api}/v0/node/n1/power_cycle`, { method: 'POST', body: '{}' }).then(
          (r) => `answered ${r.status}`,
          (err: Error) => `cut: ${err.message}`,
        );
        await bmc.reached();
        const started = Date.now();
        await t.close();
        const took = Date.now() - started;
        assert.ok(took >= 450 && took < 5000, `closed after ${took} ms, for a grace of 500 ms`);
        assert.match(await inFlight, /^cut: /);
        const cut = t.logs.find((l) => String(l.msg).includes('grace of 500 ms is over'));
        assert.ok(cut, messages(t).join('\n'));
        assert.equal(cut.level, 40);
        assert.match(String(cut.msg), /cutting 1 request\(s\): POST \/v0\/node\/n1\/power_cycle$/);
      }));
  });
}
