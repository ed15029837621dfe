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
 * base node's name is also what its BMC record points at. Every change here
 * goes through the node and switch use-cases, as an administrator's would.
 */
import type { Logger } from 'pino';
import { DuplicateError } from '../errors.ts';
import { HIL_OBM_TYPE } from '../drivers/hil/bmc.ts';
import { baseNodes, type BaseNodes } from '../drivers/hil/base-nodes.ts';
import { HIL_SWITCH_TYPE, hilPortName } from '../drivers/hil/switch.ts';
import type { Upstream } from '../drivers/hil/upstream.ts';
import { KeyedLock } from '../util/keyed-lock.ts';
import type { CoreDeps, NodeSupply } from './context.ts';
import { NodeService } from './node.service.ts';
import { admin } from './principal.ts';
import { SwitchService } from './switch.service.ts';

export const UPSTREAM_SWITCH = 'upstream';

export interface PoolPolicy {
  minFree: number;
  maxFree?: number;
  onDemand: boolean;
}

const WHO = admin('pool');

/** Ignores "already exists" (imports are re-runnable). */
async function ensure(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof DuplicateError)) throw err;
  }
}

export class PoolManager {
  readonly #deps: CoreDeps;
  readonly #base: BaseNodes;
  readonly #policy: PoolPolicy;
  readonly #nodes: NodeService;
  readonly #switches: SwitchService;
  readonly #log: Logger;
  /** Pool changes run one at a time. */
  readonly #changes = new KeyedLock();

  constructor(deps: CoreDeps, base: BaseNodes, policy: PoolPolicy) {
    this.#deps = deps;
    this.#base = base;
    this.#policy = policy;
    this.#nodes = new NodeService(deps);
    this.#switches = new SwitchService(deps);
    this.#log = deps.log.child({ component: 'pool' });
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.#changes.run('pool', fn);
  }

  async #importNode(name: string): Promise<void> {
    const nics = await this.#base.nics(name);
    await ensure(this.#switches.register(WHO, UPSTREAM_SWITCH, HIL_SWITCH_TYPE, {}));
    await ensure(this.#nodes.register(WHO, name, { type: HIL_OBM_TYPE, params: { node: name } }));
    for (const nic of nics) {
      const port = hilPortName(name, nic.label);
      await ensure(this.#nodes.addNic(WHO, name, nic.label, nic.macaddr ?? ''));
      await ensure(this.#switches.registerPort(WHO, UPSTREAM_SWITCH, port));
      await ensure(this.#switches.connectNic(WHO, UPSTREAM_SWITCH, port, name, nic.label));
    }
  }

  async #take(name: string): Promise<void> {
    await this.#base.take(name);
    await this.#importNode(name);
  }

  /** This HIL's free nodes that came from the base. */
  async freeHere(): Promise<string[]> {
    const rows = await this.#deps.db.selectFrom('node').select('label').where('project_id', 'is', null).where('obm_type', '=', HIL_OBM_TYPE).orderBy('label').execute();
    return rows.map((r) => r.label);
  }

  baseFree(): Promise<string[]> {
    return this.#base.free();
  }

  /** Registers every node of the base project that is not here yet; returns their names. */
  import(): Promise<string[]> {
    return this.#serial(async () => {
      const known = new Set((await this.#deps.db.selectFrom('node').select('label').execute()).map((r) => r.label));
      const added: string[] = [];
      for (const name of await this.#base.owned()) {
        await this.#importNode(name); // also completes a node whose import was interrupted
        if (!known.has(name)) added.push(name);
      }
      return added;
    });
  }

  /** Takes up to `n` of the base's free nodes; returns the names taken (fewer when the base has fewer). */
  grow(n: number): Promise<string[]> {
    return this.#serial(async () => {
      const taken: string[] = [];
      for (const name of await this.#base.free()) {
        if (taken.length >= n) break;
        try {
          await this.#take(name);
          taken.push(name);
        } catch (err) {
          this.#log.warn({ node: name, err: (err as Error).message }, 'could not take a free base node; trying the next');
        }
      }
      return taken;
    });
  }

  /** Returns up to `n` free nodes to the base's free pool; returns their names. */
  shrink(n: number): Promise<string[]> {
    return this.#serial(async () => {
      const returned: string[] = [];
      for (const name of await this.freeHere()) {
        if (returned.length >= n) break;
        if (!(await this.#nodes.forgetFree(WHO, name))) continue;
        try {
          await this.#base.giveBack(name);
          returned.push(name);
        } catch (err) {
          await this.#importNode(name).catch((e: Error) => this.#log.error({ node: name, err: e.message }, 'could not re-import a node the base did not take back'));
          throw err;
        }
      }
      return returned;
    });
  }

  /** Applies min_free/max_free now; errors are logged (it runs after tenants' requests). */
  async rebalance(): Promise<void> {
    const { minFree, maxFree } = this.#policy;
    try {
      const free = (await this.freeHere()).length;
      if (free < minFree) this.#log.info({ taken: await this.grow(minFree - free) }, 'pool below min_free: took nodes from the base');
      else if (maxFree !== undefined && free > maxFree) this.#log.info({ returned: await this.shrink(free - maxFree) }, 'pool above max_free: returned nodes to the base');
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'pool rebalance failed');
    }
  }

  /** What the rest of HIL asks of a node supplier (core/context.ts). */
  readonly supply: NodeSupply = {
    extraFree: async () => {
      if (!this.#policy.onDemand) return [];
      try {
        return await this.#base.free();
      } catch (err) {
        // The local free pool is still worth listing when the base is away.
        this.#log.warn({ err: (err as Error).message }, "could not list the base's free nodes");
        return [];
      }
    },
    provide: async (label) => {
      if (!this.#policy.onDemand) return false;
      return this.#serial(async () => {
        if (!(await this.#base.free()).includes(label)) return false;
        await this.#take(label);
        this.#log.info({ node: label }, 'took a node from the base on demand');
        return true;
      });
    },
    freePoolChanged: () => {
      if (this.#policy.minFree > 0 || this.#policy.maxFree !== undefined) void this.rebalance();
    },
  };
}

export const poolManager = (deps: CoreDeps, up: Upstream, policy: PoolPolicy) => new PoolManager(deps, baseNodes(up), policy);
