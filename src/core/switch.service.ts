/** Switches, their ports, and the cabling of nics to ports (spec §5.5). */
import { BlockedError, DuplicateError, NotFoundError } from '../errors.ts';
import { inTx, type CoreDeps } from './context.ts';
import { absentOrConflict, getNic, getNode, getPort, getSwitch, held, insertUnique } from './lookup.ts';
import { clearFinishedAction, insertAction } from './action-queue.ts';
import { requireAdmin, type Principal } from './principal.ts';
import { Service } from './service.ts';

export interface PortView {
  node?: string;
  nic?: string;
  networks?: Record<string, string>;
}

export class SwitchService extends Service {
  async list(p: Principal): Promise<string[]> {
    requireAdmin(p);
    return (await this.deps.db.selectFrom('switch').select('label').orderBy('label').execute()).map((r) => r.label);
  }

  async register(p: Principal, label: string, type: string, fields: Record<string, unknown>): Promise<void> {
    requireAdmin(p);
    const dup = `Switch "${label}" already exists.`;
    await absentOrConflict(this.deps.db.selectFrom('switch').select('id').where('label', '=', label).executeTakeFirst(), dup);
    const driver = this.deps.switches.resolve(type);
    driver.params.parse(fields);
    await insertUnique(this.deps.db.insertInto('switch').values({ label, type: driver.type, params: JSON.stringify(fields) }).execute(), dup);
  }

  async delete(p: Principal, label: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      // Locked: a port registered meanwhile waits, then finds no switch.
      const sw = await getSwitch(tx, label, 'update');
      if (await tx.selectFrom('port').select('id').where('switch_id', '=', sw.id).executeTakeFirst()) {
        throw new BlockedError(`Switch "${label}" has ports; delete them first.`);
      }
      await tx.deleteFrom('switch').where('id', '=', sw.id).execute();
    });
  }

  async show(p: Principal, label: string) {
    requireAdmin(p);
    const sw = await getSwitch(this.deps.db, label);
    const ports = await this.deps.db.selectFrom('port').select('label').where('switch_id', '=', sw.id).orderBy('id').execute();
    const driver = this.deps.switches.get(sw.type);
    const hostKey = driver?.hostKey ? await driver.hostKey({ id: sw.id, label: sw.label, params: driver.params.parse(JSON.parse(sw.params) as Record<string, unknown>) }) : null;
    return { name: sw.label, ports: ports.map((r) => ({ label: r.label })), capabilities: driver?.capabilities() ?? [], ...(hostKey ? { host_key: hostKey } : {}) };
  }

  async registerPort(p: Principal, switchLabel: string, port: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const sw = await getSwitch(tx, switchLabel, 'share');
      const dup = `Port "${port}" already exists on switch "${switchLabel}".`;
      await absentOrConflict(tx.selectFrom('port').select('id').where('switch_id', '=', sw.id).where('label', '=', port).executeTakeFirst(), dup);
      this.deps.switches.get(sw.type)?.validatePortName(port);
      await insertUnique(tx.insertInto('port').values({ switch_id: sw.id, label: port }).execute(), dup);
    });
  }

  async deletePort(p: Principal, switchLabel: string, port: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const sw = await getSwitch(tx, switchLabel);
      // Locked: a nic cabled meanwhile waits, then finds no port.
      const row = await getPort(tx, sw, port, 'update');
      if (await tx.selectFrom('nic').select('id').where('port_id', '=', row.id).executeTakeFirst()) {
        throw new BlockedError(`Port "${port}" is attached to a nic; please detach it first.`);
      }
      await tx.deleteFrom('port').where('id', '=', row.id).execute();
    });
  }

  async showPort(p: Principal, switchLabel: string, port: string): Promise<PortView> {
    requireAdmin(p);
    const sw = await getSwitch(this.deps.db, switchLabel);
    const row = await getPort(this.deps.db, sw, port);
    const nic = await this.deps.db
      .selectFrom('nic')
      .innerJoin('node', 'node.id', 'nic.node_id')
      .select(['nic.id', 'nic.label as nic', 'node.label as node'])
      .where('nic.port_id', '=', row.id)
      .executeTakeFirst();
    if (!nic) return {};
    const attached = await this.deps.db
      .selectFrom('network_attachment')
      .innerJoin('network', 'network.id', 'network_attachment.network_id')
      .select(['network_attachment.channel', 'network.label'])
      .where('network_attachment.nic_id', '=', nic.id)
      .execute();
    return { node: nic.node, nic: nic.nic, networks: Object.fromEntries(attached.map((a) => [a.channel, a.label])) };
  }

  async connectNic(p: Principal, switchLabel: string, port: string, nodeLabel: string, nicLabel: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const sw = await getSwitch(tx, switchLabel);
      const portRow = await getPort(tx, sw, port, 'update');
      const node = await getNode(tx, nodeLabel, 'update');
      const nic = await getNic(tx, node, nicLabel);
      if (nic.port_id !== null) throw new DuplicateError(nicLabel);
      if (await tx.selectFrom('nic').select('id').where('port_id', '=', portRow.id).executeTakeFirst()) throw new DuplicateError(port);
      await insertUnique(tx.updateTable('nic').set({ port_id: portRow.id }).where('id', '=', nic.id).execute(), port);
    });
  }

  async detachNic(p: Principal, switchLabel: string, port: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const sw = await getSwitch(tx, switchLabel);
      const portRow = await getPort(tx, sw, port);
      // The node locked: it must stay free until the nic is off its port.
      const nic = await held(
        tx,
        tx.selectFrom('nic').innerJoin('node', 'node.id', 'nic.node_id').select(['nic.id', 'node.project_id']).where('nic.port_id', '=', portRow.id),
        'update',
      ).executeTakeFirst();
      if (!nic) throw new NotFoundError(`${port} not attached`);
      if (nic.project_id !== null) throw new BlockedError('The port is attached to a node which is not free');
      await clearFinishedAction(tx, nic.id);
      await tx.updateTable('nic').set({ port_id: null }).where('id', '=', nic.id).execute();
    });
  }

  /** Queues a revert_port action; answered with 200 (not 202), as upstream. */
  async revertPort(p: Principal, switchLabel: string, port: string): Promise<{ status_id: string }> {
    requireAdmin(p);
    const statusId = await inTx(this.deps, async (tx) => {
      const sw = await getSwitch(tx, switchLabel);
      const portRow = await getPort(tx, sw, port);
      const nic = await tx.selectFrom('nic').select('id').where('port_id', '=', portRow.id).executeTakeFirst();
      if (!nic) throw new NotFoundError(`${port} not attached`);
      await clearFinishedAction(tx, nic.id);
      return insertAction(tx, { nicId: nic.id, type: 'revert_port', channel: '', newNetworkId: null });
    });
    this.deps.actionsQueued();
    return { status_id: statusId };
  }
}

export const switchService = (deps: CoreDeps) => new SwitchService(deps);
