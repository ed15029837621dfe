/** Nodes, their NICs and metadata (spec §5.2). */
import { BadArgumentError, BlockedError, NotFoundError } from './errors.ts';
import { inTx, type CoreDeps, type Tx } from './context.ts';
import { absentOrConflict, getNic, getNode, insertUnique } from './lookup.ts';
import { requireAdmin, requireProjectAccess, type Principal } from './principal.ts';
import { pythonJsonDumps } from './python-json.ts';

export type NodeObmSpec =
  | { kind: 'obmd'; uri: string; adminToken: string }
  | { kind: 'builtin'; type: string; params: Record<string, unknown> };

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

export function nodeService(deps: CoreDeps) {
  const { db } = deps;

  return {
    async register(p: Principal, label: string, obm: NodeObmSpec, metadata: Record<string, unknown> = {}): Promise<void> {
      requireAdmin(p);
      let obmType: string, obmParams: Record<string, unknown>;
      if (obm.kind === 'obmd') {
        if (!/^https?:\/\/[^/]/.test(obm.uri)) throw new BadArgumentError('obmd.uri must be an http or https URL');
        obmType = 'obmd';
        obmParams = { uri: obm.uri.replace(/\/+$/, ''), admin_token: obm.adminToken };
      } else {
        deps.obms.resolve(obm.type).validateParams(obm.params);
        obmType = obm.type;
        obmParams = obm.params;
      }
      const dup = `Node "${label}" already exists.`;
      await inTx(deps, async (tx) => {
        await absentOrConflict(tx.selectFrom('node').select('id').where('label', '=', label).executeTakeFirst(), dup);
        const node = await insertUnique(
          tx.insertInto('node').values({ label, project_id: null, obm_type: obmType, obm_params: JSON.stringify(obmParams), obm_enabled: false, obmd_node_token: null }).returning('id').executeTakeFirstOrThrow(),
          dup,
        );
        const entries = Object.entries(metadata);
        if (entries.length) {
          await tx.insertInto('node_metadata').values(entries.map(([k, v]) => ({ node_id: node.id, label: k, value: pythonJsonDumps(v) }))).execute();
        }
      });
    },

    async delete(p: Principal, label: string): Promise<void> {
      requireAdmin(p);
      await inTx(deps, async (tx) => {
        const node = await getNode(tx, label);
        if (node.project_id !== null) {
          const project = await tx.selectFrom('project').select('label').where('id', '=', node.project_id).executeTakeFirstOrThrow();
          throw new BlockedError(`Node "${label}" is part of project "${project.label}"; remove from project before deleting`);
        }
        if (await tx.selectFrom('nic').select('id').where('node_id', '=', node.id).executeTakeFirst()) {
          throw new BlockedError(`Node "${label}" has nics; remove them before deleting "${label}".`);
        }
        // Metadata belongs to the node and goes with it (upstream crashed here instead).
        await tx.deleteFrom('node_metadata').where('node_id', '=', node.id).execute();
        await tx.deleteFrom('node').where('id', '=', node.id).execute();
      });
    },

    async addNic(p: Principal, nodeLabel: string, nicLabel: string, macaddr: string): Promise<void> {
      requireAdmin(p);
      await inTx(deps, async (tx) => {
        const node = await getNode(tx, nodeLabel);
        const dup = `Nic "${nicLabel}" already exists on node "${nodeLabel}".`;
        await absentOrConflict(tx.selectFrom('nic').select('id').where('node_id', '=', node.id).where('label', '=', nicLabel).executeTakeFirst(), dup);
        await insertUnique(tx.insertInto('nic').values({ node_id: node.id, label: nicLabel, macaddr, port_id: null }).execute(), dup);
      });
    },

    async deleteNic(p: Principal, nodeLabel: string, nicLabel: string): Promise<void> {
      requireAdmin(p);
      await inTx(deps, async (tx) => {
        const node = await getNode(tx, nodeLabel);
        const nic = await getNic(tx, node, nicLabel);
        if (node.project_id !== null) {
          throw new BlockedError('Nic is on a node that belongs to a project. Remove node from project and try again');
        }
        const action = await tx.selectFrom('networking_action').select('status').where('nic_id', '=', nic.id).executeTakeFirst();
        if (action?.status === 'PENDING') throw new BlockedError('A networking operation is still active on the nic.');
        await tx.deleteFrom('networking_action').where('nic_id', '=', nic.id).execute();
        await tx.deleteFrom('network_attachment').where('nic_id', '=', nic.id).execute();
        await tx.deleteFrom('nic').where('id', '=', nic.id).execute();
      });
    },

    async setMetadata(p: Principal, nodeLabel: string, key: string, value: unknown): Promise<void> {
      requireAdmin(p);
      await inTx(deps, async (tx) => {
        const node = await getNode(tx, nodeLabel);
        await tx
          .insertInto('node_metadata')
          .values({ node_id: node.id, label: key, value: pythonJsonDumps(value) })
          .onConflict((oc) => oc.columns(['node_id', 'label']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })))
          .execute();
      });
    },

    async deleteMetadata(p: Principal, nodeLabel: string, key: string): Promise<void> {
      requireAdmin(p);
      await inTx(deps, async (tx) => {
        const node = await getNode(tx, nodeLabel);
        const r = await tx.deleteFrom('node_metadata').where('node_id', '=', node.id).where('label', '=', key).executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) throw new NotFoundError(`Metadata "${key}" does not exist on node "${nodeLabel}".`);
      });
    },

    async show(p: Principal, label: string): Promise<NodeView> {
      return showNode(db, p, label);
    },

    /** `free`: nodes in no project; anything else: every node. Sorted. */
    async list(p: Principal, which: string): Promise<string[]> {
      void p; // any authenticated caller
      let q = db.selectFrom('node').select('label');
      if (which === 'free') q = q.where('project_id', 'is', null);
      const rows = await q.orderBy('label').execute();
      return rows.map((r) => r.label);
    },
  };
}

