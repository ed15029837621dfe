/**
 * What of a tenant's own access (headnodes, VPNs: docs/headnodes.md) holds on
 * to a network or a project. Deleting a network or a project, and revoking
 * a project's access to a network, ask these before they go ahead.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../schema.ts';

type Db = Kysely<Database>;

/** The first headnode (label) with an hnic on the network, of `projectId` if given. */
export async function headnodeOnNetwork(db: Db, networkId: number, projectId?: number): Promise<string | undefined> {
  let q = db.selectFrom('hnic').innerJoin('headnode', 'headnode.id', 'hnic.headnode_id').select('headnode.label').where('hnic.network_id', '=', networkId);
  if (projectId !== undefined) q = q.where('headnode.project_id', '=', projectId);
  return (await q.orderBy('headnode.label').executeTakeFirst())?.label;
}

/** The first VPN (label) on the network, of `projectId` if given. */
export async function vpnOnNetwork(db: Db, networkId: number, projectId?: number): Promise<string | undefined> {
  let q = db.selectFrom('vpn').select('label').where('network_id', '=', networkId);
  if (projectId !== undefined) q = q.where('project_id', '=', projectId);
  return (await q.orderBy('label').executeTakeFirst())?.label;
}

/** Whether the project has a headnode, or a VPN. */
export async function projectHas(db: Db, what: 'headnode' | 'vpn', projectId: number): Promise<boolean> {
  return (await db.selectFrom(what).select('id').where('project_id', '=', projectId).executeTakeFirst()) !== undefined;
}
