/**
 * Claims replace the single networking lease: every process that does work
 * in the background registers itself (hil_process) and keeps its row alive;
 * a claim names the process holding one resource (a switch, a node's
 * console, a node's BMC) and a generation that grows with every hand-over,
 * so a holder that lost a claim can be told from the one that has it.
 * Claim rows are never deleted, only released (holder NULL): deleting would
 * restart the generation and blunt the fencing.
 */
import type { AnyDb } from './any-db.ts';
import type { DbKind } from '../db.ts';

export async function up(db: AnyDb, _kind: DbKind): Promise<void> {
  await db.schema
    .createTable('hil_process')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    // What the process does (api, worker, api+worker), for operators.
    .addColumn('role', 'text', (c) => c.notNull())
    // Where other processes reach it (console relay); null for a worker.
    .addColumn('address', 'text')
    // A secret other processes present on its internal routes.
    .addColumn('internal_token', 'text')
    // PostgreSQL: its liveness connection (pid and start, in µs), gone the moment the process dies.
    .addColumn('backend_pid', 'integer')
    .addColumn('backend_start', 'bigint')
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('claim')
    .addColumn('resource', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text')
    .addColumn('generation', 'bigint', (c) => c.notNull())
    // The holder renews this while it lives; past it, anyone may take the claim.
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('taken_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('claim_holder').on('claim').column('holder').execute();
  await db.schema.dropTable('worker_lease').execute();
}