async function showNode(db: Tx, p: Principal, label: string): Promise<NodeView> {
  const node = await db
    .selectFrom('node')
    .leftJoin('project', 'project.id', 'node.project_id')
    .select(['node.id', 'node.project_id', 'project.label as project'])
    .where('node.label', '=', label)
    .executeTakeFirst();
  if (!node) throw new NotFoundError(`Node "${label}" does not exist.`);
  if (node.project_id !== null) requireProjectAccess(p, node.project_id);

  const [nics, attachments, metadata] = await Promise.all([
    db
      .selectFrom('nic')
      .leftJoin('port', 'port.id', 'nic.port_id')
      .leftJoin('switch', 'switch.id', 'port.switch_id')
      .select(['nic.id', 'nic.label', 'nic.macaddr', 'port.label as port', 'switch.label as switch'])
      .where('nic.node_id', '=', node.id)
      .orderBy('nic.id')
      .execute(),
    db
      .selectFrom('network_attachment')
      .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
      .innerJoin('network', 'network.id', 'network_attachment.network_id')
      .select(['network_attachment.nic_id', 'network_attachment.channel', 'network.label'])
      .where('nic.node_id', '=', node.id)
      .execute(),
    db.selectFrom('node_metadata').select(['label', 'value']).where('node_id', '=', node.id).orderBy('label').execute(),
  ]);

  // Which switch port a nic is cabled to is infrastructure: admins only (as upstream).
  const showWiring = p.isAdmin;
  return {
    name: label,
    project: node.project,
    nics: nics.map((n) => {
      const networks: Record<string, string> = {};
      for (const a of attachments) if (a.nic_id === n.id) networks[a.channel] = a.label;
      const view: NicView = { label: n.label, macaddr: n.macaddr, networks };
      if (showWiring) {
        view.port = n.port;
        view.switch = n.switch;
      }
      return view;
    }),
    metadata: Object.fromEntries(metadata.map((m) => [m.label, m.value])),
  };
}

