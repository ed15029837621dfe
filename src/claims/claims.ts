/**
 * Claims: which process may act on a resource (a switch, a node's console,
 * a node's BMC) right now. A claim is a row naming its holder, a generation
 * that grows with every hand-over, and an expiry the holder pushes ahead
 * every heartbeat. Taking is one guarded UPDATE (free or expired), so two
 * processes cannot both win: on PostgreSQL the second waits on the row and
 * re-checks the guard, SQLite has one writer.
 *
 * Fencing: a holder trusts a claim only until the moment its last renewal
 * was sent plus the TTL minus a margin (by the monotonic clock, which keeps
 * running while a process is paused). Past that, `valid` is false and work
 * must stop before touching anything; a renewal that finds the claim taken
 * (another generation) aborts the claim's signal for good. Writes that
 * record an outcome are also guarded in the database (`heldBy`).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExpressionBuilder, Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Store } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { Liveness } from './liveness.ts';
import { countTakeover, setClaimsHeld } from '../metrics/process.ts';

type Db = Kysely<Database>;

export interface ClaimsOptions {
  store: Store;
  log: Logger;
  /** What this process is (api, worker, api+worker), for operators. */
  role: string;
  /** Where other processes reach this one's internal routes (console relay), if anywhere. */
  address?: string;
  /** A claim not renewed for this long may be taken by another process. */
  ttlMs: number;
  /** How often claims are renewed and dead processes looked for. */
  heartbeatMs: number;
  /** Called after the heartbeat freed claims of a dead process, or lost some of ours: time to look for work. */
  onChange?: () => void;
}

export class Claim {
  readonly resource: string;
  readonly generation: number;
  readonly holder: string;
  readonly #ctl = new AbortController();
  #validUntil: number;
  readonly #release: (c: Claim) => Promise<void>;

  constructor(resource: string, generation: number, holder: string, validUntil: number, release: (c: Claim) => Promise<void>) {
    this.resource = resource;
    this.generation = generation;
    this.holder = holder;
    this.#validUntil = validUntil;
    this.#release = release;
  }

  /** True while this process can prove nobody else holds the resource. Check it before every side effect. */
  get valid(): boolean {
    return !this.#ctl.signal.aborted && performance.now() < this.#validUntil;
  }

  /** Aborts when the claim is lost to another process or released. */
  get signal(): AbortSignal {
    return this.#ctl.signal;
  }

  get fence(): { holder: string; generation: number } {
    return { holder: this.holder, generation: this.generation };
  }

  release(): Promise<void> {
    return this.#release(this);
  }

  /** @internal */ extend(validUntil: number): void {
    this.#validUntil = validUntil;
  }

  /** @internal */ end(): void {
    this.#ctl.abort();
  }
}

export class Claims {
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  /** What other processes present on this one's internal routes. */
  readonly internalToken = randomBytes(24).toString('base64url');
  readonly #o: ClaimsOptions;
  readonly #db: Db;
  readonly #liveness: Liveness;
  readonly #held = new Map<string, Claim>();
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #takeovers = 0;
  #lastBeat = 0;

  constructor(o: ClaimsOptions) {
    this.#o = o;
    this.#db = o.store.db;
    this.#liveness = new Liveness(o.store, { id: this.holder, role: o.role, address: o.address ?? null, internalToken: o.address ? this.internalToken : null }, o.ttlMs, o.log);
  }

  get ttlMs(): number {
    return this.#o.ttlMs;
  }

  /** Whether the last heartbeat reached the database within the TTL (readiness: a process that cannot renew holds nothing). */
  get healthy(): boolean {
    return performance.now() - this.#lastBeat < this.#o.ttlMs;
  }

  /** Claims taken from an expired or dead holder since start. */
  get takeovers(): number {
    return this.#takeovers;
  }

  async start(): Promise<void> {
    await this.#liveness.register();
    this.#timer = setInterval(() => void this.heartbeat(), this.#o.heartbeatMs);
    await this.heartbeat(); // a dead predecessor's claims are free before the first look for work
  }

  /** Releases every claim (others take them over at once) and unregisters. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
    for (const c of [...this.#held.values()]) this.#forget(c);
    try {
      await this.#db.updateTable('claim').set({ holder: null, expires_at: 0 }).where('holder', '=', this.holder).execute();
    } catch (err) {
      // The database is gone: the claims pass on when they expire.
      this.#o.log.warn({ err: (err as Error).message }, 'claims: could not release them; they pass on when they expire');
    }
    await this.#liveness.unregister().catch(() => {});
  }

  /** The held-claims gauge follows every take and loss (kinds that fell to none read 0). */
  #publishHeld(kind: string): void {
    let n = 0;
    for (const r of this.#held.keys()) if (kindOf(r) === kind) n++;
    setClaimsHeld(kind, n);
  }

