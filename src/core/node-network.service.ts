/**
 * Asking for a nic to join or leave a network (spec §5.4). The request only
 * queues an action; the networking worker applies it to the switch.
 * Checks run in upstream's order, because clients and tests depend on which
 * error wins.
 */
import { BadArgumentError, BlockedError, NotFoundError, ProjectMismatchError } from '../errors.ts';
import { inTx, type CoreDeps } from './context.ts';
import { getNetwork, getNic, getNode } from './lookup.ts';
import { clearFinishedAction, insertAction } from './action-queue.ts';
import { requireProjectAccess, type Principal } from './principal.ts';
import { requireNetworksFree } from './provisioning-guard.ts';
import { requireNetworkAccess } from './network-access.ts';
import { Service } from './service.ts';
import { requireNativeFirst, requireNativeLast } from './native-first.ts';

export interface ActionView {
  status: string;
  node: string;
  nic: string;
  type: string;
  channel: string;
  new_network: string | null;
  /** Why it failed; null unless status is ERROR. (Not in upstream.) */
  error: string | null;
}

export class NodeNetworkService extends Service {
  async connect(p: Principal, nodeLabel: string, nicLabel: string, networkLabel: string, channel?: string | null): Promise<{ status_id: string }> {
    const statusId = await inTx(this.deps, async (tx) => {
      const node = await getNode(tx, nodeLabel, 'update');
      const nic = await getNic(tx, node, nicLabel);
      const net = await getNetwork(tx, networkLabel, 'share');
      if (node.project_id === null) throw new ProjectMismatchError('Node not in project');
      requireProjectAccess(p, node.project_id);
      if (nic.port_id === null) throw new NotFoundError('No port is connected to given nic.');
      await requireNetworksFree(tx, node.id);
      await clearFinishedAction(tx, nic.id);

      await requireNetworkAccess(tx, net.id, node.project_id, 'Project does not have access to given network.');
      const attachments = await tx.selectFrom('network_attachment').select(['network_id', 'channel']).where('nic_id', '=', nic.id).execute();
      if (attachments.some((a) => a.network_id === net.id)) throw new BlockedError('The network is already attached to the nic.');
      // An empty channel means "the default" too: upstream's CLI sends "" when none is given.
      const ch = channel ? channel : this.deps.allocator.defaultChannel();
      if (attachments.some((a) => a.channel === ch)) throw new BlockedError('The channel is already in use on the nic.');
      if (!this.deps.allocator.legalChannels(net.network_id).includes(ch)) {
        throw new BadArgumentError(`Channel ${JSON.stringify(ch)}, is not legal for this network.`);
      }
      await requireNativeFirst(this.deps, tx, nic.port_id, attachments.map((a) => a.channel), ch);
      return insertAction(tx, { nicId: nic.id, type: 'modify_port', channel: ch, newNetworkId: net.id });
    });
    this.deps.actionsQueued();
    return { status_id: statusId };
  }

  async detach(p: Principal, nodeLabel: string, nicLabel: string, networkLabel: string): Promise<{ status_id: string }> {
    const statusId = await inTx(this.deps, async (tx) => {
      const node = await getNode(tx, nodeLabel, 'update');
      const net = await getNetwork(tx, networkLabel, 'share');
      const nic = await getNic(tx, node, nicLabel);
      if (node.project_id === null) throw new ProjectMismatchError('Node not in project');
      requireProjectAccess(p, node.project_id);
      await requireNetworksFree(tx, node.id);
      await clearFinishedAction(tx, nic.id);
      const attachments = await tx.selectFrom('network_attachment').select(['network_id', 'channel']).where('nic_id', '=', nic.id).execute();
      const attachment = attachments.find((a) => a.network_id === net.id);
      if (!attachment) throw new BadArgumentError('The network is not attached to the nic.');
      if (nic.port_id !== null) await requireNativeLast(this.deps, tx, nic.port_id, attachments.map((a) => a.channel), attachment.channel);
      return insertAction(tx, { nicId: nic.id, type: 'modify_port', channel: attachment.channel, newNetworkId: null });
    });
    this.deps.actionsQueued();
    return { status_id: statusId };
  }

  async showAction(p: Principal, statusId: string): Promise<ActionView> {
    const row = await this.deps.db
      .selectFrom('networking_action')
      .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
      .innerJoin('node', 'node.id', 'nic.node_id')
      .leftJoin('network', 'network.id', 'networking_action.new_network_id')
      .select([
        'networking_action.status',
        'networking_action.type',
        'networking_action.channel',
        'networking_action.error',
        'nic.label as nic',
        'node.label as node',
        'node.project_id',
        'network.label as new_network',
      ])
      .where('networking_action.uuid', '=', statusId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('status_id not found');
    requireProjectAccess(p, row.project_id);
    return { status: row.status, node: row.node, nic: row.nic, type: row.type, channel: row.channel, new_network: row.new_network, error: row.error };
  }
}

export const nodeNetworkService = (deps: CoreDeps) => new NodeNetworkService(deps);
