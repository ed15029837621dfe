/**
 * Queries about nodes, their nics and the networks they may use, shared by
 * several use-cases (node and pool management, networking, provisioning).
 */
import type { Kysely } from 'kysely';
import type { Database, ProvisioningState } from '../schema.ts';

type Tx = Kysely<Database>;

export function nicsOf(tx: Tx, nodeId: number) {
  return tx.selectFrom('nic').select(['id', 'label', 'port_id', 'macaddr']).where('node_id', '=', nodeId).orderBy('id').execute();
}

/** Removes nics with their journal rows and attachments (callers check that none is pending). */
export async function deleteNics(tx: Tx, nicIds: number[]): Promise<void> {
  if (nicIds.length === 0) return;
  await tx.deleteFrom('networking_action').where('nic_id', 'in', nicIds).execute();
  await tx.deleteFrom('network_attachment').where('nic_id', 'in', nicIds).execute();
  await tx.deleteFrom('nic').where('id', 'in', nicIds).execute();
}

/** Removes a node and its metadata (callers remove its nics first). */
export async function deleteNode(tx: Tx, nodeId: number): Promise<void> {
  await tx.deleteFrom('node_metadata').where('node_id', '=', nodeId).execute();
  await tx.deleteFrom('node').where('id', '=', nodeId).execute();
}

/** The projects on a network's access list; empty means every project (upstream's public network). */
export async function networkAccess(tx: Tx, networkId: number): Promise<number[]> {
  const rows = await tx.selectFrom('network_access').select('project_id').where('network_id', '=', networkId).execute();
  return rows.map((r) => r.project_id);
}

/** The state the provisioning service holds the node in, or null when it does not hold it. */
export async function provisioningState(tx: Tx, nodeId: number): Promise<ProvisioningState | null> {
  const row = await tx.selectFrom('node_provisioning').select('state').where('node_id', '=', nodeId).executeTakeFirst();
  return row?.state ?? null;
}
