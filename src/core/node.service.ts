/** Nodes, their NICs and metadata (spec §5.2). */
import { BlockedError, NotFoundError } from '../errors.ts';
import { inTx, type CoreDeps, type Tx } from './context.ts';
import { absentOrConflict, getNic, getNode, insertUnique } from './lookup.ts';
import { requireAdmin, requireProjectAccess, type Principal } from './principal.ts';
import { pythonJsonDumps } from './python-json.ts';
import { runPrecompiled } from '../store/precompiled.ts';
import { hasPendingAction } from '../store/repos/actions.ts';
import { deleteNics, deleteNode, nicsOf } from '../store/repos/nodes.ts';
import { Service } from './service.ts';

/** A node's BMC: its type (drivers/bmc) and that type's registration fields. */
export interface NodeObmSpec {
  type: string;
  params: Record<string, unknown>;
}

export interface NicView {
  label: string;
  macaddr: string | null;
  networks: Record<string, string>;
  port?: string | null;
  switch?: string | null;
}

export interface NodeView {
  name: string;
  project: string | null;
  nics: NicView[];
  metadata: Record<string, string>;
}

export class NodeService extends Service {
  async register(p: Principal, label: string, obm: NodeObmSpec, metadata: Record<string, unknown> = {}): Promise<void> {
    requireAdmin(p);
    // Stored as given, once the type's schema accepts it; parsed again where it is used.
    this.deps.bmcs.resolve(obm.type).params.parse(obm.params);
    const dup = `Node "${label}" already exists.`;
    await inTx(this.deps, async (tx) => {
      await absentOrConflict(tx.selectFrom('node').select('id').where('label', '=', label).executeTakeFirst(), dup);
      const node = await insertUnique(
        tx.insertInto('node').values({ label, project_id: null, obm_type: obm.type, obm_params: JSON.stringify(obm.params), obm_enabled: false, obm_token: null }).returning('id').executeTakeFirstOrThrow(),
        dup,
      );
      const entries = Object.entries(metadata);
      if (entries.length) {
        await tx.insertInto('node_metadata').values(entries.map(([k, v]) => ({ node_id: node.id, label: k, value: pythonJsonDumps(v) }))).execute();
      }
    });
  }

  async delete(p: Principal, label: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const node = await getNode(tx, label, 'update');
      if (node.project_id !== null) {
        const project = await tx.selectFrom('project').select('label').where('id', '=', node.project_id).executeTakeFirstOrThrow();
        throw new BlockedError(`Node "${label}" is part of project "${project.label}"; remove from project before deleting`);
      }
      if ((await nicsOf(tx, node.id)).length) throw new BlockedError(`Node "${label}" has nics; remove them before deleting "${label}".`);
      // Metadata belongs to the node and goes with it (upstream crashed here instead).
      await deleteNode(tx, node.id);
    });
  }

  /**
   * Forgets a free node with its nics and the ports they are cabled to, in
   * one transaction (a derived HIL returning a node to its base); false when
   * it is not free, or a networking action on it is still pending.
   */
  async forgetFree(p: Principal, label: string): Promise<boolean> {
    requireAdmin(p);
    const forgotten = await inTx(this.deps, async (tx) => {
      const node = await tx.selectFrom('node').select(['id', 'project_id']).where('label', '=', label).executeTakeFirst();
      if (!node || node.project_id !== null) return null;
      const nics = await nicsOf(tx, node.id);
      if (await hasPendingAction(tx, { nicIds: nics.map((n) => n.id) })) return null;
      await deleteNics(tx, nics.map((n) => n.id));
      const portIds = nics.map((n) => n.port_id).filter((id): id is number => id !== null);
      if (portIds.length) await tx.deleteFrom('port').where('id', 'in', portIds).execute();
      await deleteNode(tx, node.id);
      return node.id;
    });
    if (forgotten === null) return false;
    this.deps.consoles.stop(forgotten);
    return true;
  }

  async addNic(p: Principal, nodeLabel: string, nicLabel: string, macaddr: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const node = await getNode(tx, nodeLabel, 'share');
      const dup = `Nic "${nicLabel}" already exists on node "${nodeLabel}".`;
      await absentOrConflict(tx.selectFrom('nic').select('id').where('node_id', '=', node.id).where('label', '=', nicLabel).executeTakeFirst(), dup);
      await insertUnique(tx.insertInto('nic').values({ node_id: node.id, label: nicLabel, macaddr, port_id: null }).execute(), dup);
    });
  }

  async deleteNic(p: Principal, nodeLabel: string, nicLabel: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const node = await getNode(tx, nodeLabel, 'update');
      const nic = await getNic(tx, node, nicLabel);
      if (node.project_id !== null) {
        throw new BlockedError('Nic is on a node that belongs to a project. Remove node from project and try again');
      }
      if (await hasPendingAction(tx, { nicIds: [nic.id] })) throw new BlockedError('A networking operation is still active on the nic.');
      await deleteNics(tx, [nic.id]);
    });
  }

  async setMetadata(p: Principal, nodeLabel: string, key: string, value: unknown): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const node = await getNode(tx, nodeLabel, 'share');
      await tx
        .insertInto('node_metadata')
        .values({ node_id: node.id, label: key, value: pythonJsonDumps(value) })
        .onConflict((oc) => oc.columns(['node_id', 'label']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })))
        .execute();
    });
  }

  async deleteMetadata(p: Principal, nodeLabel: string, key: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const node = await getNode(tx, nodeLabel, 'share');
      const r = await tx.deleteFrom('node_metadata').where('node_id', '=', node.id).where('label', '=', key).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw new NotFoundError(`Metadata "${key}" does not exist on node "${nodeLabel}".`);
    });
  }

  async show(p: Principal, label: string): Promise<NodeView> {
    return showNode(this.deps.db, p, label);
  }

  /** `free`: nodes in no project; anything else: every node. Sorted. Any authenticated caller. */
  async list(_p: Principal, which: string): Promise<string[]> {
    const { db, nodeSupply } = this.deps;
    const rows =
      which === 'free'
        ? await runPrecompiled(db, 'nodes.free', [], () => db.selectFrom('node').select('label').where('project_id', 'is', null).orderBy('label'))
        : await runPrecompiled(db, 'nodes.all', [], () => db.selectFrom('node').select('label').orderBy('label'));
    const labels = rows.map((r) => r.label);
    // A derived HIL with on-demand growth also offers its base's free nodes.
    if (which !== 'free' || !nodeSupply) return labels;
    return [...new Set([...labels, ...(await nodeSupply.extraFree())])].sort();
  }
}

