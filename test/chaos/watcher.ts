/**
 * Follows the chaos test's networking actions to their end by reading the
 * journal: one query every few milliseconds for all actions still open,
 * instead of every nic's loop polling an API. The time an action ended is
 * the worker's (`finished_at`), so latencies and takeover times do not
 * include this poll.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/store/schema.ts';

export interface ActionRecord {
  uuid: string;
  node: string;
  switch: string;
  type: 'connect' | 'detach';
  network: string;
  /** Which API queued it ('adopted': its API died answering, the journal had it). */
  via: string;
  /** When the request was sent (test clock, the same host's as the workers'). */
  sentAt: number;
  adopted: boolean;
  status?: 'DONE' | 'ERROR';
  finishedAt?: number;
  error?: string | null;
}

const POLL_MS = 15;

export class ActionWatcher {
  readonly records: ActionRecord[] = [];
  readonly #db: Kysely<Database>;
  readonly #open = new Map<string, { rec: ActionRecord; done: (r: ActionRecord) => void }>();
  readonly #known = new Set<string>();
  #running = false;
  #loop: Promise<void> | undefined;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  start(): void {
    this.#running = true;
    this.#loop = this.#poll();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  /** Resolves when the action has ended (DONE or ERROR). */
  follow(rec: ActionRecord): Promise<ActionRecord> {
    this.records.push(rec);
    this.#known.add(rec.uuid);
    return new Promise((done) => this.#open.set(rec.uuid, { rec, done }));
  }

  /** Actions not ended yet. */
  get pending(): ActionRecord[] {
    return [...this.#open.values()].map((o) => o.rec);
  }

  /** Waits until every followed action ended, at most `ms`. */
  async settled(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.#open.size > 0 && Date.now() < deadline) await sleep(POLL_MS);
  }

  /** The uuid of an action queued on the node's nic since `since` that nobody follows yet (its request's answer was lost). */
  async queuedSince(node: string, since: number): Promise<string | null> {
    const row = await this.#db
      .selectFrom('networking_action')
      .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
      .innerJoin('node', 'node.id', 'nic.node_id')
      .select(['networking_action.uuid', 'networking_action.created_at'])
      .where('node.label', '=', node)
      .executeTakeFirst();
    return row && Number(row.created_at) >= since - 1 && !this.#known.has(row.uuid) ? row.uuid : null;
  }

  async #poll(): Promise<void> {
    while (this.#running) {
      const uuids = [...this.#open.keys()];
      if (uuids.length > 0) {
        const rows = await this.#db
          .selectFrom('networking_action')
          .select(['uuid', 'status', 'finished_at', 'error'])
          .where('uuid', 'in', uuids)
          .where('status', '!=', 'PENDING')
          .execute();
        for (const r of rows) {
          const o = this.#open.get(r.uuid)!;
          this.#open.delete(r.uuid);
          Object.assign(o.rec, { status: r.status, finishedAt: Number(r.finished_at), error: r.error });
          o.done(o.rec);
        }
      }
      await sleep(POLL_MS);
    }
  }
}
