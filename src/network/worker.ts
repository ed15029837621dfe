/**
 * The networking worker: applies PENDING actions to switches (spec §8, minus
 * its hazards). Every action ends DONE or ERROR: a driver that throws, hangs
 * past the timeout, or meets a nic with no port ends that action only; the
 * worker goes on. Switches are worked on in parallel, each by one task that
 * drains its queue in id order through one driver session. Status and
 * attachments change in one transaction, after the switch call; a crash in
 * between leaves the action PENDING and the (idempotent) call is repeated,
 * so no action is lost or recorded twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { SwitchCatalog } from '../drivers/switch/index.ts';
import { openSwitchSession } from '../drivers/switch/open.ts';
import type { Database } from '../store/schema.ts';
import { withTimeout } from '../util/timeout.ts';
import { Coalesced } from '../util/coalesced.ts';
import { WorkerLease } from './worker-lease.ts';
import { failOrphans, pendingFor, recordOutcomes, switchesWithWork, toChange, type Outcome, type PendingAction, type Result } from './journal.ts';
import { SessionHolder } from './session-holder.ts';

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
  leaseTtlMs?: number;
}

export class NetworkWorker {
  readonly #o: WorkerOptions;
  readonly #lease: WorkerLease;
  readonly #draining = new Set<number>();
  #running = false;
  #holdsLease = false;
  /** Scans for work; kicks while a scan runs make one more scan after it. */
  readonly #scanner: Coalesced;
  #timers: NodeJS.Timeout[] = [];
  #idleWaiters: Array<() => void> = [];

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#lease = new WorkerLease(options.db, options.leaseTtlMs);
    this.#scanner = new Coalesced(async () => (this.#running && this.#holdsLease ? this.#scan() : undefined), {
      onError: (err) => this.#o.log.error({ err }, 'networking worker: scan failed'),
      onSettled: () => this.#maybeIdle(),
    });
  }

  /** Who this worker is in the lease table (host:pid:nonce). */
  get leaseOwner(): string {
    return this.#lease.owner;
  }

  async start(): Promise<void> {
    this.#running = true;
    await this.#renewLease();
    this.#timers.push(setInterval(() => void this.#renewLease(), Math.max(50, this.#lease.ttlMs / 3)));
    this.#timers.push(setInterval(() => this.kick(), this.#o.pollMs));
    this.kick();
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.idle();
    if (this.#holdsLease) await this.#lease.release().catch(() => {});
    this.#holdsLease = false;
  }

  /** Look for work now. Cheap to call often: concurrent calls coalesce. */
  kick(): void {
    if (!this.#running || !this.#holdsLease) return this.#maybeIdle();
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

  async #renewLease() {
    try {
      const had = this.#holdsLease;
      this.#holdsLease = this.#running && (await this.#lease.acquire());
      if (this.#holdsLease && !had) {
        this.#o.log.info({ owner: this.#lease.owner }, 'networking worker: holding the journal lease');
        this.kick();
      } else if (had && !this.#holdsLease) this.#o.log.warn('networking worker: lost the journal lease');
    } catch (err) {
      this.#o.log.error({ err }, 'networking worker: lease renewal failed');
    }
  }

  async #scan(): Promise<void> {
    const { db } = this.#o;
    await failOrphans(db);
    for (const switch_id of await switchesWithWork(db)) {
      if (this.#draining.has(switch_id) || this.#draining.size >= this.#o.switchConcurrency) continue;
      this.#draining.add(switch_id);
      this.#drain(switch_id)
        .catch((err) => this.#o.log.error({ err, switch_id }, 'networking worker: drain failed'))
        .finally(() => {
          this.#draining.delete(switch_id);
          // Another switch may have been waiting for a free slot, or more work arrived.
          this.kick();
        });
    }
  }

  async #drain(switchId: number): Promise<void> {
    const { db, log } = this.#o;
    const sw = await db.selectFrom('switch').selectAll().where('id', '=', switchId).executeTakeFirstOrThrow();
    const driver = this.#o.switches.get(sw.type);
    const session = new SessionHolder(
      driver ? () => openSwitchSession(driver, sw) : null,
      sw.label,
      this.#o.actionTimeoutMs,
    );
    try {
      // Requests arriving together should share one batch (one switch
      // transaction) instead of each paying the switch's latency. When the
      // last round found several, more are likely on their way: wait a
      // moment for them. One at a time (a lone action, a client working
      // sequentially) never waits.
      let lastBatch = 0;
      while (this.#running && this.#holdsLease) {
        if (lastBatch > 1 && this.#o.batchLingerMs > 0) await sleep(this.#o.batchLingerMs);
        const batch = await pendingFor(this.#o.db, switchId);
        if (batch.length === 0) return;
        lastBatch = batch.length;
        // One all-or-nothing call for the whole queue where the driver can;
        // if that fails, the actions are tried one by one so that only the
        // bad ones end in ERROR.
        const together = batch.length > 1 ? await this.#applyTogether(session, batch) : null;
        if (together) await recordOutcomes(this.#o.db, together); // one transaction for the whole batch
        const results = together ?? (await this.#applyOneByOne(session, batch));
        for (const { action, outcome } of results) {
          if (outcome.ok) log.info({ action: action.uuid, switch: sw.label, port: action.port, type: action.type }, 'networking action done');
          else log.warn({ action: action.uuid, switch: sw.label, port: action.port, error: outcome.error }, 'networking action failed');
        }
      }
    } finally {
      await session.close().catch((err) => log.warn({ err }, 'switch session close failed'));
    }
  }

  /** The batch in one driver call; null when the driver cannot or the call failed. */
  async #applyTogether(session: SessionHolder, batch: PendingAction[]): Promise<Result[] | null> {
    const s = await session.get().catch(() => null);
    const applyBatch = s?.applyBatch?.bind(s);
    if (!applyBatch) return null;
    try {
      await withTimeout(this.#o.actionTimeoutMs, `${batch.length} changes on switch ${session.label}`, () => applyBatch(batch.map(toChange)));
      return batch.map((action) => ({ action, outcome: { ok: true, attempts: 1 } }));
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message, switch: session.label, actions: batch.length }, 'batch failed; applying one by one');
      session.discard();
      return null;
    }
  }

  async #applyOneByOne(session: SessionHolder, batch: PendingAction[]): Promise<Result[]> {
    const results: Result[] = [];
    for (const action of batch) {
      if (!this.#running || !this.#holdsLease) break;
      if (!session.canOpen) {
        results.push({ action, outcome: { ok: false, attempts: 0, error: `No driver for the type of switch ${session.label}` } });
        continue;
      }
      const outcome = await this.#withRetries(
        async () => {
          const s = await session.get();
          const c = toChange(action);
          const work = c.op === 'revert' ? s.revertPort(c.port) : s.modifyPort(c.port, c.channel, c.networkId);
          await withTimeout(this.#o.actionTimeoutMs, `${action.type} on ${session.label} port ${action.port}`, () => work);
        },
        () => session.discard(),
      );
      results.push({ action, outcome });
      // Record as we go: a crash must not make finished work look unfinished.
      await recordOutcomes(this.#o.db, [{ action, outcome }]);
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
        last = err;
        onFailure();
        if (n < this.#o.maxAttempts) await sleep(this.#o.retryBackoffMs * 2 ** (n - 1));
      }
    }
    return { ok: false, attempts: this.#o.maxAttempts, error: (last as Error)?.message ?? String(last) };
  }
}
