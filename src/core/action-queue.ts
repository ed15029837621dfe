/**
 * Queues networking actions: the journal of spec §8. A nic has at most one
 * action row (a database constraint): a PENDING one blocks new requests, a
 * finished one is replaced, so its status_id stops resolving, as upstream.
 */
import { randomUUID } from 'node:crypto';
import { BlockedError } from '../errors.ts';
import type { Tx } from './context.ts';
import { isUniqueViolation } from '../store/db.ts';
import type { ActionType } from '../store/schema.ts';

const BUSY = 'A networking operation is already active on the nic.';

/** Throws BlockedError if the nic has a PENDING action; otherwise forgets its finished one. */
export async function clearFinishedAction(tx: Tx, nicId: number): Promise<void> {
  const current = await tx.selectFrom('networking_action').select(['id', 'status']).where('nic_id', '=', nicId).executeTakeFirst();
  if (!current) return;
  if (current.status === 'PENDING') throw new BlockedError(BUSY);
  await tx.deleteFrom('networking_action').where('id', '=', current.id).execute();
}

export async function insertAction(
  tx: Tx,
  action: { nicId: number; type: ActionType; channel: string; newNetworkId: number | null },
): Promise<string> {
  const uuid = randomUUID();
  try {
    await tx
      .insertInto('networking_action')
      .values({
        uuid,
        nic_id: action.nicId,
        type: action.type,
        channel: action.channel,
        new_network_id: action.newNetworkId,
        status: 'PENDING',
        error: null,
        created_at: Date.now(),
        finished_at: null,
      })
      .execute();
  } catch (err) {
    // A concurrent request queued an action on this nic first.
    if (isUniqueViolation(err)) throw new BlockedError(BUSY);
    throw err;
  }
  return uuid;
}
