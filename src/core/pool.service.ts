/**
 * A derived HIL's pool manager: which of the base's nodes this HIL hands out.
 *
 * - import: registers here every node the base project owns that is not here
 *   yet, as a free node: its NICs (same names and MACs), one port each on the
 *   `upstream` switch (a `hil` switch, created on first use), and a `hil` BMC
 *   pointing at the base node. Re-running it completes a half-done import.
 * - grow N: takes N of the base's free nodes into the base project, then
 *   imports them.
 * - shrink N: returns N of this HIL's free nodes to the base's free pool.
 *   The node leaves this HIL first (in one transaction, and only if it is
 *   still free), so no tenant can take it half-way; if the base then refuses,
 *   it is imported back.
 * - policy (config [upstream]): keep at least `min_free` free nodes, return
 *   those above `max_free` when nodes are released, and with `on_demand` offer
 *   the base's free nodes to this HIL's projects: they show in the free list,
 *   and connect_node takes one from the base on the spot.
 *
 * Node names are the base's: a derived HIL is its own namespace, and the
 * base node's name is also what its BMC record points at.
 */
import type { CoreDeps, NodeSupply } from './context.ts';
import { DuplicateError } from '../errors.ts';
import { admin } from './principal.ts';
import { nodeService } from './node.service.ts';
import { switchService } from './switch.service.ts';
import { HIL_OBM_TYPE } from '../drivers/hil/bmc.ts';
import { HIL_SWITCH_TYPE, hilPortName } from '../drivers/hil/switch.ts';
import { KeyedLock } from '../util/keyed-lock.ts';
import { atBase, type Upstream } from '../drivers/hil/upstream.ts';

export const UPSTREAM_SWITCH = 'upstream';

export interface PoolPolicy {
  minFree: number;
  maxFree?: number;
  onDemand: boolean;
}

/** Ignores "already exists" (imports are re-runnable). */
async function ensure(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof DuplicateError)) throw err;
  }
}

