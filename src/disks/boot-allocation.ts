/**
 * Where a project's boot network and a node on it go: the lowest free /24 of
 * `[exports.boot] subnets`, and the lowest free host address in it. Read in
 * the transaction that inserts the row; the unique constraints settle a race.
 * And whether a network by the boot network's name is one HIL made.
 */
import { BlockedError } from '../errors.ts';
import type { Tx } from '../core/context.ts';
import { FIRST_NODE_HOST, LAST_NODE_HOST, type BootSubnets } from './boot-addresses.ts';

export async function freeSubnet(tx: Tx, subnets: BootSubnets): Promise<number> {
  const used = new Set((await tx.selectFrom('boot_network').select('subnet').execute()).map((r) => Number(r.subnet)));
  for (let k = 0; k < subnets.count; k++) if (!used.has(k)) return k;
  throw new BlockedError(`Every boot subnet is taken (exports.boot.subnets holds ${subnets.count} /24s, one per project with diskless nodes).`);
}

export async function freeHost(tx: Tx, bootNetworkId: number): Promise<number> {
  const used = new Set((await tx.selectFrom('node_boot').select('host').where('boot_network_id', '=', bootNetworkId).execute()).map((r) => Number(r.host)));
  for (let h = FIRST_NODE_HOST; h <= LAST_NODE_HOST; h++) if (!used.has(h)) return h;
  throw new BlockedError(`The project's boot network has no address left (${LAST_NODE_HOST - FIRST_NODE_HOST + 1} diskless nodes).`);
}

/** Admin-owned, for project `projectId` alone: the shape of a boot network HIL made. */
export async function isBootNetworkShape(db: Tx, network: { id: number; owner_id: number | null }, projectId: number): Promise<boolean> {
  if (network.owner_id !== null) return false;
  const access = await db.selectFrom('network_access').select('project_id').where('network_id', '=', network.id).execute();
  return access.length === 1 && access[0]!.project_id === projectId;
}
