/**
 * Which HIL process holds each node's console. A BMC allows one console
 * session, so exactly one process may have it open: the one holding the
 * claim `console:<node id>`. Every API process tries to take the consoles of
 * OBM-enabled nodes (at start, and every heartbeat after), so when the holder
 * dies another takes the session over. A reader connected to any process
 * follows the console wherever it is held: from this process's hub, or
 * relayed from the holder, whose address is in its process row; when the
 * holder goes away mid-stream, the reader's stream carries on from the next.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Claim } from '../claims/claims.ts';
import type { CoreDeps } from './context.ts';
import type { ConsolePeer } from './console-peers.ts';

type Open = Parameters<CoreDeps['consoles']['start']>[2];

/** How long a reader waits for someone to hold the console again before it looks once more. */
const FOLLOW_PAUSE_MS = 200;

export class ConsoleOwner {
  readonly #deps: CoreDeps;
  readonly #claims = new Map<number, Claim>();
  /** Shut down: a hold still on its way (a heartbeat's) must not start a console nobody will stop. */
  #closed = false;

  constructor(deps: CoreDeps) {
    this.#deps = deps;
  }

  /** Holds the node's console here if no other process does; true when this process holds it (now or already). */
  async hold(nodeId: number, projectId: number | null, open: Open): Promise<boolean> {
    const hub = this.#deps.consoles;
    if (this.keep(nodeId, projectId)) return true;
    if (this.#closed) return false;
    const claim = await this.#deps.claims.take(`console:${nodeId}`);
    if (!claim) return false;
    if (this.#closed) {
      await claim.release();
      return false;
    }
    this.#claims.set(nodeId, claim);
    claim.signal.addEventListener('abort', () => this.#claims.get(nodeId) === claim && this.#claims.delete(nodeId), { once: true });
    hub.start(nodeId, projectId, open, claim.signal);
    return true;
  }

  /**
   * True when this process holds the node's console (a valid claim, a
   * running session); its log then belongs to `projectId` (a new tenant's
   * starts empty). No database work: what the heartbeat does for every
   * console it already holds.
   */
  keep(nodeId: number, projectId: number | null): boolean {
    if (!this.#claims.get(nodeId)?.valid || !this.#deps.consoles.running(nodeId)) return false;
    this.#deps.consoles.newTenant(nodeId, projectId);
    return true;
  }

  /** Stops holding the node's console here (the OBM was disabled); others see it free at once. */
  async release(nodeId: number): Promise<void> {
    this.#deps.consoles.stop(nodeId);
    const claim = this.#claims.get(nodeId);
    this.#claims.delete(nodeId);
    await claim?.release();
  }

  /** Stops every console held here and releases their claims; holds nothing from now on. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#deps.consoles.stopAll();
    for (const id of [...this.#claims.keys()]) await this.release(id).catch(() => {}); // else they pass on at expiry
  }

  /** The consoles held here, by node id. */
  heldHere(): number[] {
    return [...this.#claims.keys()];
  }

  /** Nodes whose console another live process holds now. */
  async heldElsewhere(): Promise<Set<number>> {
    const rows = await this.#deps.db
      .selectFrom('claim')
      .select('resource')
      .where('resource', 'like', 'console:%')
      .where('holder', 'is not', null)
      .where('holder', '!=', this.#deps.claims.holder)
      .where('expires_at', '>', Date.now())
      .execute();
    return new Set(rows.map((r) => Number(r.resource.slice('console:'.length))));
  }

  /** The process holding the node's console, if another one does. */
  async holderElsewhere(nodeId: number): Promise<ConsolePeer | null> {
    const row = await this.#deps.db
      .selectFrom('claim')
      .innerJoin('hil_process', 'hil_process.id', 'claim.holder')
      .select(['hil_process.address', 'hil_process.internal_token'])
      .where('claim.resource', '=', `console:${nodeId}`)
      .where('claim.holder', '!=', this.#deps.claims.holder)
      .where('claim.expires_at', '>', Date.now())
      .executeTakeFirst();
    return row?.address && row.internal_token ? { address: row.address, token: row.internal_token } : null;
  }

  /**
   * The console from now on, wherever it is held. Ends when the console
   * ends for this reader (another reader displaced it, the OBM was disabled,
   * the node changed hands) or the caller leaves; a holder that goes away
   * mid-stream is followed to the next (`takeHere` lets this process take it).
   */
  async *follow(nodeId: number, signal: AbortSignal, takeHere: () => Promise<boolean>, stillWanted: () => Promise<boolean>): AsyncIterable<Uint8Array> {
    while (!signal.aborted) {
      const source = await this.#source(nodeId, signal, takeHere);
      if (!source) {
        if (!(await stillWanted())) return;
        await sleep(FOLLOW_PAUSE_MS, undefined, { signal }).catch(() => {});
        continue;
      }
      try {
        yield* source;
        return; // ended for this reader, not moved
      } catch {
        if (signal.aborted || !(await stillWanted())) return;
        // The holder stopped or died: find the next.
      }
    }
  }

  async #source(nodeId: number, signal: AbortSignal, takeHere: () => Promise<boolean>): Promise<AsyncIterable<Uint8Array> | null> {
    const hub = this.#deps.consoles;
    if (hub.running(nodeId)) return hub.subscribe(nodeId, signal);
    const peer = await this.holderElsewhere(nodeId);
    if (peer) return this.#deps.consolePeers.stream(peer, nodeId, signal);
    return (await takeHere()) ? hub.subscribe(nodeId, signal) : null;
  }

  /** Types into the console wherever it is held; false when nobody holds it or it is read-only here. */
  async write(nodeId: number, data: Uint8Array): Promise<boolean> {
    if (this.#deps.consoles.running(nodeId)) return this.#deps.consoles.write(nodeId, data);
    const peer = await this.holderElsewhere(nodeId);
    if (!peer) return false;
    await this.#deps.consolePeers.write(peer, nodeId, data);
    return true;
  }

  /** The rolling log, from whichever process holds the console (empty when none does). */
  async log(nodeId: number, projectId: number | null): Promise<Buffer> {
    if (this.#deps.consoles.running(nodeId)) return this.#deps.consoles.log(nodeId, projectId);
    const peer = await this.holderElsewhere(nodeId);
    if (peer) return this.#deps.consolePeers.log(peer, nodeId, projectId).catch(() => this.#deps.consoles.log(nodeId, projectId));
    return this.#deps.consoles.log(nodeId, projectId);
  }
}