export function poolManager(deps: CoreDeps, up: Upstream, policy: PoolPolicy) {
  const nodes = nodeService(deps);
  const switches = switchService(deps);
  const who = admin('pool');
  const log = deps.log.child({ component: 'pool' });
  const changes = new KeyedLock();
  /** Pool changes run one at a time. */
  const serial = <T>(fn: () => Promise<T>): Promise<T> => changes.run('pool', fn);

  async function importNode(name: string): Promise<void> {
    const base = await atBase(`showing node ${name}`, () => up.client.node.show(name));
    await ensure(switches.register(who, UPSTREAM_SWITCH, HIL_SWITCH_TYPE, {}));
    await ensure(nodes.register(who, name, { type: HIL_OBM_TYPE, params: { node: name } }));
    for (const nic of base.nics) {
      const port = hilPortName(name, nic.label);
      await ensure(nodes.addNic(who, name, nic.label, nic.macaddr ?? ''));
      await ensure(switches.registerPort(who, UPSTREAM_SWITCH, port));
      await ensure(switches.connectNic(who, UPSTREAM_SWITCH, port, name, nic.label));
    }
  }

  /** Removes a free node from this HIL in one transaction; false if it is not free (any more). */
  async function removeFree(name: string): Promise<boolean> {
    return deps.db.transaction().execute(async (tx) => {
      const node = await tx.selectFrom('node').select(['id', 'project_id', 'obm_type']).where('label', '=', name).executeTakeFirst();
      if (!node || node.project_id !== null || node.obm_type !== HIL_OBM_TYPE) return false;
      const nics = await tx.selectFrom('nic').select(['id', 'port_id']).where('node_id', '=', node.id).execute();
      const nicIds = nics.map((n) => n.id);
      if (nicIds.length) {
        const pending = await tx.selectFrom('networking_action').select('id').where('nic_id', 'in', nicIds).where('status', '=', 'PENDING').executeTakeFirst();
        if (pending) return false;
        await tx.deleteFrom('networking_action').where('nic_id', 'in', nicIds).execute();
        await tx.deleteFrom('network_attachment').where('nic_id', 'in', nicIds).execute();
        await tx.deleteFrom('nic').where('id', 'in', nicIds).execute();
        const portIds = nics.map((n) => n.port_id).filter((id): id is number => id !== null);
        if (portIds.length) await tx.deleteFrom('port').where('id', 'in', portIds).execute();
      }
      await tx.deleteFrom('node_metadata').where('node_id', '=', node.id).execute();
      await tx.deleteFrom('node').where('id', '=', node.id).execute();
      deps.consoles.stop(node.id);
      return true;
    });
  }

  async function freeHere(): Promise<string[]> {
    const rows = await deps.db.selectFrom('node').select('label').where('project_id', 'is', null).where('obm_type', '=', HIL_OBM_TYPE).orderBy('label').execute();
    return rows.map((r) => r.label);
  }

  async function take(name: string): Promise<void> {
    await atBase(`taking node ${name} into project ${up.project}`, () => up.client.project.connectNode(up.project, name));
    await importNode(name);
  }

  const pool = {
    /** Registers every node of the base project that is not here yet; returns their names. */
    import: () =>
      serial(async () => {
        const owned = await atBase(`listing the nodes of project ${up.project}`, () => up.client.project.nodes(up.project));
        const known = new Set((await deps.db.selectFrom('node').select('label').execute()).map((r) => r.label));
        const added: string[] = [];
        for (const name of owned) {
          await importNode(name); // also completes a node whose import was interrupted
          if (!known.has(name)) added.push(name);
        }
        return added;
      }),

    /** Takes up to `n` of the base's free nodes; returns the names taken (fewer when the base has fewer). */
    grow: (n: number) =>
      serial(async () => {
        const taken: string[] = [];
        for (const name of await atBase('listing free nodes', () => up.client.node.list('free'))) {
          if (taken.length >= n) break;
          try {
            await take(name);
            taken.push(name);
          } catch (err) {
            log.warn({ node: name, err: (err as Error).message }, 'could not take a free base node; trying the next');
          }
        }
        return taken;
      }),

    /** Returns up to `n` free nodes to the base's free pool; returns their names. */
    shrink: (n: number) =>
      serial(async () => {
        const returned: string[] = [];
        for (const name of await freeHere()) {
          if (returned.length >= n) break;
          if (!(await removeFree(name))) continue;
          try {
            // The base will not let a node with an enabled BMC leave a project.
            await atBase(`disabling the OBM of node ${name}`, () => up.client.node.disableObm(name));
            await atBase(`returning node ${name} to the free pool`, () => up.client.project.detachNode(up.project, name));
            returned.push(name);
          } catch (err) {
            await importNode(name).catch((e: Error) => log.error({ node: name, err: e.message }, 'could not re-import a node the base did not take back'));
            throw err;
          }
        }
        return returned;
      }),

    freeHere,
    baseFree: () => atBase('listing free nodes', () => up.client.node.list('free')),

    /** Applies min_free/max_free now; errors are logged (it runs after tenants' requests). */
    async rebalance(): Promise<void> {
      try {
        const free = (await freeHere()).length;
        if (free < policy.minFree) log.info({ taken: await pool.grow(policy.minFree - free) }, 'pool below min_free: took nodes from the base');
        else if (policy.maxFree !== undefined && free > policy.maxFree) log.info({ returned: await pool.shrink(free - policy.maxFree) }, 'pool above max_free: returned nodes to the base');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'pool rebalance failed');
      }
    },

    /** What the rest of HIL asks of a node supplier (core/context.ts). */
    supply: {
      async extraFree() {
        if (!policy.onDemand) return [];
        try {
          return await atBase('listing free nodes', () => up.client.node.list('free'));
        } catch (err) {
          // The local free pool is still worth listing when the base is away.
          log.warn({ err: (err as Error).message }, "could not list the base's free nodes");
          return [];
        }
      },
      async provide(label) {
        if (!policy.onDemand) return false;
        return serial(async () => {
          const baseFree = await atBase('listing free nodes', () => up.client.node.list('free'));
          if (!baseFree.includes(label)) return false;
          await take(label);
          log.info({ node: label }, 'took a node from the base on demand');
          return true;
        });
      },
      freePoolChanged() {
        if (policy.minFree > 0 || policy.maxFree !== undefined) void pool.rebalance();
      },
    } satisfies NodeSupply,
  };
  return pool;
}

export type PoolManager = ReturnType<typeof poolManager>;
