/**
 * Kysely's SqliteDialect expects a better-sqlite3-shaped database. node:sqlite
 * is close enough that a thin adapter does: positional parameters are spread,
 * booleans become 0/1 (node:sqlite refuses to bind them), and a statement is a
 * "reader" when it returns columns.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { CompiledQuery, SqliteDialect, type DatabaseConnection, type Driver } from 'kysely';

type SqliteValue = null | number | bigint | string | Uint8Array;

function bindable(params: ReadonlyArray<unknown>): SqliteValue[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : (p as SqliteValue)));
}

function adaptStatement(stmt: StatementSync) {
  return {
    reader: stmt.columns().length > 0,
    all: (params: ReadonlyArray<unknown>) => stmt.all(...bindable(params)),
    run: (params: ReadonlyArray<unknown>) => stmt.run(...bindable(params)),
    iterate: (params: ReadonlyArray<unknown>) => stmt.iterate(...bindable(params)),
  };
}

/**
 * Transactions start with BEGIN IMMEDIATE: they take the write lock up front
 * and wait (busy timeout) for another process's writer. A plain BEGIN reads
 * first and fails at once with SQLITE_BUSY when the worker process commits
 * in between, which the API turned into a 500.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}

export interface OpenedSqlite {
  dialect: SqliteDialect;
  raw: DatabaseSync;
}

/** Prepared statements cached by SQL text, capped so a runaway caller cannot grow it forever. */
function statementCache<T>(prepare: (sql: string) => T): (sql: string) => T {
  const cache = new Map<string, T>();
  return (sql) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      if (cache.size >= 1000) cache.delete(cache.keys().next().value!);
      stmt = prepare(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  };
}

/** Opens (creating if needed) a SQLite file with the settings a server wants. */
export function openSqlite(path: string): OpenedSqlite {
  const raw = new DatabaseSync(path, { timeout: 5000 });
  // WAL lets the API server and a separate worker process read while one writes.
  raw.exec('PRAGMA journal_mode = WAL');
  raw.exec('PRAGMA synchronous = NORMAL');
  raw.exec('PRAGMA foreign_keys = ON');
  // Kysely hands us SQL text on every query; preparing it each time would cost
  // more than running it.
  const prepare = statementCache((sql) => adaptStatement(raw.prepare(sql)));
  const database = { close: () => raw.close(), prepare };
  return { dialect: new ImmediateSqliteDialect({ database }), raw };
}

export interface SqliteReader {
  /** Runs a read-only statement now, on committed data only. */
  all(sql: string, params: ReadonlyArray<unknown>): unknown[];
  close(): void;
}

/**
 * A second, read-only connection for the hottest reads. Kysely funnels every
 * query through one connection behind an async mutex; a plain read on its
 * own connection can run synchronously instead, and in WAL mode it sees
 * exactly the committed data (never another request's open transaction).
 */
export function openSqliteReader(path: string): SqliteReader {
  const raw = new DatabaseSync(path, { timeout: 5000 });
  raw.exec('PRAGMA query_only = ON');
  const prepare = statementCache((sql) => raw.prepare(sql));
  return {
    all: (sql, params) => prepare(sql).all(...bindable(params)),
    close: () => raw.close(),
  };
}
