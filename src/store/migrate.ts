/**
 * Schema migrations, shared by SQLite and PostgreSQL. Each owner has its own
 * ordered set with its own bookkeeping table: HIL's core schema here, and
 * drivers that keep state in the database (the mock switch) their own, which
 * their catalog lists. Kysely's Migrator takes a lock per set, so running
 * `hil-admin db migrate` twice, or from two processes, is harmless.
 */
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import type { DbKind, Store } from './db.ts';
import * as init from './migrations/0001-init.ts';
import * as images from './migrations/0002-images.ts';
import * as provisioning from './migrations/0003-provisioning.ts';
import * as obmToken from './migrations/0004-obm-token.ts';
import * as claims from './migrations/0005-claims.ts';
import * as freeNodesIndex from './migrations/0006-free-nodes-index.ts';
import * as disks from './migrations/0007-disks.ts';
import * as bootDisks from './migrations/0008-boot-disks.ts';
import * as bootDiskRelease from './migrations/0009-boot-disk-release.ts';
import * as headnodesVpns from './migrations/0010-headnodes-vpns.ts';

import type { AnyDb } from './migrations/any-db.ts';

export type { AnyDb };

export interface MigrationSet {
  /** Names the bookkeeping tables: "hil" is kysely_migration, others kysely_migration_<owner>. */
  owner: string;
  migrations: Record<string, { up(db: AnyDb, kind: DbKind): Promise<void> }>;
}

export const CORE_MIGRATIONS: MigrationSet = {
  owner: 'hil',
  migrations: {
    '0001-init': init,
    '0002-images': images,
    '0003-provisioning': provisioning,
    '0004-obm-token': obmToken,
    '0005-claims': claims,
    '0006-free-nodes-index': freeNodesIndex,
    '0007-disks': disks,
    '0008-boot-disks': bootDisks,
    '0009-boot-disk-release': bootDiskRelease,
    '0010-headnodes-vpns': headnodesVpns,
  },
};

function migrator(store: Store, set: MigrationSet): Migrator {
  const provider: MigrationProvider = {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, m] of Object.entries(set.migrations)) out[name] = { up: (db) => m.up(db, store.kind) };
      return out;
    },
  };
  const tables = set.owner === 'hil' ? {} : { migrationTableName: `kysely_migration_${set.owner}`, migrationLockTableName: `kysely_migration_lock_${set.owner}` };
  return new Migrator({ db: store.db, provider, ...tables });
}

/** Applies every pending migration of each set, core first; returns what it applied ("owner/name", core ones by name only). */
export async function migrate(store: Store, sets: MigrationSet[] = [CORE_MIGRATIONS]): Promise<string[]> {
  const applied: string[] = [];
  for (const set of sets) {
    const { error, results } = await migrator(store, set).migrateToLatest();
    if (error) throw error;
    for (const r of results ?? []) if (r.status === 'Success') applied.push(qualified(set, r.migrationName));
  }
  return applied;
}

/** Migrations not yet applied; empty means the schema is current. */
export async function pendingMigrations(store: Store, sets: MigrationSet[] = [CORE_MIGRATIONS]): Promise<string[]> {
  const pending: string[] = [];
  for (const set of sets) {
    for (const m of await migrator(store, set).getMigrations()) if (!m.executedAt) pending.push(qualified(set, m.name));
  }
  return pending;
}

export const migrationNames = (sets: MigrationSet[]) => sets.flatMap((set) => Object.keys(set.migrations).map((name) => qualified(set, name)));

const qualified = (set: MigrationSet, name: string) => (set.owner === 'hil' ? name : `${set.owner}/${name}`);
