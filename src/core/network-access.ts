/** Which networks a project's nodes may join (spec §5.4): those it owns or is on the access list of; an empty list is public. */
import { ProjectMismatchError } from '../errors.ts';
import { networkAccess } from '../store/repos/nodes.ts';
import type { Tx } from './context.ts';

export async function requireNetworkAccess(tx: Tx, networkId: number, projectId: number | null, message: string): Promise<void> {
  const access = await networkAccess(tx, networkId);
  if (access.length && !access.some((id) => id === projectId)) throw new ProjectMismatchError(message);
}
