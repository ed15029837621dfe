/** Networks: ownership, access lists and who may see what (spec §5.3). */
import { headnodeOnNetwork, vpnOnNetwork } from '../store/repos/tenant-access.ts';
import { AllocationError, AuthorizationError, BadArgumentError, BlockedError, NotFoundError } from '../errors.ts';
import { inTx, type CoreDeps, type Tx } from './context.ts';
import { absentOrConflict, getNetwork, getProject, insertUnique } from './lookup.ts';
import { hasProjectAccess, requireAdmin, requireProjectAccess, type Principal } from './principal.ts';
import { hasPendingAction } from '../store/repos/actions.ts';
import { requireRoom } from './quotas.ts';
import { Service } from './service.ts';

/** The owner name upstream uses for admin-owned networks. */
export const ADMIN_OWNER = 'admin';

export interface NetworkView {
  name: string;
  owner: string;
  access: string[] | null;
  channels: string[];
  'connected-nodes': Record<string, string[]>;
}

async function accessList(tx: Tx, networkId: number) {
  return tx
    .selectFrom('network_access')
    .innerJoin('project', 'project.id', 'network_access.project_id')
    .select(['project.id', 'project.label'])
    .where('network_access.network_id', '=', networkId)
    .orderBy('project.id')
    .execute();
}

const duplicate = (label: string) => `Network "${label}" already exists.`;

