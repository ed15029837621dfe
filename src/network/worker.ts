/**
 * The networking worker: applies PENDING actions to switches (spec §8, minus
 * its hazards). Every action ends DONE or ERROR: a driver that throws, hangs
 * past the timeout, or meets a nic with no port ends that action only; the
 * worker goes on. Switches are worked on in parallel, each by one task that
 * drains its queue in id order through one driver session, under this
 * process's claim on the switch: several workers share the switches, never
 * one switch. Status and attachments change in one transaction, after the
 * switch call and only while the claim is still held; a crash in between
 * leaves the action PENDING and the next holder repeats the (idempotent)
 * call, so no action is lost or recorded twice. A holder whose claim may
 * have passed on stops before its next switch call (fencing, src/claims/).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { SwitchCatalog } from '../drivers/switch/index.ts';
import { openSwitchSession } from '../drivers/switch/open.ts';
import type { Database } from '../store/schema.ts';
import { withTimeout } from '../util/timeout.ts';
import { Coalesced } from '../util/coalesced.ts';
import type { Claim, Claims } from '../claims/claims.ts';
import { failOrphans, pendingFor, recordOutcomes, switchesWithWork, toChange, type Outcome, type PendingAction, type Result } from './journal.ts';
import { SessionHolder } from './session-holder.ts';
import { observeDriverCall } from '../metrics/process.ts';

/** The switch's claim passed to another process: this one must not touch the switch again. */
class ClaimLostError extends Error {
  constructor(claim: Claim) {
    super(`the claim on ${claim.resource} (generation ${claim.generation}) may have passed to another process`);
  }
}

/** A switch call, its duration and failure counted per model and operation. */
async function timed(session: SessionHolder, op: string, call: () => Promise<void>): Promise<void> {
  const started = performance.now();
  let ok = false;
  try {
    await call();
    ok = true;
  } finally {
    observeDriverCall('switch', session.model, op, (performance.now() - started) / 1000, ok);
  }
}

export interface WorkerOptions {
  db: Kysely<Database>;
  switches: SwitchCatalog;
  log: Logger;
  actionTimeoutMs: number;
  maxAttempts: number;
  retryBackoffMs: number;
  switchConcurrency: number;
  /** Safety-net poll for work queued by other processes. */
  pollMs: number;
  /** How long to let a switch's queue fill before draining it. */
  batchLingerMs: number;
  /**
   * Told after each batch's outcomes are recorded: a node's NIC move is the
   * provisioning service's next step, taken at once instead of at its next
   * tick. (Called only once the worker runs, when everything is built.)
   */
  onSettled?(): void;
  /** This process's claims: a switch is drained only under its claim. */
  claims: Claims;
}

