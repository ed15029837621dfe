/**
 * Schema migrations, shared by SQLite and PostgreSQL. Kysely's Migrator keeps
 * its bookkeeping in `kysely_migration` and takes a lock, so running
 * `hil-admin db migrate` twice, or from two processes, is harmless.
 */
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import type { Store } from './db.ts';
import * as init from './migrations/0001-init.ts';
import * as images from './migrations/0002-images.ts';
import * as provisioning from './migrations/0003-provisioning.ts';

const MIGRATIONS = { '0001-init': init, '0002-images': images, '0003-provisioning': provisioning } as const;

export const MIGRATION_NAMES = Object.keys(MIGRATIONS);
export const LATEST_MIGRATION = MIGRATION_NAMES.at(-1)!;

function provider(store: Store): MigrationProvider {
  return {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, m] of Object.entries(MIGRATIONS)) {
        out[name] = { up: (db) => m.up(db, store.kind) };
      }
      return out;
    },
  };
}

/** Applies every pending migration; returns the names it applied. */
export async function migrate(store: Store): Promise<string[]> {
  const migrator = new Migrator({ db: store.db, provider: provider(store) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Names of migrations not yet applied; empty means the schema is current. */
export async function pendingMigrations(store: Store): Promise<string[]> {
  const migrator = new Migrator({ db: store.db, provider: provider(store) });
  const all = await migrator.getMigrations();
  return all.filter((m) => !m.executedAt).map((m) => m.name);
}
