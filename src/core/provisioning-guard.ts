/**
 * While the provisioning service holds a node (any state but "deployed"), its
 * NICs are the service's to move: a tenant changing them could take the FPBL
 * off the provisioning network, or put a tenant network next to it.
 */
import { BlockedError } from '../errors.ts';
import { provisioningState } from '../store/repos/nodes.ts';
import type { Tx } from './context.ts';

export { provisioningState };

export async function requireNetworksFree(tx: Tx, nodeId: number): Promise<void> {
  const state = await provisioningState(tx, nodeId);
  if (state !== null && state !== 'deployed') {
    throw new BlockedError(`The provisioning service holds this node's networks while it is ${state}; deploy or reclaim it instead.`);
  }
}