export class NetworkWorker {
  readonly #o: WorkerOptions;
  readonly #draining = new Set<number>();
  #running = false;
  /** Scans for work; kicks while a scan runs make one more scan after it. */
  readonly #scanner: Coalesced;
  #timers: NodeJS.Timeout[] = [];
  #idleWaiters: Array<() => void> = [];

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#scanner = new Coalesced(async () => (this.#running ? this.#scan() : undefined), {
      onError: (err) => this.#o.log.error({ err }, 'networking worker: scan failed'),
      onSettled: () => this.#maybeIdle(),
    });
  }

  /** The switches being drained now (shutdown says what it waits for). */
  get draining(): number[] {
    return [...this.#draining];
  }

  async start(): Promise<void> {
    this.#running = true;
    this.#timers.push(setInterval(() => this.kick(), this.#o.pollMs));
    this.kick();
  }

  /**
   * Starts nothing more and waits for the switch calls under way to finish
   * and be recorded, saying which switches it waits for. After `graceMs` it
   * gives up on them: their actions stay PENDING, and once this process's
   * claims are released another worker repeats them (idempotently).
   */
  async stop(graceMs = Infinity): Promise<void> {
    this.#running = false;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    if (this.#draining.size === 0 && !this.#scanner.running) return;
    this.#o.log.info({ switches: this.draining }, 'networking worker: stopping; waiting for the switch calls under way');
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      this.idle().then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (gaveUp) this.#o.log.warn({ switches: this.draining }, 'networking worker: gave up waiting; these switches\' actions stay PENDING for the next worker');
  }

  /** Look for work now. Cheap to call often: concurrent calls coalesce. */
  kick(): void {
    if (!this.#running) return this.#maybeIdle();
    this.#scanner.kick();
  }

  /** Resolves when no switch is being worked on (tests, shutdown). */
  idle(): Promise<void> {
    if (this.#draining.size === 0 && !this.#scanner.running) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #maybeIdle() {
    if (this.#draining.size === 0 && !this.#scanner.running) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  async #scan(): Promise<void> {
    const { db } = this.#o;
    await failOrphans(db);
    for (const switch_id of await switchesWithWork(db)) {
      if (!this.#running || this.#draining.has(switch_id) || this.#draining.size >= this.#o.switchConcurrency) continue;
      this.#draining.add(switch_id);
      const claim = await this.#o.claims.take(`switch:${switch_id}`).catch((err: Error) => {
        this.#o.log.warn({ err: err.message, switch_id }, 'networking worker: could not claim a switch');
        return null;
      });
      if (!claim) {
        this.#draining.delete(switch_id); // another worker has it
        continue;
      }
      this.#drain(switch_id, claim)
        .catch((err) => this.#o.log.error({ err, switch_id }, 'networking worker: drain failed'))
        .finally(async () => {
          // Released as soon as the queue is empty, so any worker can take the next one.
          await claim.release().catch(() => {});
          this.#draining.delete(switch_id);
          // Another switch may have been waiting for a free slot, or more work arrived.
          this.kick();
        });
    }
  }

  async #drain(switchId: number, claim: Claim): Promise<void> {
    const { db, log } = this.#o;
    const sw = await db.selectFrom('switch').selectAll().where('id', '=', switchId).executeTakeFirstOrThrow();
    const driver = this.#o.switches.get(sw.type);
    const session = new SessionHolder(
      driver ? () => openSwitchSession(driver, sw, claim.fence) : null,
      sw.label,
      sw.type.slice(sw.type.lastIndexOf('/') + 1),
      this.#o.actionTimeoutMs,
    );
    try {
      // Requests arriving together should share one batch (one switch
      // transaction) instead of each paying the switch's latency. When the
      // last round found several, more are likely on their way: wait a
      // moment for them. One at a time (a lone action, a client working
      // sequentially) never waits.
      let lastBatch = 0;
      while (this.#running && claim.valid) {
        if (lastBatch > 1 && this.#o.batchLingerMs > 0) await sleep(this.#o.batchLingerMs);
        const batch = await pendingFor(this.#o.db, switchId);
        if (batch.length === 0) return;
        lastBatch = batch.length;
        // One all-or-nothing call for the whole queue where the driver can;
        // if that fails, the actions are tried one by one so that only the
        // bad ones end in ERROR.
        const together = batch.length > 1 ? await this.#applyTogether(session, batch, claim) : null;
        if (together) await recordOutcomes(this.#o.db, together, claim, this.#o.claims.ttlMs); // one transaction for the whole batch
        const results = together ?? (await this.#applyOneByOne(session, batch, claim));
        for (const { action, outcome } of results) {
          if (outcome.ok) log.info({ action: action.uuid, switch: sw.label, port: action.port, type: action.type }, 'networking action done');
          else log.warn({ action: action.uuid, switch: sw.label, port: action.port, error: outcome.error }, 'networking action failed');
        }
        this.#o.onSettled?.();
      }
    } finally {
      await session.close().catch((err) => log.warn({ err }, 'switch session close failed'));
    }
  }

  /** The batch in one driver call; null when the driver cannot or the call failed. */
  async #applyTogether(session: SessionHolder, batch: PendingAction[], claim: Claim): Promise<Result[] | null> {
    const s = await session.get().catch(() => null);
    const applyBatch = s?.applyBatch?.bind(s);
    if (!applyBatch || !claim.valid) return null;
    try {
      await timed(session, 'apply_batch', () => withTimeout(this.#o.actionTimeoutMs, `${batch.length} changes on switch ${session.label}`, () => applyBatch(batch.map(toChange))));
      return batch.map((action) => ({ action, outcome: { ok: true, attempts: 1 } }));
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message, switch: session.label, actions: batch.length }, 'batch failed; applying one by one');
      session.discard();
      return null;
    }
  }

  async #applyOneByOne(session: SessionHolder, batch: PendingAction[], claim: Claim): Promise<Result[]> {
    const results: Result[] = [];
    for (const action of batch) {
      if (!this.#running || !claim.valid) break;
      if (!session.canOpen) {
        results.push({ action, outcome: { ok: false, attempts: 0, error: `No driver for the type of switch ${session.label}` } });
        continue;
      }
      const outcome = await this.#withRetries(
        async () => {
          const s = await session.get();
          // The last moment to find the claim gone: past this, the change is on its way to the switch.
          if (!claim.valid) throw new ClaimLostError(claim);
          const c = toChange(action);
          const work = c.op === 'revert' ? s.revertPort(c.port, action.uuid) : s.modifyPort(c.port, c.channel, c.networkId, action.uuid);
          await timed(session, c.op === 'revert' ? 'revert_port' : 'modify_port', () => withTimeout(this.#o.actionTimeoutMs, `${action.type} on ${session.label} port ${action.port}`, () => work));
        },
        () => session.discard(),
      );
      if (!claim.valid && !outcome.ok) break; // not a failure of the action: the next holder does it
      results.push({ action, outcome });
      // Record as we go: a crash must not make finished work look unfinished.
      await recordOutcomes(this.#o.db, [{ action, outcome }], claim, this.#o.claims.ttlMs);
    }
    return results;
  }

  async #withRetries(attempt: () => Promise<void>, onFailure: () => void): Promise<Outcome> {
    let last: unknown;
    for (let n = 1; n <= this.#o.maxAttempts; n++) {
      try {
        await attempt();
        return { ok: true, attempts: n };
      } catch (err) {
        if (err instanceof ClaimLostError) return { ok: false, attempts: n, error: err.message };
        last = err;
        onFailure();
        if (n < this.#o.maxAttempts) await sleep(this.#o.retryBackoffMs * 2 ** (n - 1));
      }
    }
    return { ok: false, attempts: this.#o.maxAttempts, error: (last as Error)?.message ?? String(last) };
  }
}
