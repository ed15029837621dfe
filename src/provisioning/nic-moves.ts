/**
 * Moving a node's NICs between networks on the provisioning service's behalf,
 * through the ordinary networking actions (so the worker, its journal, its
 * retries and every switch driver, including a base HIL's, do the work).
 *
 * A move is a target per NIC (a network, or none). Each call looks at what is
 * attached and queued now and takes the next step, so it is idempotent and
 * survives a restart: a NIC with a PENDING action waits; a NIC attached to
 * anything but its target is reverted (one action clears every network);
 * a bare NIC with a target is connected on the default channel.
 */
import type { Tx } from '../core/context.ts';
import { insertAction } from '../core/action-queue.ts';
import type { NetworkAllocator } from '../drivers/allocator/interface.ts';

export type MoveProgress = { done: true } | { done: false; failed?: string };

/** Target network id per NIC id; NICs not in the map are left alone. */
export type NicTargets = Map<number, number | null>;

/** `since`: when this move began; a failed action from before it is history, not this move's failure. */
export async function stepNicMoves(tx: Tx, allocator: NetworkAllocator, targets: NicTargets, since: number): Promise<MoveProgress & { queued: number }> {
  let queued = 0;
  let done = true;
  for (const [nicId, target] of targets) {
    const nic = await tx.selectFrom('nic').select(['id', 'label', 'port_id']).where('id', '=', nicId).executeTakeFirstOrThrow();
    if (nic.port_id === null) continue; // not cabled: on no network, whatever the target
    const action = await tx.selectFrom('networking_action').select(['id', 'status', 'error', 'created_at']).where('nic_id', '=', nicId).executeTakeFirst();
    if (action?.status === 'PENDING') {
      done = false;
      continue;
    }
    if (action?.status === 'ERROR' && Number(action.created_at) >= since) {
      return { done: false, failed: `moving nic ${nic.label}: ${action.error ?? 'the networking action failed'}`, queued };
    }
    const attached = await tx.selectFrom('network_attachment').select(['network_id', 'channel']).where('nic_id', '=', nicId).execute();
    const onTarget = target !== null && attached.length === 1 && attached[0].network_id === target;
    if (onTarget || (target === null && attached.length === 0)) continue;
    done = false;
    if (action) await tx.deleteFrom('networking_action').where('id', '=', action.id).execute();
    if (attached.length > 0) {
      await insertAction(tx, { nicId, type: 'revert_port', channel: '', newNetworkId: null });
    } else {
      await insertAction(tx, { nicId, type: 'modify_port', channel: allocator.defaultChannel(), newNetworkId: target });
    }
    queued++;
  }
  return done ? { done: true, queued } : { done: false, queued };
}
