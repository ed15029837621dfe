/**
 * GET /healthz, /readyz and /version (docs/operations.md): no credentials
 * needed even where the API requires them, nothing secret in any answer,
 * and /readyz failing, with the check that failed, when the database is
 * out of date or gone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases, type FreshDb } from '../support/databases.ts';
import { startTestHil, withHil } from '../support/hil.ts';
import { findPostgresBin, startPostgres } from '../support/postgres.ts';
import { VERSION } from '../../src/version.ts';

/** What no probe answer may show: the database's URL, host, port, user. */
function assertNothingOfTheDatabase(text: string, url: string): void {
  const u = url.startsWith('sqlite:') ? undefined : new URL(url);
  for (const secret of [url, ...(u ? [u.host, u.port, `${u.hostname}:`, u.username, u.pathname.slice(1)] : [url.slice('sqlite:'.length)])]) {
    if (secret) assert.equal(text.includes(secret), false, `${JSON.stringify(secret)} in ${text}`);
  }
}

for (const database of testDatabases()) {
  describe(`probes on ${database.name}`, { skip: database.skip }, () => {
    it('answer anonymous callers under database auth: alive, ready (database, schema, worker), the version', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const anonymous = t.as();
        assert.equal((await anonymous('GET', '/v0/nodes/free')).status, 401, 'the API itself still wants credentials');
        const health = await anonymous('GET', '/healthz');
        assert.deepEqual([health.status, health.body], [200, { status: 'ok' }]);
        const ready = await anonymous('GET', '/readyz');
        assert.deepEqual([ready.status, ready.body], [200, { status: 'ready', checks: { process: 'ok', database: 'ok', schema: 'ok', worker: 'ok', claims: 'ok' } }]);
        const version = await anonymous('GET', '/version');
        assert.deepEqual([version.status, version.body], [200, { version: VERSION, node: process.version }]);
        for (const r of [health, ready, version]) assertNothingOfTheDatabase(r.text, t.hil.settings.databaseUrl);
      }));

    it('/readyz has no worker check in a process without a worker', () =>
      withHil(database, { worker: false }, async (t) => {
        const ready = await t.as()('GET', '/readyz');
        assert.deepEqual([ready.status, Object.keys(ready.body.checks)], [200, ['process', 'database', 'schema', 'claims']]);
      }));

    it('/readyz is 503 naming the pending migration when the schema is older than the program; /healthz stays 200', () =>
      withHil(database, {}, async (t) => {
        // As after restoring an old backup: the program expects a migration the database lacks.
        await t.hil.store.db.deleteFrom('kysely_migration' as any).where('name', '=', '0004-obm-token').execute();
        const ready = await t.as()('GET', '/readyz');
        assert.equal(ready.status, 503, ready.text);
        assert.equal(ready.body.status, 'unavailable');
        assert.deepEqual({ ...ready.body.checks, schema: undefined }, { process: 'ok', database: 'ok', schema: undefined, worker: 'ok', claims: 'ok' });
        assert.match(ready.body.checks.schema, /^pending migrations: 0004-obm-token \(run "hil-admin db migrate"\)$/);
        assert.equal((await t.as()('GET', '/healthz')).status, 200, 'alive, only not ready');
        assert.ok(t.logs.some((l) => l.msg === 'not ready' && l.level === 40), 'the change is logged');
      }));

    it('/readyz is 503 once the claims heartbeat has not got through for a TTL', () =>
      withHil(database, { config: (c) => (c.claims = { ttl_seconds: 0.5, heartbeat_ms: 100 }) }, async (t) => {
        assert.equal((await t.as()('GET', '/readyz')).body.checks.claims, 'ok');
        await t.hil.claims.stop(); // no more heartbeats, as when the database cannot be written
        await new Promise((r) => setTimeout(r, 600));
        const ready = await t.as()('GET', '/readyz');
        assert.equal(ready.status, 503, ready.text);
        assert.match(ready.body.checks.claims, /^heartbeat not getting through/);
      }));
  });
}

describe('probes with the database gone', { skip: findPostgresBin() ? undefined : 'PostgreSQL is not installed' }, () => {
  it('/readyz is 503 "database failed" (naming no host or port) once the PostgreSQL server stops; /healthz and /metrics still answer', async () => {
    const cluster = await startPostgres();
    let stopped = false;
    const db: FreshDb = { url: cluster.url, drop: async () => {} };
    const t = await startTestHil(db, {});
    try {
      assert.equal((await t.as()('GET', '/readyz')).status, 200);
      cluster.stop();
      stopped = true;
      const ready = await t.as()('GET', '/readyz');
      assert.equal(ready.status, 503, ready.text);
      assert.match(ready.body.checks.database, /^failed( \([A-Z0-9_]+\))?$/);
      assert.equal(ready.body.checks.schema, 'not checked (no database)');
      assertNothingOfTheDatabase(ready.text, cluster.url);
      assert.equal((await t.as()('GET', '/healthz')).status, 200);
      const metrics = await t.as()('GET', '/metrics');
      assert.equal(metrics.status, 200, 'a scrape answers without the gauges it could not read');
      assert.equal(metrics.text.includes('hil_networking_actions{'), false);
      assert.ok(metrics.text.includes('hil_db_pool_connections{state="total"}'));
    } finally {
      await t.close();
      if (!stopped) cluster.stop();
    }
  });
});
