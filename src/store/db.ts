/**
 * Opens the database named by a URL: `sqlite:PATH` (the embedded default) or
 * `postgres://…`. Both speak the same Kysely schema and migrations.
 */
import { Kysely, PostgresDialect, sql, SqliteAdapter } from 'kysely';
import pg from 'pg';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Database } from './schema.ts';
import { openSqlite, openSqliteReader } from './node-sqlite-dialect.ts';
import { registerSyncReader } from './precompiled.ts';
import { ConfigError } from '../errors.ts';

export type DbKind = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  kind: DbKind;
  url: string;
  /** For SQLite: the database file (the worker watches its WAL for wake-ups). */
  sqlitePath?: string;
  /** For PostgreSQL: the connection pool's use now (GET /metrics). */
  poolStats?: () => PoolStats;
  close(): Promise<void>;
}

export interface PoolStats {
  /** Connections open, in use or idle. */
  total: number;
  idle: number;
  /** Queries waiting for a connection (the pool is at its size). */
  waiting: number;
}

// BIGINT columns (timestamps in ms) fit in a JS number; pg would return strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export function parseDatabaseUrl(url: string): { kind: DbKind; target: string } {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new ConfigError(`database URL ${JSON.stringify(url)} names no file`);
    return { kind: 'sqlite', target: path };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return { kind: 'postgres', target: url };
  }
  throw new ConfigError(`unsupported database URL ${JSON.stringify(url)}: use sqlite:PATH or postgres://…`);
}

export function openStore(url: string, options: { poolSize?: number } = {}): Store {
  const { kind, target } = parseDatabaseUrl(url);
  if (kind === 'sqlite') {
    const path = target === ':memory:' ? target : resolve(target);
    // The database holds password hashes and BMC credentials: keep its directory private.
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const { dialect } = openSqlite(path);
    const db = new Kysely<Database>({ dialect });
    const reader = path === ':memory:' ? undefined : openSqliteReader(path);
    if (reader) registerSyncReader(db, reader.all);
    return {
      db,
      kind,
      url,
      sqlitePath: path,
      async close() {
        reader?.close();
        await db.destroy();
      },
    };
  }
  const pool = new pg.Pool({ connectionString: target, max: options.poolSize ?? 10 });
  // An idle connection dropped by the server (restart, failover) must not crash
  // the process; the pool replaces it on the next query.
  pool.on('error', () => {});
  // Nor one in use: pg emits 'error' on a checked-out client (whose idle listener the pool removed)
  // besides failing its query, and an 'error' nobody listens to is an uncaught exception. The query's
  // own rejection tells its caller; /readyz tells the operator.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const poolStats = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
  return { db, kind, url, poolStats, close: () => db.destroy() };
}

/** True when `err` is a unique-constraint violation, on either database. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errcode?: number; message?: string } | null;
  if (!e) return false;
  if (e.code === '23505') return true; // PostgreSQL unique_violation
  // SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555)
  return e.errcode === 2067 || e.errcode === 1555;
}

/** True when `err` is a foreign-key violation (a row still referenced, or a reference to nothing), on either database. */
export function isForeignKeyViolation(err: unknown): boolean {
  const e = err as { code?: string; errcode?: number } | null;
  if (!e) return false;
  if (e.code === '23503') return true; // PostgreSQL foreign_key_violation
  return e.errcode === 787; // SQLITE_CONSTRAINT_FOREIGNKEY
}

/** Which database a Kysely instance (or transaction) talks to, for the few statements that differ. */
export function dialectOf(db: Kysely<Database>): DbKind {
  return db.getExecutor().adapter instanceof SqliteAdapter ? 'sqlite' : 'postgres';
}

/**
 * PostgreSQL ends the session (rolling the transaction back) if the rest of
 * the current transaction sits idle longer than `ms`: its process paused,
 * frozen or cut off. For transactions guarded by a claim: their row locks
 * must not block the claim's next holder longer than the claim outlives a
 * silent holder (the TTL), nor may they commit after it. A no-op on SQLite,
 * where a paused writer holds the one write lock until it resumes.
 */
export async function limitIdleInTransaction<DB>(tx: Kysely<DB>, ms: number): Promise<void> {
  if (tx.getExecutor().adapter instanceof SqliteAdapter) return;
  await sql`set local idle_in_transaction_session_timeout = ${sql.raw(String(Math.max(1, Math.round(ms))))}`.execute(tx);
}
