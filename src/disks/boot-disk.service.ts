/**
 * A node that boots from one of its project's disks (docs/images.md
 * "Booting a node from its disk"): `POST /v0/node/<n>/boot_disk`.
 *
 * The disk is exported to the node over iSCSI on the project's boot
 * network, an admin-owned HIL network that only the project may use, made
 * the first time one of its nodes boots from a disk. The node's boot NIC
 * goes on it natively; the storage host is on it too (tagged, with the
 * network's first address: src/exports/boot-networks.ts) and answers the
 * node's DHCP with a fixed address and its iPXE script. So a tenant's node
 * reaches its disk without ever being on the provisioning network, and
 * without reaching anything of another project's.
 */
import { BadArgumentError, BlockedError, DuplicateError, NotFoundError, NotImplementedError, ProjectMismatchError } from '../errors.ts';
import { inTx, type CoreDeps, type Tx } from '../core/context.ts';
import { getNic, getNode, held } from '../core/lookup.ts';
import { admin, requireProjectAccess, type Principal } from '../core/principal.ts';
import { clearFinishedAction, insertAction } from '../core/action-queue.ts';
import { requireNetworksFree } from '../core/provisioning-guard.ts';
import { ADMIN_OWNER, networkService } from '../core/network.service.ts';
import { Service } from '../core/service.ts';
import { isUniqueViolation } from '../store/db.ts';
import type { BootNetworkRow, DiskRow, NicRow, NodeRow } from '../store/schema.ts';
import { bootAddress, storageAddress, type BootSubnets } from './boot-addresses.ts';
import { jumpProbeOf, type JumpProbe } from './jump-probe.ts';
import { connectNative, firstNic } from './boot-nic.ts';
import { freeHost, freeSubnet, isBootNetworkShape } from './boot-allocation.ts';
import { visibleDisk, type ExportView } from './disk-rules.ts';
import { exportFields, exportView, NO_EXPORT } from './export-rows.ts';

export interface BootDiskOptions {
  /** `[exports.boot]`; absent: nodes cannot boot from disks on this HIL. */
  boot?: { subnets: BootSubnets; httpPort: number };
  exports: { advertiseAddress: string; ports: { first: number; last: number } };
  /** Told after a commit that the exports or the boot networks must act on. */
  changed(): void;
}

export interface BootDiskView {
  node: string;
  disk: string;
  nic: string;
  mac: string;
  /** The project's boot network (a HIL network). */
  network: string;
  /** The node's fixed address there, and the storage host's (its DHCP, scripts and export). */
  address: string;
  server: string;
  export: ExportView | null;
  /** The boot NIC's latest networking action (GET /v0/networking_action/<id>): when it is DONE, the node can boot. */
  status_id: string | null;
}

/** The boot network of project `label`. */
export const bootNetworkLabel = (project: string) => `hil-boot-${project}`;
/** The initiator name a diskless node logs in with (its boot command line carries it). */
export const bootInitiator = (nodeId: number) => `iqn.2026-12.org.hil.initiator:node-${nodeId}`;

export class BootDiskService extends Service {
  readonly #o: BootDiskOptions;

  constructor(deps: CoreDeps, o: BootDiskOptions) {
    super(deps);
    this.#o = o;
  }

  /** NotImplementedError (501) unless `[exports.boot]` is configured: for callers that would make something first. */
  requireConfigured = (): void => void this.#subnets;

  get #subnets(): BootSubnets {
    if (!this.#o.boot) throw new NotImplementedError('Booting nodes from disks is not configured on this HIL ([exports.boot]).');
    return this.#o.boot.subnets;
  }

