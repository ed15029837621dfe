/**
 * The tick: what moves a row without an agent's word. It enforces deadlines,
 * moves NICs between networks through networking actions (nic-moves.ts) and
 * power-cycles nodes that must PXE-boot the FPBL. Each run re-takes whatever
 * step a row is at, so a restarted server (or a second one) carries on from
 * the rows: moves are recomputed from the attachments, a power cycle is
 * simply done again.
 */
import { inTx, type Tx } from '../core/context.ts';
import { getNetwork } from '../core/lookup.ts';
import type { ProvisioningRow } from '../store/schema.ts';
import { Coalesced } from '../util/coalesced.ts';
import type { ProvisioningContext } from './context.ts';
import { isOverdue, next, type ProvisioningEvent } from './machine.ts';
import { stepNicMoves, type MoveProgress, type NicTargets } from './nic-moves.ts';
import { PowerCycles, type PowerControl } from './power-cycles.ts';
import { provisioningNetworkId, rowOfNode, transition } from './rows.ts';
import { afterRelease, releaseBootDisk } from './boot-release.ts';

export class ProvisioningTick {
  readonly #ctx: ProvisioningContext;
  readonly #powerCycles: PowerCycles;
  /** Kicks while a run is under way make one more run after it. */
  readonly #runs: Coalesced;
  #timer: NodeJS.Timeout | undefined;

  constructor(ctx: ProvisioningContext, power: PowerControl) {
    this.#ctx = ctx;
    this.#powerCycles = new PowerCycles(ctx, power);
    this.#runs = new Coalesced(() => this.#run(), { onError: (err) => ctx.log.error({ err: (err as Error).message }, 'provisioning tick failed') });
  }

  start(): void {
    this.#timer = setInterval(() => this.kick(), this.#ctx.o.tickMs);
    this.kick();
  }

  /** Runs the tick now, or once more after the run under way. */
  kick(): void {
    this.#runs.kick();
  }

  /** Stops the tick and waits for what it started; a power cycle under way is finished. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const cycles = this.#powerCycles.stop();
    await this.#runs.stop();
    await cycles;
  }

  async #run(): Promise<void> {
    const rows = await this.#ctx.deps.db
      .selectFrom('node_provisioning')
      .selectAll()
      .where((eb) => eb.or([eb('phase', 'in', ['switching', 'power-cycling']), eb('deadline', '<', Date.now())]))
      .execute();
    for (const row of rows) {
      if (isOverdue(row, Date.now())) await this.#expire(row);
      else if (row.phase === 'switching') await this.#advanceMove(row);
      else if (row.phase === 'power-cycling') this.#powerCycles.start(row);
    }
  }

  /**
   * Past its deadline: a power cycle where one can help, else error
   * (machine.ts says which). A diskless node whose OS did not return is
   * power-cycled off its boot disk, which goes then (boot-release.ts).
   */
  async #expire(row: ProvisioningRow): Promise<void> {
    const { deps, log } = this.#ctx;
    const diskless = (await deps.db.selectFrom('node_boot').select('node_id').where('node_id', '=', row.node_id).executeTakeFirst()) !== undefined;
    const to = next(row, { type: 'expired', diskless }, this.#ctx.o, Date.now());
    const released = to && (await inTx(deps, async (tx) => ((await transition(tx, log, row, to)) && diskless && to.state === 'booting-fpbl' ? releaseBootDisk(this.#ctx, tx, row.node_id) : null)));
    if (released) afterRelease(this.#ctx, released);
    this.#ctx.changes.changed(row.node_id);
    if (released) this.kick(); // its NICs move now
  }

  /** One step of the row's NIC move: queue what is missing; all done or one failed moves the row on. */
  async #advanceMove(row: ProvisioningRow): Promise<void> {
    const { deps, o, log } = this.#ctx;
    const queued = await inTx(deps, async (tx) => {
      const current = await rowOfNode(tx, row.node_id);
      if (!current || current.state !== row.state || current.phase !== 'switching') return 0;
      const progress = await stepNicMoves(tx, deps.allocator, await this.#targets(tx, current), Number(current.operation_started ?? 0));
      const outcome = moveOutcome(progress);
      const to = outcome && next(current, outcome, o, Date.now());
      if (to) await transition(tx, log, current, to);
      return progress.queued;
    });
    if (queued) deps.actionsQueued();
    this.#ctx.changes.changed(row.node_id);
  }

  /** NIC targets: the deploy's networks, or the provisioning network for every NIC. */
  async #targets(tx: Tx, row: ProvisioningRow): Promise<NicTargets> {
    const nics = await tx.selectFrom('nic').select(['id', 'label']).where('node_id', '=', row.node_id).execute();
    const out: NicTargets = new Map();
    if (row.state === 'deploying') {
      const wanted = JSON.parse(row.networks) as Record<string, string>;
      for (const nic of nics) out.set(nic.id, wanted[nic.label] ? (await getNetwork(tx, wanted[nic.label])).id : null);
    } else {
      const prov = await provisioningNetworkId(tx, this.#ctx.o.network);
      for (const nic of nics) out.set(nic.id, prov);
    }
    return out;
  }
}

/** What a step of a NIC move tells the machine: all moved, one failed, or nothing yet. */
function moveOutcome(progress: MoveProgress): ProvisioningEvent | null {
  if (progress.done) return { type: 'moved' };
  return progress.failed ? { type: 'move-failed', reason: progress.failed } : null;
}
