/**
 * Claims on a real database, several holders at once as several processes
 * would be: one winner per resource however many ask together, a released
 * or expired claim passes on with a higher generation, a paused holder's
 * claim stops being valid before anyone else can take it, a dead process's
 * claims are free at the next heartbeat, and the database guard refuses a
 * holder that lost its claim.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { testDatabases } from '../support/databases.ts';
import { Claims, heldBy } from '../../src/claims/claims.ts';
import { openStore, type Store } from '../../src/store/db.ts';
import { migrate, CORE_MIGRATIONS } from '../../src/store/migrate.ts';

const log = pino({ level: 'silent' });

async function withStore(database: (typeof DATABASES)[number], fn: (store: Store) => Promise<void>) {
  const db = await database.create();
  const store = openStore(db.url);
  try {
    await migrate(store, [CORE_MIGRATIONS]);
    await fn(store);
  } finally {
    await store.close();
    await db.drop();
  }
}

const DATABASES = testDatabases();
const holders = (store: Store, n: number, ttlMs = 5000) => [...Array(n)].map(() => new Claims({ store, log, role: 'test', ttlMs, heartbeatMs: 1000 }));

for (const database of DATABASES) {
  describe(`claims on ${database.name}`, { skip: database.skip }, () => {
    it('twenty takes of one resource from four holders at once: exactly one wins', () =>
      withStore(database, async (store) => {
        const claims = holders(store, 4);
        for (let round = 0; round < 5; round++) {
          const resource = `switch:${round}`;
          const results = await Promise.all([...Array(20)].map((_, i) => claims[i % 4].take(resource)));
          const winners = new Set(results.filter((c) => c !== null).map((c) => c!.holder));
          assert.equal(winners.size, 1, `round ${round}: ${winners.size} holders`);
        }
      }));

    it('a released claim passes on with the next generation; a held one is refused', () =>
      withStore(database, async (store) => {
        const [a, b] = holders(store, 2);
        const first = await a.take('bmc:1');
        assert.equal(first?.generation, 1);
        assert.equal(await b.take('bmc:1'), null);
        await first!.release();
        assert.equal(first!.valid, false);
        const second = await b.take('bmc:1');
        assert.equal(second?.generation, 2);
        assert.equal(b.takeovers, 0, 'a released claim is not a takeover');
      }));

    it('a paused holder: its claim is invalid before it expires, then taken over, and its heartbeat finds it lost', () =>
      withStore(database, async (store) => {
        const [a, b] = holders(store, 2, 2000);
        const paused = await a.take('switch:7');
        assert.ok(paused?.valid);
        // a never renews (as if SIGSTOPped): valid ends at ttl minus the margin (1.5 s), before anyone may take it (2 s).
        await sleep(1600);
        assert.equal(paused!.valid, false, 'no longer trusted by its holder');
        assert.equal(await b.take('switch:7'), null, 'but not yet expired for others');
        await sleep(600);
        const taken = await b.take('switch:7');
        assert.equal(taken?.generation, 2);
        assert.equal(b.takeovers, 1);
        await a.heartbeat();
        assert.equal(paused!.signal.aborted, true, 'the old holder learns it lost the claim');
        // The database guard refuses the old holder's writes, accepts the new one's.
        const guarded = async (claim: typeof taken) =>
          Number((await store.db.updateTable('claim').set({ taken_at: 1 }).where('resource', '=', 'switch:7').where(heldBy(claim!)).executeTakeFirst()).numUpdatedRows);
        assert.equal(await guarded(paused), 0);
        assert.equal(await guarded(taken), 1);
      }));

    it("a dead process's claims are free at the next heartbeat, long before they expire", () =>
      withStore(database, async (store) => {
        const [survivor] = holders(store, 1, 60_000);
        await survivor.start();
        try {
          // A process that died: its pid is gone on this host (and, on PostgreSQL, its backend too).
          const dead = 'ghost';
          await store.db
            .insertInto('hil_process')
            .values({ id: dead, host: (await import('node:os')).hostname(), pid: 2 ** 22 + 1, role: 'worker', address: null, internal_token: null, backend_pid: store.kind === 'postgres' ? 1 : null, backend_start: store.kind === 'postgres' ? 1 : null, started_at: 0, expires_at: Date.now() + 60_000 })
            .execute();
          await store.db.insertInto('claim').values({ resource: 'switch:9', holder: dead, generation: 3, expires_at: Date.now() + 60_000, taken_at: 0 }).execute();
          assert.equal(await survivor.take('switch:9'), null, 'held until found dead');
          await survivor.heartbeat();
          const taken = await survivor.take('switch:9');
          assert.equal(taken?.generation, 4);
          assert.equal(await store.db.selectFrom('hil_process').select('id').where('id', '=', dead).executeTakeFirst(), undefined);
        } finally {
          await survivor.stop();
        }
      }));

    it('stop() releases every claim at once and unregisters', () =>
      withStore(database, async (store) => {
        const [a, b] = holders(store, 2);
        await a.start();
        await a.take('console:1');
        await a.take('switch:1');
        await a.stop();
        assert.equal((await b.take('console:1'))?.generation, 2);
        assert.equal((await b.take('switch:1'))?.generation, 2);
        assert.equal((await store.db.selectFrom('hil_process').select('id').execute()).length, 0);
      }));
  });
}
