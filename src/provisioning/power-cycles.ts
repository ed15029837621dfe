/**
 * Power-cycling a node into the FPBL: boot device PXE, power off, power on,
 * through the OBM use-cases (the OBM is enabled for this and disabled again
 * if it was off). The row in power-cycling is the job; whoever holds the
 * node's `power-cycle:` claim does it, so two servers never cycle one node
 * at once, and if the holder dies the next tick anywhere does it again. A
 * cycle outlives the tick that started it, so they are kept here by node,
 * and stop() waits for them.
 */
import type { Claim } from '../claims/claims.ts';
import { inTx } from '../core/context.ts';
import { admin, type Principal } from '../core/principal.ts';
import type { ProvisioningRow } from '../store/schema.ts';
import type { ProvisioningContext } from './context.ts';
import { next, type ProvisioningEvent } from './machine.ts';
import { rowOfNode, transition } from './rows.ts';

/** Power operations the service needs from the OBM use-cases. */
export interface PowerControl {
  setEnabled(p: Principal, label: string, on: boolean): Promise<void>;
  power(p: Principal, label: string, op: 'power_on' | 'power_off' | 'power_cycle', force?: boolean): Promise<unknown>;
  setBootDevice(p: Principal, label: string, bootdev: string, persistent?: boolean): Promise<unknown>;
}

const SYSTEM = admin('hil-provisioning');

export class PowerCycles {
  readonly #ctx: ProvisioningContext;
  readonly #power: PowerControl;
  /** Power cycles in flight from this process, by node. */
  readonly #inFlight = new Map<number, Promise<void>>();
  #stopped = false;

  constructor(ctx: ProvisioningContext, power: PowerControl) {
    this.#ctx = ctx;
    this.#power = power;
  }

  /** Starts the power cycle of a row in booting-fpbl/power-cycling, unless one is under way. */
  start(row: ProvisioningRow): void {
    if (this.#inFlight.has(row.node_id) || this.#stopped) return;
    const work = this.#cycle(row).catch((err: Error) => this.#ctx.log.error({ node: row.node_id, err: err.message }, 'power cycle bookkeeping failed'));
    this.#inFlight.set(row.node_id, work);
    void work.finally(() => this.#inFlight.delete(row.node_id));
  }

  /** Starts no more; resolves when the ones under way have ended (each bounded by the OBM timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#inFlight.values()]);
  }

  async #cycle(seen: ProvisioningRow): Promise<void> {
    const claim = await this.#ctx.deps.claims.take(`power-cycle:${seen.node_id}`);
    if (!claim) return; // another server is cycling it
    try {
      // What the tick saw may be older than the claim: the cycle may be done already.
      const row = await rowOfNode(this.#ctx.deps.db, seen.node_id);
      if (row?.phase !== 'power-cycling' || row.state !== seen.state || row.since !== seen.since) return;
      await this.#cycleUnder(claim, row);
    } finally {
      await claim.release().catch(() => {});
    }
  }

  async #cycleUnder(claim: Claim, row: ProvisioningRow): Promise<void> {
    const node = await this.#ctx.deps.db.selectFrom('node').select(['label', 'obm_enabled']).where('id', '=', row.node_id).executeTakeFirstOrThrow();
    const wasEnabled = Boolean(node.obm_enabled);
    const step = async (work: () => Promise<unknown>) => {
      if (!claim.valid) throw new Error('the power cycle passed to another server');
      await work();
    };
    try {
      if (!wasEnabled) await step(() => this.#power.setEnabled(SYSTEM, node.label, true));
      await step(() => this.#power.setBootDevice(SYSTEM, node.label, 'pxe', true));
      await step(() => this.#power.power(SYSTEM, node.label, 'power_off'));
      await step(() => this.#power.power(SYSTEM, node.label, 'power_on'));
      await this.#record(claim, row, { type: 'power-cycled' });
    } catch (err) {
      await this.#record(claim, row, { type: 'power-cycle-failed', reason: (err as Error).message });
    } finally {
      if (!wasEnabled) await this.#power.setEnabled(SYSTEM, node.label, false).catch(() => {});
      this.#ctx.changes.changed(row.node_id);
    }
  }

  /** Only while the claim holds: a server that lost it leaves the row to the one that has it. */
  async #record(claim: Claim, row: ProvisioningRow, event: ProvisioningEvent): Promise<void> {
    const to = next(row, event, this.#ctx.o, Date.now());
    if (to && claim.valid) await inTx(this.#ctx.deps, (tx) => transition(tx, this.#ctx.log, row, to));
  }
}