export const nodeService = (deps: CoreDeps) => new NodeService(deps);

/**
 * The node view in two queries (it is among the most-read calls): the node
 * with every nic and each nic's networks, then its metadata.
 */
async function showNode(db: Tx, p: Principal, label: string): Promise<NodeView> {
  const rows = await runPrecompiled(db, 'node.show', [label], (l: string) =>
    db
      .selectFrom('node')
      .leftJoin('project', 'project.id', 'node.project_id')
      .leftJoin('nic', 'nic.node_id', 'node.id')
      .leftJoin('port', 'port.id', 'nic.port_id')
      .leftJoin('switch', 'switch.id', 'port.switch_id')
      .leftJoin('network_attachment', 'network_attachment.nic_id', 'nic.id')
      .leftJoin('network', 'network.id', 'network_attachment.network_id')
      .select([
        'node.id as node_id',
        'node.project_id',
        'project.label as project',
        'nic.id as nic_id',
        'nic.label as nic',
        'nic.macaddr',
        'port.label as port',
        'switch.label as switch',
        'network_attachment.channel',
        'network.label as network',
      ])
      .where('node.label', '=', l)
      .orderBy('nic.id')
      .orderBy('network_attachment.id'),
  );
  if (rows.length === 0) throw new NotFoundError(`Node "${label}" does not exist.`);
  const node = rows[0];
  if (node.project_id !== null) requireProjectAccess(p, node.project_id);

  const metadata = await runPrecompiled(db, 'node.metadata', [node.node_id], (id: number) =>
    db.selectFrom('node_metadata').select(['label', 'value']).where('node_id', '=', id).orderBy('label'),
  );

  // Which switch port a nic is cabled to is infrastructure: admins only (as upstream).
  const showWiring = p.isAdmin;
  const nics: NicView[] = [];
  let current: NicView | undefined;
  let currentId: number | null = null;
  for (const r of rows) {
    if (r.nic_id === null) continue; // a node without nics: one row, all nulls
    if (r.nic_id !== currentId) {
      currentId = r.nic_id;
      current = { label: r.nic!, macaddr: r.macaddr, networks: {} };
      if (showWiring) {
        current.port = r.port;
        current.switch = r.switch;
      }
      nics.push(current);
    }
    if (r.channel !== null) current!.networks[r.channel] = r.network!;
  }
  return { metadata: Object.fromEntries(metadata.map((m) => [m.label, m.value])), name: label, nics, project: node.project };
}
