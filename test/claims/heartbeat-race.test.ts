/**
 * A claim taken while a heartbeat's renewal is in flight is the taker's:
 * the renewal did not see it (it was not ours when the statement began),
 * which must not make the heartbeat call it lost. The chaos test found an
 * API server that did: it dropped a console it had just taken, while the
 * claim row stayed its own, renewed by every later heartbeat (they renewed
 * every row naming the holder), so nobody held that console again. Only
 * PostgreSQL can run a take while a renewal waits (SQLite has one writer),
 * so that is where the renewal is held up, on a row lock. And a claim its
 * holder stopped trusting because its renewal came late (a busy machine) is
 * renewed by the next take if nobody took it meanwhile, rather than dropped
 * while its row still named the holder.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { sql } from 'kysely';
import pino from 'pino';
import { testDatabases } from '../support/databases.ts';
import { Claims } from '../../src/claims/claims.ts';
import { openStore } from '../../src/store/db.ts';
import { migrate, CORE_MIGRATIONS } from '../../src/store/migrate.ts';

const log = pino({ level: 'silent' });

for (const database of testDatabases()) {
  describe(`claims heartbeat on ${database.name}`, { skip: database.skip }, () => {
    it('a claim its holder stopped trusting (a late renewal) is its own again on the next take, unless another took it', async () => {
      const fresh = await database.create();
      const store = openStore(fresh.url);
      const [a, b] = [0, 1].map(() => new Claims({ store, log, role: 'test', ttlMs: 2000, heartbeatMs: 60_000 }));
      try {
        await migrate(store, [CORE_MIGRATIONS]);
        const console7 = await a.take('console:7');
        const switch1 = await a.take('switch:1');
        await sleep(1600); // no heartbeat: trusted no longer (ttl minus the margin), not yet expired for others
        assert.equal(console7!.valid, false);
        assert.equal(await a.take('console:7'), console7, 'the same claim, renewed');
        assert.ok(console7!.valid && !console7!.signal.aborted);
        await sleep(500); // switch:1 has expired in the database; nobody took it
        assert.equal(await a.take('switch:1'), switch1, 'nobody took it: still ours');
        await sleep(2100);
        assert.equal((await b.take('switch:1'))?.generation, 2, 'expired, taken by another');
        assert.equal(await a.take('switch:1'), null);
        assert.equal(switch1!.signal.aborted, true, 'the old holder lets it go');
      } finally {
        await store.close();
        await fresh.drop();
      }
    });

    // PostgreSQL only: on SQLite (one writer) a take cannot run while a renewal waits, so there is no such race to test.
    if (database.name === 'postgres') it('a claim taken while a renewal is in flight stays held, and a row the holder does not know of expires', async () => {
      const fresh = await database.create();
      const store = openStore(fresh.url);
      const blocker = new pg.Client({ connectionString: fresh.url });
      const claims = new Claims({ store, log, role: 'test', ttlMs: 2000, heartbeatMs: 60_000 });
      try {
        await migrate(store, [CORE_MIGRATIONS]);
        await blocker.connect();
        const held = await claims.take('switch:1');
        assert.ok(held);
        // The renewal waits on switch:1's row lock, after its statement began.
        await blocker.query('begin');
        await blocker.query(`select * from claim where resource = 'switch:1' for update`);
        const beat = claims.heartbeat();
        for (let i = 0; i < 100; i++) {
          const waiting = await sql`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like 'update "claim"%'`.execute(store.db);
          if (waiting.rows.length) break;
          await sleep(10);
        }
        const taken = await claims.take('console:7'); // while the renewal waits
        assert.ok(taken?.valid);
        await blocker.query('commit');
        await beat;
        assert.equal(taken.signal.aborted, false, 'the heartbeat did not call the new claim lost');
        assert.equal(await claims.take('console:7'), taken, 'still held here');
        assert.ok(held.valid, 'the renewed claim is still valid');

        // A row naming this holder that it does not know of (a crash between take and bookkeeping, a bug) is not renewed for ever.
        await store.db.insertInto('claim').values({ resource: 'console:9', holder: claims.holder, generation: 1, expires_at: Date.now() + 2000, taken_at: Date.now() }).execute();
        await sleep(2100);
        await claims.heartbeat();
        const row = await store.db.selectFrom('claim').select('expires_at').where('resource', '=', 'console:9').executeTakeFirstOrThrow();
        assert.ok(Number(row.expires_at) < Date.now(), 'it expired');
        assert.equal((await claims.take('console:9'))?.generation, 2, 'and can be taken again');
      } finally {
        await blocker.end().catch(() => {});
        await claims.stop().catch(() => {});
        await store.close();
        await fresh.drop();
      }
    });
  });
}