  async set(p: Principal, nodeLabel: string, o: { disk: string; nic?: string }): Promise<BootDiskView> {
    await this.#joining(p, nodeLabel, o, async (tx, joined) => {
      await connectNative(tx, joined.node, joined.nic, joined.networkId, this.deps.allocator.defaultChannel());
    });
    this.deps.actionsQueued();
    return this.show(p, nodeLabel);
  }

  /**
   * The boot disk of a node the provisioning service holds, for a deploy by
   * kexec (src/provisioning/provisioning.service.ts): recorded and exported
   * as set() does, but the NIC stays where it is: the deploy's own move puts
   * it on `network` just before the jump. `inside` runs in the same
   * transaction (the deploy's transition), so either both happen or neither.
   */
  async forDeploy<T>(p: Principal, nodeLabel: string, o: { disk: string; nic?: string }, inside: (tx: Tx, boot: { nic: string; network: string }) => Promise<T>): Promise<T> {
    return this.#joining(p, nodeLabel, o, async (tx, joined) => {
      const net = await tx.selectFrom('network').select('label').where('id', '=', joined.networkId).executeTakeFirstOrThrow();
      return inside(tx, { nic: joined.nic.label, network: net.label });
    });
  }

  /**
   * In `tx`: the node boots from no disk any more, its NIC left where it is
   * (the provisioning service moves it). Answers the disk's label, or null
   * when there was none; call changed() after the commit.
   */
  async releaseInTx(tx: Tx, nodeId: number): Promise<string | null> {
    const boot = await tx.selectFrom('node_boot').innerJoin('disk', 'disk.id', 'node_boot.disk_id').select(['disk.id', 'disk.label']).where('node_boot.node_id', '=', nodeId).executeTakeFirst();
    if (!boot) return null;
    await tx.deleteFrom('node_boot').where('node_id', '=', nodeId).execute();
    await tx.updateTable('disk').set(NO_EXPORT).where('id', '=', boot.id).execute();
    return boot.label;
  }

  /** Tells the exports and the boot networks that a commit changed what they serve. */
  changed(): void {
    this.#o.changed();
  }

  /** Records the node's boot disk on the project's boot network (made if need be), then `then` in the same transaction. */
  async #joining<T>(p: Principal, nodeLabel: string, o: { disk: string; nic?: string }, then: (tx: Tx, joined: Joined) => Promise<T>): Promise<T> {
    const subnets = this.#subnets;
    // Checked once before the boot network is made, so a refused request makes nothing.
    const projectId = await inTx(this.deps, async (tx) => (await this.#checked(tx, p, nodeLabel, o)).node.project_id!);
    for (let attempt = 1; ; attempt++) {
      const bootNet = await this.#bootNetwork(projectId, subnets);
      try {
        const out = await inTx(this.deps, async (tx) => then(tx, await this.#record(tx, p, nodeLabel, o, bootNet, subnets)));
        this.#o.changed();
        return out;
      } catch (err) {
        // Two nodes took the same free address or port, or the boot network was retired
        // (it had no node yet) between its making and this node's joining it: again.
        if (!(isUniqueViolation(err) || err instanceof BootNetworkGone) || attempt === 5) throw err;
      }
    }
  }

  /** What set() refuses, in the order a tenant should hear it. */
  async #checked(tx: Tx, p: Principal, nodeLabel: string, o: { disk: string; nic?: string }): Promise<{ node: NodeRow; disk: DiskRow; nic: NicRow }> {
    if (typeof o.disk !== 'string') throw new BadArgumentError('"disk" must be the name of a disk.');
    const node = await getNode(tx, nodeLabel, 'update');
    if (node.project_id === null) throw new ProjectMismatchError('Node not in project');
    requireProjectAccess(p, node.project_id);
    const disk = await visibleDisk(tx, p, o.disk, 'update');
    if (disk.project_id !== node.project_id) throw new ProjectMismatchError(`Disk "${o.disk}" belongs to another project than node "${nodeLabel}".`);
    if (disk.state !== 'ready') throw new BlockedError(`Disk "${o.disk}" is still being created.`);
    const nic = o.nic === undefined ? await firstNic(tx, node) : await getNic(tx, node, o.nic);
    if (nic.port_id === null) throw new BadArgumentError(`Nic ${nic.label} is not connected to a switch port.`);
    const current = await tx.selectFrom('node_boot').selectAll().where('node_id', '=', node.id).executeTakeFirst();
    if (current && (current.disk_id !== disk.id || current.nic_id !== nic.id)) {
      throw new BlockedError(`Node ${nodeLabel} boots from another disk or NIC already; clear it first (hil node boot-disk clear ${nodeLabel}).`);
    }
    if (!current && disk.node_id !== null) {
      const user = await tx.selectFrom('node').select('label').where('id', '=', disk.node_id).executeTakeFirstOrThrow();
      throw new BlockedError(`Disk "${o.disk}" is in use by node "${user.label}"; detach it first (hil disk detach ${o.disk}).`);
    }
    return { node, disk, nic };
  }

  async #record(tx: Tx, p: Principal, nodeLabel: string, o: { disk: string; nic?: string }, bootNet: BootNetworkRow, subnets: BootSubnets): Promise<Joined> {
    const { node, disk, nic } = await this.#checked(tx, p, nodeLabel, o);
    // Held until commit: the boot-networks keeper retires a nodeless boot network under the same lock.
    const stillThere = await held(tx, tx.selectFrom('boot_network').select('id').where('id', '=', bootNet.id), 'update').executeTakeFirst();
    if (!stillThere) throw new BootNetworkGone();
    const current = await tx.selectFrom('node_boot').select('node_id').where('node_id', '=', node.id).executeTakeFirst();
    if (!current) {
      await tx
        .insertInto('node_boot')
        .values({ node_id: node.id, disk_id: disk.id, nic_id: nic.id, boot_network_id: bootNet.id, host: await freeHost(tx, bootNet.id), created_at: Date.now() })
        .execute();
      const how = { protocol: 'iscsi' as const, initiator: bootInitiator(node.id), address: storageAddress(subnets, bootNet.subnet) };
      await tx.updateTable('disk').set(await exportFields(tx, disk, node.id, how, this.#o.exports.ports)).where('id', '=', disk.id).execute();
    }
    return { node, nic, networkId: bootNet.network_id };
  }

  /** The node boots from no disk any more: its export stops and its boot NIC leaves the boot network. Clearing nothing is fine. */
  async clear(p: Principal, nodeLabel: string): Promise<void> {
    this.requireConfigured(); // not configured: 501, as for set and show
    const changed = await inTx(this.deps, async (tx) => {
      const node = await getNode(tx, nodeLabel, 'update');
      requireProjectAccess(p, node.project_id);
      const boot = await tx.selectFrom('node_boot').selectAll().where('node_id', '=', node.id).executeTakeFirst();
      if (!boot) return false;
      const net = await tx.selectFrom('boot_network').select('network_id').where('id', '=', boot.boot_network_id).executeTakeFirstOrThrow();
      const attachment = await tx.selectFrom('network_attachment').select('channel').where('nic_id', '=', boot.nic_id).where('network_id', '=', net.network_id).executeTakeFirst();
      if (attachment) {
        await requireNetworksFree(tx, node.id);
        await clearFinishedAction(tx, boot.nic_id);
        await insertAction(tx, { nicId: boot.nic_id, type: 'modify_port', channel: attachment.channel, newNetworkId: null });
      }
      await tx.deleteFrom('node_boot').where('node_id', '=', node.id).execute();
      await tx.updateTable('disk').set(NO_EXPORT).where('id', '=', boot.disk_id).execute();
      return true;
    });
    if (!changed) return;
    this.deps.actionsQueued();
    this.#o.changed();
  }

  async show(p: Principal, nodeLabel: string): Promise<BootDiskView> {
    const subnets = this.#subnets;
    const db = this.deps.db;
    const node = await getNode(db, nodeLabel);
    requireProjectAccess(p, node.project_id);
    const row = await db
      .selectFrom('node_boot')
      .innerJoin('disk', 'disk.id', 'node_boot.disk_id')
      .innerJoin('nic', 'nic.id', 'node_boot.nic_id')
      .innerJoin('boot_network', 'boot_network.id', 'node_boot.boot_network_id')
      .innerJoin('network', 'network.id', 'boot_network.network_id')
      .selectAll('disk')
      .select(['node_boot.nic_id', 'nic.label as nic_label', 'nic.macaddr', 'network.label as network_label', 'boot_network.subnet', 'node_boot.host'])
      .where('node_boot.node_id', '=', node.id)
      .executeTakeFirst();
    if (!row) throw new NotFoundError(`Node ${nodeLabel} boots from no disk.`);
    const action = await db.selectFrom('networking_action').select('uuid').where('nic_id', '=', row.nic_id).executeTakeFirst();
    return {
      node: nodeLabel,
      disk: row.label,
      nic: row.nic_label,
      mac: row.macaddr ?? '',
      network: row.network_label,
      address: bootAddress(subnets, row.subnet, row.host),
      server: storageAddress(subnets, row.subnet),
      export: exportView(row, this.#o.exports.advertiseAddress),
      status_id: action?.uuid ?? null,
    };
  }

  /** Where a deploy's FPBL asks whether to jump (jump-probe.ts); undefined: the node boots from no disk. */
  jumpProbe = (nodeId: number): Promise<JumpProbe | undefined> => (this.#o.boot ? jumpProbeOf(this.deps.db, this.#o.boot, nodeId) : Promise.resolve(undefined));

  /**
   * The project's boot network, made the first time it is needed: a HIL
   * network owned by the admins (so the tenant cannot delete it) that only
   * the project may use, with the lowest free /24 of the boot range.
   */
  async #bootNetwork(projectId: number, subnets: BootSubnets): Promise<BootNetworkRow> {
    const db = this.deps.db;
    const project = await db.selectFrom('project').select('label').where('id', '=', projectId).executeTakeFirstOrThrow();
    const label = bootNetworkLabel(project.label);
    for (let attempt = 1; ; attempt++) {
      const existing = await db.selectFrom('boot_network').selectAll().where('project_id', '=', projectId).executeTakeFirst();
      if (existing) return existing;
      const network = await db.selectFrom('network').select('id').where('label', '=', label).executeTakeFirst();
      if (!network) await networkService(this.deps).create(admin('hil-boot'), label, ADMIN_OWNER, project.label, '').catch(ignoreDuplicate);
      try {
        const made = await inTx(this.deps, async (tx) => {
          const again = await tx.selectFrom('boot_network').selectAll().where('project_id', '=', projectId).executeTakeFirst();
          if (again) return again;
          // Locked so that a deletion of the (nodeless, rowless) network cannot slip in before the row.
          const net = await held(tx, tx.selectFrom('network').select(['id', 'owner_id']).where('label', '=', label), 'update').executeTakeFirst();
          if (!net) return undefined;
          // A network by that name that is not one HIL made (admin-owned, for this project alone) is not taken over.
          if (!(await isBootNetworkShape(tx, net, projectId))) {
            throw new BlockedError(`Network ${label} exists and is not project ${project.label}'s boot network; an administrator must rename or delete it.`);
          }
          const subnet = await freeSubnet(tx, subnets);
          return tx.insertInto('boot_network').values({ project_id: projectId, network_id: net.id, subnet, created_at: Date.now() }).returningAll().executeTakeFirstOrThrow();
        });
        if (made) return made;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
      }
      // Another project took the subnet, or the network was deleted meanwhile: again.
      // A collision on the lowest free subnet is another project's boot network
      // made, so each retry is progress; MAKE_ATTEMPTS projects' first boots fit at once.
      if (attempt === MAKE_ATTEMPTS) throw new BlockedError(`Project ${project.label}'s boot network could not be made; try again.`);
    }
  }
}

/** How often #bootNetwork tries before it gives up (each failed try means another project's network was made). */
const MAKE_ATTEMPTS = 32;

/** A node's boot disk recorded: the node, its boot NIC and the boot network's id. */
interface Joined {
  node: NodeRow;
  nic: NicRow;
  networkId: number;
}

/** The boot network a node was about to join was retired meanwhile (internal: set() tries again). */
class BootNetworkGone extends Error {}

/** Two first boots of one project's nodes both make its network: the second finds it made. */
function ignoreDuplicate(err: unknown): void {
  if (!(err instanceof DuplicateError)) throw err;
}

export const bootDiskService = (deps: CoreDeps, o: BootDiskOptions) => new BootDiskService(deps, o);
