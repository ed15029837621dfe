/** Projects, and nodes entering and leaving them (spec §5.1, §5.9). */
import { provisioningState } from './provisioning-guard.ts';
import { hasPendingAction } from '../store/repos/actions.ts';
import { projectHas } from '../store/repos/tenant-access.ts';
import { requireRoom } from './quotas.ts';
import { BlockedError, NotFoundError } from '../errors.ts';
import { inTx, type CoreDeps } from './context.ts';
import { getNode, getProject, insertUnique, absentOrConflict } from './lookup.ts';
import { requireAdmin, requireProjectAccess, type Principal } from './principal.ts';
import { Service } from './service.ts';

export class ProjectService extends Service {
  async list(p: Principal): Promise<string[]> {
    requireAdmin(p);
    const rows = await this.deps.db.selectFrom('project').select('label').orderBy('label').execute();
    return rows.map((r) => r.label);
  }

  async create(p: Principal, label: string): Promise<void> {
    requireAdmin(p);
    await absentOrConflict(this.deps.db.selectFrom('project').select('id').where('label', '=', label).executeTakeFirst(), `Project "${label}" already exists.`);
    await insertUnique(this.deps.db.insertInto('project').values({ label }).execute(), `Project "${label}" already exists.`);
    // A token backend may map callers to this project by name or id: they get it at once, not after refresh_ms.
    this.deps.usersChanged();
  }