export class NetworkService extends Service {
  /** Who may create the network, and who may use it; throws as upstream does. */
  async #creationChecks(tx: Tx, p: Principal, label: string, owner: string, access: string, netId: string) {
    await absentOrConflict(tx.selectFrom('network').select('id').where('label', '=', label).executeTakeFirst(), duplicate(label));
    if (owner !== ADMIN_OWNER) {
      // Locked: the project's networks are counted against its quota, and it must not be deleted meanwhile.
      const project = await getProject(tx, owner, 'update');
      requireProjectAccess(p, project.id);
      if (access !== owner) throw new BadArgumentError('Project-owned networks must be accessible by the owner.');
      if (netId !== '') throw new BadArgumentError('Project-owned networks must use network ID allocation');
      await requireRoom(tx, this.deps, 'networks', project);
      return { ownerId: project.id as number | null, accessIds: [project.id] };
    }
    requireAdmin(p);
    return { ownerId: null, accessIds: access === '' ? [] : [(await getProject(tx, access, 'share')).id] };
  }

  /** Creates the network in one transaction (allocating its ID there, unless `preallocated`). */
  #createInTx(p: Principal, label: string, owner: string, access: string, netId: string, preallocated: string | null): Promise<void> {
    return inTx(this.deps, async (tx) => {
      const { ownerId, accessIds } = await this.#creationChecks(tx, p, label, owner, access, netId);
      let networkId: string;
      let fromPool: boolean;
      if (netId === '') {
        const id = preallocated ?? (await this.deps.allocator.allocate(tx));
        if (id === null) throw new AllocationError('No more networks: every network ID of the pool is taken (network.vlans).');
        networkId = id;
        fromPool = true;
      } else {
        if (!this.deps.allocator.isValid(netId)) throw new BadArgumentError('Invalid net_id');
        await this.deps.allocator.claim(tx, netId);
        networkId = netId;
        fromPool = await this.deps.allocator.isInPool(tx, netId);
      }
      const net = await insertUnique(
        tx.insertInto('network').values({ label, owner_id: ownerId, allocated: fromPool, network_id: networkId }).returning('id').executeTakeFirstOrThrow(),
        duplicate(label),
      );
      if (accessIds.length) {
        await tx.insertInto('network_access').values(accessIds.map((project_id) => ({ network_id: net.id, project_id }))).execute();
      }
    });
  }

  /** The network, if it may be deleted now; throws as upstream does. */
  async #deletionChecks(tx: Tx, p: Principal, label: string) {
    const net = await getNetwork(tx, label, 'update');
    requireProjectAccess(p, net.owner_id);
    const attached = await tx
      .selectFrom('network_attachment')
      .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
      .innerJoin('node', 'node.id', 'nic.node_id')
      .select(['node.label as node', 'nic.label as nic'])
      .where('network_attachment.network_id', '=', net.id)
      .orderBy('node.label')
      .orderBy('nic.label')
      .limit(6)
      .execute();
    if (attached.length) {
      // Which nics, and how to free them: the attachment list is public to whoever may see the network.
      const named = attached.slice(0, 5).map((a) => `${a.node} (${a.nic})`);
      if (attached.length > 5) named.push('and more');
      throw new BlockedError(`Network ${label} is still connected to nodes: ${named.join(', ')}. Detach them first (hil node network detach NODE NIC ${label}).`);
    }
    if (await headnodeOnNetwork(tx, net.id)) throw new BlockedError('Network still connected to headnodes');
    const vpn = await vpnOnNetwork(tx, net.id);
    if (vpn) throw new BlockedError(`Network ${label} still has a VPN (${vpn}); delete it first (hil network vpn delete ${vpn}).`);
    if (await hasPendingAction(tx, { networkId: net.id })) throw new BlockedError('There are pending actions on this network');
    const boot = await tx.selectFrom('boot_network').innerJoin('project', 'project.id', 'boot_network.project_id').select('project.label').where('boot_network.network_id', '=', net.id).executeTakeFirst();
    if (boot) throw new BlockedError(`Network ${label} is the boot network of project ${boot.label}; HIL removes it once no node of ${boot.label} boots from a disk.`);
    return net;
  }

  async #deleteRows(tx: Tx, networkId: number): Promise<void> {
    // Finished actions only record history; they must not pin the network.
    await tx.deleteFrom('networking_action').where('new_network_id', '=', networkId).execute();
    await tx.deleteFrom('network_access').where('network_id', '=', networkId).execute();
    await tx.deleteFrom('network').where('id', '=', networkId).execute();
  }

  async create(p: Principal, label: string, owner: string, access: string, netId: string): Promise<void> {
    if (netId !== '' || !this.deps.allocator.external) return this.#createInTx(p, label, owner, access, netId, null);
    // An external this.deps.allocator (a derived HIL's base) is a call to another
    // server: made between two transactions, never inside one, so that a
    // slow base cannot hold this database; undone if the record fails.
    await inTx(this.deps, (tx) => this.#creationChecks(tx, p, label, owner, access, netId));
    const id = await this.deps.allocator.allocate(this.deps.db);
    if (id === null) throw new AllocationError('No more networks: every network ID of the pool is taken (network.vlans).');
    try {
      await this.#createInTx(p, label, owner, access, netId, id);
    } catch (err) {
      await this.deps.allocator.free(this.deps.db, id).catch((e: Error) => this.deps.log.warn({ networkId: id, err: e.message }, 'could not undo a network allocation'));
      throw err;
    }
  }

  async delete(p: Principal, label: string): Promise<void> {
    if (!this.deps.allocator.external) {
      return inTx(this.deps, async (tx) => {
        const net = await this.#deletionChecks(tx, p, label);
        if (net.allocated) await this.deps.allocator.free(tx, net.network_id);
        await this.#deleteRows(tx, net.id);
      });
    }
    // External: free it there first (a failure there changes nothing here), then forget it.
    const net = await inTx(this.deps, (tx) => this.#deletionChecks(tx, p, label));
    if (net.allocated) await this.deps.allocator.free(this.deps.db, net.network_id);
    await inTx(this.deps, async (tx) => this.#deleteRows(tx, (await this.#deletionChecks(tx, p, label)).id));
  }

  async show(p: Principal, label: string): Promise<NetworkView> {
    const net = await getNetwork(this.deps.db, label);
    const access = await accessList(this.deps.db, net.id);
    if (access.length && !access.some((a) => hasProjectAccess(p, a.id))) {
      throw new AuthorizationError('You do not have access to this network.');
    }
    const owner = net.owner_id === null ? ADMIN_OWNER : (await this.deps.db.selectFrom('project').select('label').where('id', '=', net.owner_id).executeTakeFirstOrThrow()).label;
    const attached = await this.deps.db
      .selectFrom('network_attachment')
      .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
      .innerJoin('node', 'node.id', 'nic.node_id')
      .select(['node.label as node', 'node.project_id', 'nic.label as nic'])
      .where('network_attachment.network_id', '=', net.id)
      .orderBy('network_attachment.id')
      .execute();
    const ownerAccess = hasProjectAccess(p, net.owner_id);
    const connected: Record<string, string[]> = {};
    for (const a of attached) {
      if (!ownerAccess && !hasProjectAccess(p, a.project_id)) continue;
      (connected[a.node] ??= []).push(a.nic);
    }
    return {
      name: net.label,
      owner,
      access: access.length ? access.map((a) => a.label) : null,
      channels: this.deps.allocator.legalChannels(net.network_id),
      'connected-nodes': connected,
    };
  }

  /** Admins see every network; everyone else sees the public ones (spec §5.3.4). */
  async list(p: Principal): Promise<Record<string, { network_id: string; projects: string[] | null }>> {
    const nets = await this.deps.db.selectFrom('network').select(['id', 'label', 'network_id']).orderBy('label').execute();
    const access = await this.deps.db
      .selectFrom('network_access')
      .innerJoin('project', 'project.id', 'network_access.project_id')
      .select(['network_access.network_id', 'project.label'])
      .orderBy('project.label')
      .execute();
    const byNet = new Map<number, string[]>();
    for (const a of access) {
      const list = byNet.get(a.network_id) ?? [];
      list.push(a.label);
      byNet.set(a.network_id, list);
    }
    const out: Record<string, { network_id: string; projects: string[] | null }> = {};
    for (const n of nets) {
      const projects = byNet.get(n.id) ?? null;
      if (projects && !p.isAdmin) continue;
      out[n.label] = { network_id: n.network_id, projects };
    }
    return out;
  }

  async attachments(p: Principal, label: string, projectLabel?: string): Promise<Record<string, { nic: string; channel: string; project: string }>> {
    const net = await getNetwork(this.deps.db, label);
    let q = this.deps.db
      .selectFrom('network_attachment')
      .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
      .innerJoin('node', 'node.id', 'nic.node_id')
      .innerJoin('project', 'project.id', 'node.project_id')
      .select(['node.label as node', 'nic.label as nic', 'network_attachment.channel', 'project.label as project'])
      .where('network_attachment.network_id', '=', net.id);
    if (projectLabel === undefined) {
      requireProjectAccess(p, net.owner_id);
    } else {
      const project = await getProject(this.deps.db, projectLabel);
      if (!hasProjectAccess(p, net.owner_id)) {
        const inList = await this.deps.db
          .selectFrom('network_access')
          .select('project_id')
          .where('network_id', '=', net.id)
          .where('project_id', '=', project.id)
          .executeTakeFirst();
        if (!inList || !hasProjectAccess(p, project.id)) throw new AuthorizationError('You do not have access to the required project.');
      }
      q = q.where('node.project_id', '=', project.id);
    }
    const rows = await q.orderBy('node.label').orderBy('network_attachment.id').execute();
    const out: Record<string, { nic: string; channel: string; project: string }> = {};
    for (const r of rows) out[r.node] = { nic: r.nic, channel: r.channel, project: r.project };
    return out;
  }

  async grantAccess(p: Principal, label: string, projectLabel: string): Promise<void> {
    await inTx(this.deps, async (tx) => {
      const net = await getNetwork(tx, label, 'share');
      const project = await getProject(tx, projectLabel, 'share');
      requireProjectAccess(p, net.owner_id);
      await insertUnique(
        tx.insertInto('network_access').values({ network_id: net.id, project_id: project.id }).execute(),
        `Network ${label} is already in project ${projectLabel}`,
      );
    });
  }

  async revokeAccess(p: Principal, label: string, projectLabel: string): Promise<void> {
    await inTx(this.deps, async (tx) => {
      const net = await getNetwork(tx, label, 'update');
      const project = await getProject(tx, projectLabel, 'share');
      const access = await accessList(tx, net.id);
      const inList = access.some((a) => a.id === project.id);
      if (access.length && !hasProjectAccess(p, net.owner_id) && !(inList && hasProjectAccess(p, project.id))) {
        throw new AuthorizationError('You do not have access to the required project.');
      }
      if (!inList) throw new NotFoundError(`Network "${label}" is not in project "${projectLabel}"`);
      if (net.owner_id === project.id) throw new BlockedError(`Project "${projectLabel}" is the owner of network "${label}"; it cannot lose access.`);
      const attached = await tx
        .selectFrom('network_attachment')
        .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
        .innerJoin('node', 'node.id', 'nic.node_id')
        .select('network_attachment.id')
        .where('network_attachment.network_id', '=', net.id)
        .where('node.project_id', '=', project.id)
        .executeTakeFirst();
      if (attached) throw new BlockedError('Project still has node(s) attached to the network');
      // A connect still queued counts as attached: the worker would put the nic on a network its project lost.
      const queued = await tx
        .selectFrom('networking_action')
        .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
        .innerJoin('node', 'node.id', 'nic.node_id')
        .select('networking_action.id')
        .where('networking_action.status', '=', 'PENDING')
        .where('networking_action.new_network_id', '=', net.id)
        .where('node.project_id', '=', project.id)
        .executeTakeFirst();
      if (queued) throw new BlockedError('Project still has node(s) being connected to the network');
      if (await headnodeOnNetwork(tx, net.id, project.id)) throw new BlockedError('Project still has headnode(s) attached to the network');
      if (await vpnOnNetwork(tx, net.id, project.id)) throw new BlockedError('Project still has VPN(s) on the network');
      await tx.deleteFrom('network_access').where('network_id', '=', net.id).where('project_id', '=', project.id).execute();
    });
  }
}

export const networkService = (deps: CoreDeps) => new NetworkService(deps);
