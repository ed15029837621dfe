/** Queries about users that decide who may still administer HIL. */
import type { Kysely } from 'kysely';
import { dialectOf } from '../db.ts';
import type { Database } from '../schema.ts';

/**
 * The administrators' ids, with their rows locked until the transaction ends
 * on PostgreSQL (SQLite's writer lock already serialises): two requests that
 * each remove another administrator then cannot both see two of them.
 */
export async function lockedAdmins(tx: Kysely<Database>): Promise<number[]> {
  // In id order, and before any other user row: concurrent callers then take the locks in one order (no deadlock).
  let q = tx.selectFrom('user').select('id').where('is_admin', '=', true).orderBy('id');
  if (dialectOf(tx) === 'postgres') q = q.forUpdate();
  return (await q.execute()).map((r) => r.id);
}
