/**
 * Queues networking actions: the journal of spec §8. A nic has at most one
 * action row (a database constraint): a PENDING one blocks new requests, a
 * finished one is replaced, so its status_id stops resolving, as upstream.
 */
import { randomUUID } from 'node:crypto';
import { BlockedError } from '../errors.ts';
import { isUniqueViolation } from '../store/db.ts';
import { actionOf, deleteAction, insertPendingAction } from '../store/repos/actions.ts';
import type { ActionType } from '../store/schema.ts';
import type { Tx } from './context.ts';

const BUSY = 'A networking operation is already active on the nic.';

/** Throws BlockedError if the nic has a PENDING action; otherwise forgets its finished one. */
export async function clearFinishedAction(tx: Tx, nicId: number): Promise<void> {
  const current = await actionOf(tx, nicId);
  if (!current) return;
  if (current.status === 'PENDING') throw new BlockedError(BUSY);
  await deleteAction(tx, current.id);
}

/** Queues the action; returns its status_id. */
export async function insertAction(tx: Tx, action: { nicId: number; type: ActionType; channel: string; newNetworkId: number | null }): Promise<string> {
  const uuid = randomUUID();
  try {
    await insertPendingAction(tx, { uuid, ...action });
  } catch (err) {
    // A concurrent request queued an action on this nic first.
    if (isUniqueViolation(err)) throw new BlockedError(BUSY);
    throw err;
  }
  return uuid;
}