  async delete(p: Principal, label: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const project = await getProject(tx, label, 'update');
      const has = async (q: Promise<unknown>) => (await q) !== undefined;
      if (await has(tx.selectFrom('node').select('id').where('project_id', '=', project.id).executeTakeFirst())) {
        throw new BlockedError('Project has nodes still');
      }
      if (await has(tx.selectFrom('network').select('id').where('owner_id', '=', project.id).executeTakeFirst())) {
        throw new BlockedError('Project still has networks');
      }
      if (await has(tx.selectFrom('network_access').select('network_id').where('project_id', '=', project.id).executeTakeFirst())) {
        throw new BlockedError('Project can still access networks');
      }
      if (await projectHas(tx, 'headnode', project.id)) throw new BlockedError('Project still has a headnode');
      if (await projectHas(tx, 'vpn', project.id)) throw new BlockedError('Project still has VPNs');
      if (await has(tx.selectFrom('image').select('id').where('project_id', '=', project.id).executeTakeFirst())) {
        throw new BlockedError('Project still has images');
      }
      if (await has(tx.selectFrom('disk').select('id').where('project_id', '=', project.id).executeTakeFirst())) {
        throw new BlockedError('Project still has disks');
      }
      await tx.deleteFrom('user_project').where('project_id', '=', project.id).execute();
      await tx.deleteFrom('project').where('id', '=', project.id).execute();
    });
    this.deps.usersChanged();
  }

  /** Takes any free node that is ready in its FPBL; returns its name. */
  async connectReadyNode(p: Principal, projectLabel: string): Promise<{ node: string }> {
    const project = await getProject(this.deps.db, projectLabel);
    requireProjectAccess(p, project.id);
    const candidates = await this.deps.db
      .selectFrom('node')
      .innerJoin('node_provisioning', 'node_provisioning.node_id', 'node.id')
      .select('node.label')
      .where('node.project_id', 'is', null)
      .where('node_provisioning.state', '=', 'ready')
      .orderBy('node.label')
      .execute();
    for (const { label } of candidates) {
      try {
        await this.connectNode(p, projectLabel, label);
        return { node: label };
      } catch (err) {
        if (!(err instanceof BlockedError)) throw err; // another request took it first: try the next
      }
    }
    throw new BlockedError('No free node is ready.');
  }

  async connectNode(p: Principal, projectLabel: string, nodeLabel: string): Promise<void> {
    const supply = this.deps.nodeSupply;
    if (supply && !(await this.deps.db.selectFrom('node').select('id').where('label', '=', nodeLabel).executeTakeFirst())) {
      // Only a member may make this HIL take a node from its base for the project.
      requireProjectAccess(p, (await getProject(this.deps.db, projectLabel)).id);
      await supply.provide(nodeLabel);
    }
    const moved = await inTx(this.deps, async (tx) => {
      // Locked: the project's nodes are counted against its quota, and it must not be deleted meanwhile.
      const project = await getProject(tx, projectLabel, 'update');
      requireProjectAccess(p, project.id);
      const node = await getNode(tx, nodeLabel);
      await requireRoom(tx, this.deps, 'nodes', project);
      // The WHERE makes two concurrent requests for one free node safe: one wins.
      const r = await tx.updateTable('node').set({ project_id: project.id }).where('id', '=', node.id).where('project_id', 'is', null).executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new BlockedError('Node is already owned by a project.');
      return { nodeId: node.id, projectId: project.id };
    });
    this.deps.consoles.newTenant(moved.nodeId, moved.projectId);
    supply?.freePoolChanged();
  }

  async detachNode(p: Principal, projectLabel: string, nodeLabel: string): Promise<void> {
    const movedToMaintenance = await inTx(this.deps, async (tx) => {
      const project = await getProject(tx, projectLabel, 'share');
      requireProjectAccess(p, project.id);
      const node = await getNode(tx, nodeLabel, 'update');
      if (node.project_id !== project.id) throw new NotFoundError('Node not in project');
      if (node.obm_enabled) throw new BlockedError(`Node ${nodeLabel}'s obm is enabled. Disable it first (hil node obm disable ${nodeLabel}).`);
      const nics = tx.selectFrom('nic').select('id').where('node_id', '=', node.id);
      // A node the provisioning service holds goes back to the free pool
      // ready, in its FPBL, on the provisioning network; a deployed (or
      // half-way) one must be reclaimed first.
      const provisioning = await provisioningState(tx, node.id);
      if (provisioning !== null && provisioning !== 'ready') throw new BlockedError(`Node is ${provisioning}; reclaim it first (hil node reclaim).`);
      const attachedQuery = tx.selectFrom('network_attachment').select('id').where('nic_id', 'in', nics);
      const attached = () =>
        (provisioning === 'ready' && this.deps.provisioningNetwork
          ? attachedQuery.where('network_id', 'not in', tx.selectFrom('network').select('id').where('label', '=', this.deps.provisioningNetwork))
          : attachedQuery
        ).executeTakeFirst();
      if (await attached()) throw new BlockedError('Node attached to a network');
      // A disk exported to a node stays its project's: the node cannot leave with it.
      const disks = await tx.selectFrom('disk').select('label').where('node_id', '=', node.id).orderBy('label').execute();
      if (disks.length) throw new BlockedError(`Node uses disk${disks.length > 1 ? 's' : ''} ${disks.map((d) => d.label).join(', ')}; detach ${disks.length > 1 ? 'them' : 'it'} first (hil disk detach DISK).`);
      const pending = await hasPendingAction(tx, { nodeId: node.id });
      if (pending) throw new BlockedError('Node has pending network actions');
      // Each statement reads what is committed when it runs: a connect the worker applied between the
      // attachment read and the pending read left neither to see. Applied actions only turn pending
      // into attached, so one more look at the attachments, now that none is pending, closes that gap.
      if (await attached()) throw new BlockedError('Node attached to a network');

      let newProjectId: number | null = null;
      const m = this.deps.maintenance;
      if (m) {
        const maint = await tx.selectFrom('project').select('id').where('label', '=', m.project).executeTakeFirst();
        if (!maint) throw new NotFoundError(`Maintenance project "${m.project}" does not exist.`);
        if (maint.id !== project.id) newProjectId = maint.id;
      }
      // Guarded by the project it checked: a concurrent detach (or a move to another project) cannot be undone or doubled.
      const r = await tx.updateTable('node').set({ project_id: newProjectId }).where('id', '=', node.id).where('project_id', '=', project.id).executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new NotFoundError('Node not in project');
      return newProjectId !== null;
    });
    if (movedToMaintenance) await this.deps.maintenance!.notifier.nodeArrived(nodeLabel);
    else this.deps.nodeSupply?.freePoolChanged();
  }

  async nodes(p: Principal, projectLabel: string): Promise<string[]> {
    const project = await getProject(this.deps.db, projectLabel);
    requireProjectAccess(p, project.id);
    const rows = await this.deps.db.selectFrom('node').select('label').where('project_id', '=', project.id).orderBy('id').execute();
    return rows.map((r) => r.label);
  }

  async networks(p: Principal, projectLabel: string): Promise<string[]> {
    const project = await getProject(this.deps.db, projectLabel);
    requireProjectAccess(p, project.id);
    const rows = await this.deps.db
      .selectFrom('network')
      .innerJoin('network_access', 'network_access.network_id', 'network.id')
      .select('network.label')
      .where('network_access.project_id', '=', project.id)
      .orderBy('network.label')
      .execute();
    return rows.map((r) => r.label);
  }

  /** The project's headnodes, sorted. */
  async headnodes(p: Principal, projectLabel: string): Promise<string[]> {
    const project = await getProject(this.deps.db, projectLabel);
    requireProjectAccess(p, project.id);
    const rows = await this.deps.db.selectFrom('headnode').select('label').where('project_id', '=', project.id).orderBy('label').execute();
    return rows.map((r) => r.label);
  }
}

export const projectService = (deps: CoreDeps) => new ProjectService(deps);
