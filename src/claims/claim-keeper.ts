/**
 * The common life of a keeper: something that, in each process that runs it,
 * makes some resources match their rows under one claim per resource
 * (headnodes' VMs, VPN endpoints). It reconciles when kicked and every
 * heartbeat, one run at a time; `stop` lets every claim go, so another
 * process takes over at once, and leaves what the resources run (a VM, a
 * daemon) to the next holder.
 */
import type { Logger } from 'pino';
import { Coalesced } from '../util/coalesced.ts';
import type { Claim, Claims } from './claims.ts';

export interface ClaimKeeperOptions<K> {
  claims: Claims;
  log: Logger;
  intervalMs: number;
  /** For the log: what this keeper keeps. */
  what: string;
  /** The claim's resource name of a key ("headnode:7"). */
  resource(key: K): string;
}

export abstract class ClaimKeeper<K> {
  readonly #k: ClaimKeeperOptions<K>;
  readonly #run: Coalesced;
  readonly #held = new Map<K, Claim>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(k: ClaimKeeperOptions<K>) {
    this.#k = k;
    this.#run = new Coalesced(() => (this.#stopped ? Promise.resolve() : this.reconcile()), { onError: (err) => k.log.warn({ err: (err as Error).message }, `${k.what}: reconcile failed`) });
  }

  /** One pass: make what this process holds match the rows. */
  protected abstract reconcile(): Promise<void>;

  /** Told when a claim is taken afresh (what this process knew of the resource may be stale). */
  protected taken(_key: K): void {}

  async start(): Promise<void> {
    this.#run.kick();
    await this.#run.settled();
    this.#timer = setInterval(() => this.#run.kick(), this.#k.intervalMs);
  }

  kick(): void {
    this.#run.kick();
  }

  settled(): Promise<void> {
    return this.#run.settled();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#run.stop();
    await this.#run.settled();
    for (const key of [...this.#held.keys()]) await this.letGo(key);
  }

  /** The resource's claim, held or taken now; null while another process holds it. */
  protected async claim(key: K): Promise<Claim | null> {
    const held = this.#held.get(key);
    if (held?.valid) return held;
    const taken = await this.#k.claims.take(this.#k.resource(key));
    if (taken) {
      this.#held.set(key, taken);
      this.taken(key);
    }
    return taken;
  }

  protected heldKeys(): K[] {
    return [...this.#held.keys()];
  }

  protected async letGo(key: K): Promise<void> {
    const claim = this.#held.get(key);
    this.#held.delete(key);
    await claim?.release().catch((err: Error) => this.#k.log.warn({ key, err: err.message }, `${this.#k.what}: could not release a claim`));
  }
}
