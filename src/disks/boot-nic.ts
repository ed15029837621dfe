/**
 * A diskless node's boot NIC: which one boots when none is named, and how it
 * joins the boot network (natively: firmware PXE and initramfs speak
 * untagged), through the ordinary networking actions.
 */
import { BadArgumentError, BlockedError } from '../errors.ts';
import type { Tx } from '../core/context.ts';
import { clearFinishedAction, insertAction } from '../core/action-queue.ts';
import { requireNetworksFree } from '../core/provisioning-guard.ts';
import type { NicRow, NodeRow } from '../store/schema.ts';

/** The boot NIC on the boot network, natively (firmware PXE and initramfs speak untagged); already there is fine. */
export async function connectNative(tx: Tx, node: NodeRow, nic: NicRow, networkId: number, native: string): Promise<void> {
  const attachments = await tx.selectFrom('network_attachment').innerJoin('network', 'network.id', 'network_attachment.network_id').select(['network.id', 'network.label', 'channel']).where('nic_id', '=', nic.id).execute();
  if (attachments.some((a) => a.id === networkId && a.channel === native)) return;
  const other = attachments.find((a) => a.channel === native);
  if (other) throw new BlockedError(`Nic ${nic.label} is on network ${other.label} natively, which the boot network needs; detach it first (hil node network detach ${node.label} ${nic.label} ${other.label}) or boot through another NIC.`);
  await requireNetworksFree(tx, node.id);
  await clearFinishedAction(tx, nic.id);
  await insertAction(tx, { nicId: nic.id, type: 'modify_port', channel: native, newNetworkId: networkId });
}

/** The node's first NIC, the default boot NIC. */
export async function firstNic(tx: Tx, node: NodeRow): Promise<NicRow> {
  const nic = await tx.selectFrom('nic').selectAll().where('node_id', '=', node.id).orderBy('id').executeTakeFirst();
  if (!nic) throw new BadArgumentError(`Node ${node.label} has no NIC to boot through.`);
  return nic;
}
