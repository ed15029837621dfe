/**
 * The networking journal's shared queries (spec §8): whether work is still
 * pending for a nic, a node or a network, and the rows of a nic's action.
 * A nic has at most one action row (a constraint): PENDING, or the last
 * finished one, kept until the nic's next request replaces it.
 */
import type { Kysely } from 'kysely';
import type { ActionType, Database } from '../schema.ts';

type Tx = Kysely<Database>;

/** What the pending action would hold up. */
export type PendingScope = { nicIds: number[] } | { nodeId: number } | { networkId: number };

/** Whether a PENDING action touches the nic(s), any nic of the node, or moves a nic onto the network. */
export async function hasPendingAction(tx: Tx, scope: PendingScope): Promise<boolean> {
  let q = tx.selectFrom('networking_action').select('networking_action.id').where('networking_action.status', '=', 'PENDING');
  if ('nicIds' in scope) {
    if (scope.nicIds.length === 0) return false;
    q = q.where('networking_action.nic_id', 'in', scope.nicIds);
  } else if ('nodeId' in scope) {
    q = q.where('networking_action.nic_id', 'in', tx.selectFrom('nic').select('nic.id').where('nic.node_id', '=', scope.nodeId));
  } else {
    q = q.where('networking_action.new_network_id', '=', scope.networkId);
  }
  return (await q.limit(1).executeTakeFirst()) !== undefined;
}

/** The nic's action row (pending or finished), if it has one. */
export function actionOf(tx: Tx, nicId: number) {
  return tx.selectFrom('networking_action').select(['id', 'status']).where('nic_id', '=', nicId).executeTakeFirst();
}

export async function deleteAction(tx: Tx, id: number): Promise<void> {
  await tx.deleteFrom('networking_action').where('id', '=', id).execute();
}

export async function insertPendingAction(tx: Tx, a: { uuid: string; nicId: number; type: ActionType; channel: string; newNetworkId: number | null }): Promise<void> {
  await tx
    .insertInto('networking_action')
    .values({ uuid: a.uuid, nic_id: a.nicId, type: a.type, channel: a.channel, new_network_id: a.newNetworkId, status: 'PENDING', error: null, created_at: Date.now(), finished_at: null })
    .execute();
}
