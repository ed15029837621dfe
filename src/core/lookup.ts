/** Fetch-or-404 helpers, one per object kind, with upstream's messages. */
import { NotFoundError, DuplicateError } from '../errors.ts';
import type { Tx } from './context.ts';
import { dialectOf, isUniqueViolation } from '../store/db.ts';

/**
 * How a looked-up row is held until the transaction ends, on PostgreSQL:
 * `update` for a row the use-case checks and then changes (or changes what
 * hangs off it), so that a concurrent one waits and sees the change; `share`
 * for a row it only needs to stay as it is. SQLite's single writer already
 * serialises every transaction that writes (BEGIN IMMEDIATE).
 */
export type Lock = 'update' | 'share';

export function held<Q extends { forUpdate(): Q; forShare(): Q }>(tx: Tx, q: Q, lock: Lock | undefined): Q {
  if (!lock || dialectOf(tx) !== 'postgres') return q;
  return lock === 'update' ? q.forUpdate() : q.forShare();
}

export async function getProject(tx: Tx, label: string, lock?: Lock) {
  const row = await held(tx, tx.selectFrom('project').selectAll().where('label', '=', label), lock).executeTakeFirst();
  if (!row) throw new NotFoundError(`Project "${label}" does not exist.`);
  return row;
}

export async function getNode(tx: Tx, label: string, lock?: Lock) {
  const row = await held(tx, tx.selectFrom('node').selectAll().where('label', '=', label), lock).executeTakeFirst();
  if (!row) throw new NotFoundError(`Node "${label}" does not exist.`);
  return row;
}

export async function getNic(tx: Tx, node: { id: number; label: string }, label: string) {
  const row = await tx.selectFrom('nic').selectAll().where('node_id', '=', node.id).where('label', '=', label).executeTakeFirst();
  if (!row) throw new NotFoundError(`Nic "${label}" does not exist on node "${node.label}".`);
  return row;
}

export async function getNetwork(tx: Tx, label: string, lock?: Lock) {
  const row = await held(tx, tx.selectFrom('network').selectAll().where('label', '=', label), lock).executeTakeFirst();
  if (!row) throw new NotFoundError(`Network "${label}" does not exist.`);
  return row;
}

export async function getSwitch(tx: Tx, label: string, lock?: Lock) {
  const row = await held(tx, tx.selectFrom('switch').selectAll().where('label', '=', label), lock).executeTakeFirst();
  if (!row) throw new NotFoundError(`Switch "${label}" does not exist.`);
  return row;
}

export async function getPort(tx: Tx, sw: { id: number; label: string }, label: string, lock?: Lock) {
  const row = await held(tx, tx.selectFrom('port').selectAll().where('switch_id', '=', sw.id).where('label', '=', label), lock).executeTakeFirst();
  if (!row) throw new NotFoundError(`Port "${label}" does not exist on switch "${sw.label}".`);
  return row;
}

export async function getUser(tx: Tx, label: string, lock?: Lock) {
  const row = await held(tx, tx.selectFrom('user').selectAll().where('label', '=', label), lock).executeTakeFirst();
  if (!row) throw new NotFoundError(`User "${label}" does not exist.`);
  return row;
}

/**
 * Runs an insert and turns a unique-constraint violation into DuplicateError.
 * The constraint, not a prior SELECT, is what keeps concurrent requests honest.
 */
export async function insertUnique<T>(insert: Promise<T>, message: string): Promise<T> {
  try {
    return await insert;
  } catch (err) {
    if (isUniqueViolation(err)) throw new DuplicateError(message);
    throw err;
  }
}

/** Throws DuplicateError when the query finds a row. */
export async function absentOrConflict(found: Promise<unknown>, message: string): Promise<void> {
  if ((await found) !== undefined) throw new DuplicateError(message);
}

/** The label of a row by id (null: no id, or the row is gone), for views that name what a row refers to. */
export async function labelOf(tx: Tx, table: 'project' | 'node' | 'image' | 'disk', id: number | null): Promise<string | null> {
  if (id === null) return null;
  return (await tx.selectFrom(table).select('label').where('id', '=', id).executeTakeFirst())?.label ?? null;
}