  /** The resource's claim, if it is free or its holder's expired; null while another process holds it. */
  async take(resource: string): Promise<Claim | null> {
    const mine = this.#held.get(resource);
    if (mine?.valid) return mine;
    if (mine && (await this.#reassert(mine))) return mine;
    if (mine) this.#forget(mine);
    const sentAt = performance.now();
    const now = Date.now();
    const expires_at = now + this.#o.ttlMs;
    const fresh = await this.#db
      .insertInto('claim')
      .values({ resource, holder: this.holder, generation: 1, expires_at, taken_at: now })
      .onConflict((oc) => oc.column('resource').doNothing())
      .executeTakeFirst();
    let generation: number | undefined = Number(fresh.numInsertedOrUpdatedRows) === 1 ? 1 : undefined;
    generation ??= await this.#grab(resource, expires_at, now, 'released');
    if (generation === undefined) {
      generation = await this.#grab(resource, expires_at, now, 'expired');
      if (generation === undefined) return null;
      this.#countTakeover(resource, generation);
    }
    const claim = new Claim(resource, generation, this.holder, this.#deadline(sentAt), (c) => this.#releaseOne(c));
    this.#held.set(resource, claim);
    this.#publishHeld(kindOf(resource));
    return claim;
  }

  /** A claim trusted no longer (its renewal came late) is still ours if its row kept our holder and generation: renewed, trusted again. */
  async #reassert(c: Claim): Promise<boolean> {
    if (c.signal.aborted) return false;
    const sentAt = performance.now();
    const r = await this.#db.updateTable('claim').set({ expires_at: Date.now() + this.#o.ttlMs }).where('resource', '=', c.resource).where('holder', '=', this.holder).where('generation', '=', c.generation).executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1 || this.#held.get(c.resource) !== c || c.signal.aborted) return false;
    c.extend(this.#deadline(sentAt));
    return true;
  }

  /** One guarded UPDATE: the claim is ours if it was released, or (`expired`) its holder let it lapse. */
  async #grab(resource: string, expires_at: number, now: number, from: 'released' | 'expired'): Promise<number | undefined> {
    const taken = await this.#db
      .updateTable('claim')
      .set((eb) => ({ holder: this.holder, generation: eb('generation', '+', 1), expires_at, taken_at: now }))
      .where('resource', '=', resource)
      .where((eb) => (from === 'released' ? eb('holder', 'is', null) : eb.and([eb('holder', 'is not', null), eb('expires_at', '<', now)])))
      .returning('generation')
      .executeTakeFirst();
    return taken ? Number(taken.generation) : undefined;
  }

  /**
   * The resource's claim, waiting while another process holds it, until
   * `signal` aborts (the caller's timeout). For short work on a shared
   * device (a BMC call): the holder releases it within that call's bound.
   */
  async takeWaiting(resource: string, signal: AbortSignal): Promise<Claim> {
    for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
      signal.throwIfAborted();
      const claim = await this.take(resource);
      if (claim) return claim;
      await sleep(pause, undefined, { signal });
    }
  }

  /**
   * Renews every claim this process holds in one statement and ends the
   * ones it no longer has; expires the claims of processes found dead.
   */
  heartbeat(): Promise<void> {
    this.#beating ??= this.#beat()
      .catch((err: Error) => this.#o.log.warn({ err: err.message }, 'claims: heartbeat failed'))
      .finally(() => (this.#beating = undefined));
    return this.#beating;
  }

  async #beat(): Promise<void> {
    await this.#liveness.renew();
    let changed = false;
    // Judged by the renewal: the claims held when it is sent (one taken meanwhile is not among the rows it returns).
    const held = [...this.#held.values()];
    if (held.length > 0) {
      const sentAt = performance.now();
      const renewed = await this.#db
        .updateTable('claim')
        .set({ expires_at: Date.now() + this.#o.ttlMs })
        .where('holder', '=', this.holder)
        .where('resource', 'in', held.map((c) => c.resource)) // a row of ours we do not hold expires, not renewed for ever
        .returning(['resource', 'generation'])
        .execute();
      const still = new Map(renewed.map((r) => [r.resource, Number(r.generation)]));
      for (const c of held) {
        if (this.#held.get(c.resource) !== c) continue; // released meanwhile
        if (still.get(c.resource) === c.generation) c.extend(this.#deadline(sentAt));
        else {
          this.#o.log.warn({ resource: c.resource, generation: c.generation }, 'claims: lost a claim to another process');
          this.#forget(c);
          changed = true;
        }
      }
    }
    if ((await this.#liveness.reapDead()) > 0) changed = true;
    this.#lastBeat = performance.now();
    if (changed) this.#o.onChange?.();
  }

  /** The holder stops trusting a renewal sent at `sentAt` this long before others may take the claim. */
  #deadline(sentAt: number): number {
    const margin = Math.min(1000, this.#o.ttlMs / 4);
    return sentAt + this.#o.ttlMs - margin;
  }

  #forget(c: Claim): void {
    c.end();
    if (this.#held.get(c.resource) === c) this.#held.delete(c.resource);
    this.#publishHeld(kindOf(c.resource));
  }

  async #releaseOne(c: Claim): Promise<void> {
    this.#forget(c);
    await this.#db
      .updateTable('claim')
      .set({ holder: null, expires_at: 0 })
      .where('resource', '=', c.resource)
      .where('holder', '=', this.holder)
      .where('generation', '=', c.generation)
      .execute();
  }

  #countTakeover(resource: string, generation: number): void {
    this.#takeovers++;
    countTakeover(kindOf(resource));
    this.#o.log.info({ resource, generation }, 'claims: took over a claim');
  }
}

/** A claim's kind: the part of its resource before ':' (switch, console, bmc, power-cycle). */
const kindOf = (resource: string) => resource.slice(0, resource.indexOf(':'));

/** A WHERE condition: `claim` is still held, in the database, as it was taken (guards writes that record outcomes). */
export function heldBy(claim: Claim) {
  return (eb: ExpressionBuilder<Database, keyof Database>) =>
    eb.exists(
      eb
        .selectFrom('claim')
        .select('claim.resource')
        .where('claim.resource', '=', claim.resource)
        .where('claim.holder', '=', claim.holder)
        .where('claim.generation', '=', claim.generation),
    );
}
