/**
 * Hot read queries compiled to SQL once, then run with new parameters.
 * Building and compiling a Kysely query costs 10–40 µs per request, more than
 * SQLite takes to run it; the few queries on every request's path (node
 * lists, the node view, the auth lookup) skip that after their first call.
 */
import { CompiledQuery, type Compilable, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import { ServerError } from '../errors.ts';

const compiled = new WeakMap<Kysely<Database>, Map<string, string>>();
const syncReaders = new WeakMap<Kysely<Database>, (sql: string, params: unknown[]) => unknown[]>();

/** Lets precompiled reads on `db` skip Kysely's connection handling (SQLite's read-only connection). */
export function registerSyncReader(db: Kysely<Database>, read: (sql: string, params: unknown[]) => unknown[]): void {
  syncReaders.set(db, read);
}

/**
 * Runs `build(params)` as compiled the first time `key` was used on `db`.
 * `build` must use each parameter exactly once, in the order given, and its
 * SQL must not depend on the values: the first compilation checks the order.
 */
export async function runPrecompiled<R>(db: Kysely<Database>, key: string, params: unknown[], build: (...params: any[]) => Compilable<R>): Promise<R[]> {
  let byKey = compiled.get(db);
  if (!byKey) compiled.set(db, (byKey = new Map()));
  let sql = byKey.get(key);
  if (sql === undefined) {
    const query = build(...params).compile();
    const same = query.parameters.length === params.length && query.parameters.every((p, i) => p === params[i]);
    if (!same) throw new ServerError(`precompiled query ${key}: parameters must appear once each, in order`);
    byKey.set(key, (sql = query.sql));
  }
  const read = syncReaders.get(db);
  if (read) return read(sql, params) as R[];
  const result = await db.executeQuery<R>(CompiledQuery.raw(sql, params));
  return result.rows;
}
