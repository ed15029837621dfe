/**
 * limitIdleInTransaction: on PostgreSQL a transaction left idle past the
 * limit (its process paused) is ended by the server, its locks freed for
 * others at once and nothing of it committed; on SQLite it is a no-op.
 * The chaos test found a worker paused inside recordOutcomes holding the
 * action's row against the switch's next holder for the whole pause.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { testDatabases } from '../support/databases.ts';
import { limitIdleInTransaction, openStore } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';

for (const database of testDatabases()) {
  describe(`limitIdleInTransaction on ${database.name}`, { skip: database.skip }, () => {
    it(database.name === 'postgres' ? 'ends a transaction left idle past the limit: its locks are freed, nothing of it commits' : 'changes nothing', async () => {
      const fresh = await database.create();
      const paused = openStore(fresh.url);
      const other = openStore(fresh.url);
      try {
        await migrate(paused);
        await paused.db.insertInto('project').values({ label: 'p' }).execute();
        let late: unknown = null;
        const frozen = paused.db.transaction().execute(async (tx) => {
          await limitIdleInTransaction(tx, 300);
          await tx.updateTable('project').set({ label: 'frozen' }).where('label', '=', 'p').execute();
          await sleep(1500); // paused, holding the row
          await tx.selectFrom('project').select('id').execute().catch((err: unknown) => (late = err));
          if (late) throw late;
        });
        if (database.name === 'sqlite') {
          await frozen;
          assert.deepEqual((await other.db.selectFrom('project').select('label').execute()).map((r) => r.label), ['frozen']);
          return;
        }
        await sleep(50);
        const started = Date.now();
        await other.db.updateTable('project').set({ label: 'successor' }).where('label', '=', 'p').execute();
        const waited = Date.now() - started;
        assert.ok(waited < 1200, `the successor waited ${waited} ms for the paused transaction's lock`);
        await assert.rejects(frozen);
        assert.ok(late, 'the paused transaction found its session gone');
        assert.deepEqual((await other.db.selectFrom('project').select('label').execute()).map((r) => r.label), ['successor']);
      } finally {
        await paused.close().catch(() => {});
        await other.close();
        await fresh.drop();
      }
    });
  });
}
