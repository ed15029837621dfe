/**
 * The chaos test's traffic, sent to a random API process for every request:
 * per networking nic, connect to a random network / detach from it, one
 * action at a time (a nic takes one at a time), each followed to its end;
 * per power node, random power operations; per provisioning node, enrolment
 * again whenever its power cycle ran out (the tick of every API then
 * contends for the cycle). A request whose process died under it is retried
 * elsewhere, unless it had queued its action (found in the journal and
 * adopted): nothing is counted twice or lost. Action outcomes are read from
 * the journal by one poller (./watcher.ts), not by polling every API.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/store/schema.ts';
import { call, type Answer } from './http.ts';
import { ActionWatcher, type ActionRecord } from './watcher.ts';
import type { NetNode, World } from './world.ts';

export interface PowerRecord {
  node: string;
  op: string;
  via: string;
  sentAt: number;
  /** The HTTP status, or 'cut' when the process died under the request. */
  status: number | 'cut';
}

export interface LoadOptions {
  /** Pause between one nic's actions, drawn from [min, max] ms. */
  thinkMs: [number, number];
  powerThinkMs: [number, number];
}

const POWER_OPS = ['power_cycle', 'power_on', 'power_off', 'power_status'] as const;
const between = ([min, max]: [number, number]) => min + Math.random() * (max - min);

export class Load {
  readonly power: PowerRecord[] = [];
  /** Answers no request of this traffic should get (sentences). */
  readonly unexpected: string[] = [];
  /** The network each nic is on, as the DONE actions say (null: none). */
  readonly model = new Map<string, string | null>();
  reclaims = 0;
  readonly watcher: ActionWatcher;
  readonly #apis: () => string[];
  readonly #world: World;
  readonly #o: LoadOptions;
  #running = false;
  #loops: Promise<void>[] = [];

  constructor(db: Kysely<Database>, apis: () => string[], world: World, o: LoadOptions) {
    this.watcher = new ActionWatcher(db);
    this.#apis = apis;
    this.#world = world;
    this.#o = o;
    for (const n of world.netNodes) this.model.set(n.node, null);
  }

  get actions(): ActionRecord[] {
    return this.watcher.records;
  }

  start(): void {
    this.#running = true;
    this.watcher.start();
    this.#loops = [
      ...this.#world.netNodes.map((n) => this.#netLoop(n)),
      ...this.#world.powerNodes.map((n) => this.#powerLoop(n)),
      ...this.#world.provisioningNodes.map((n) => this.#provisioningLoop(n)),
    ];
  }

  /** Sends no more; waits (at most `waitMs`) for every queued action to end. */
  async stop(waitMs: number): Promise<void> {
    this.#running = false;
    const deadline = Date.now() + waitMs;
    await Promise.race([Promise.all(this.#loops), sleep(waitMs)]);
    await this.watcher.settled(Math.max(0, deadline - Date.now()));
    await this.watcher.stop();
  }

  /** A request to a random API; on a dead process, `retry` says whether to try again (elsewhere). */
  async #send(method: string, path: string, body: unknown, retry: () => Promise<boolean>): Promise<{ via: string; answer: Answer } | null> {
    for (;;) {
      const apis = this.#apis();
      const via = apis[Math.floor(Math.random() * apis.length)];
      try {
        return { via, answer: await call(via, method, path, body) };
      } catch (err) {
        // Refused: the process is down and got nothing, so try another. Otherwise it died under the request.
        const refused = ((err as Error).cause as { code?: string } | undefined)?.code === 'ECONNREFUSED';
        if (!refused && !(await retry())) return null;
        await sleep(20);
      }
    }
  }

  async #netLoop(n: NetNode): Promise<void> {
    while (this.#running) {
      const current = this.model.get(n.node)!;
      const network = current ?? this.#world.networks[Math.floor(Math.random() * this.#world.networks.length)];
      const type = current === null ? 'connect' : 'detach';
      const sentAt = Date.now();
      let adopted: string | null = null;
      const sent = await this.#send('POST', `/v0/node/${n.node}/nic/${n.nic}/${type}_network`, { network }, async () => {
        adopted = await this.watcher.queuedSince(n.node, sentAt); // the dead process had queued it
        return adopted === null;
      });
      const uuid = adopted ?? (sent?.answer.status === 202 ? (sent.answer.body.status_id as string) : null);
      if (uuid === null) {
        this.unexpected.push(`${type} ${n.node} ${network} via ${sent?.via}: ${sent?.answer.status} ${JSON.stringify(sent?.answer.body)}`);
        await sleep(200);
        continue;
      }
      const rec = await this.watcher.follow({ uuid, node: n.node, switch: n.switch, type, network, via: sent?.via ?? 'adopted', sentAt, adopted: adopted !== null });
      if (rec.status === 'DONE') this.model.set(n.node, type === 'connect' ? network : null);
      await sleep(between(this.#o.thinkMs));
    }
  }

  async #powerLoop(node: string): Promise<void> {
    while (this.#running) {
      const op = POWER_OPS[Math.floor(Math.random() * POWER_OPS.length)];
      const sentAt = Date.now();
      const sent = await this.#send(op === 'power_status' ? 'GET' : 'POST', `/v0/node/${node}/${op}`, undefined, async () => false);
      this.power.push({ node, op, via: sent?.via ?? '', sentAt, status: sent ? sent.answer.status : 'cut' });
      if (sent && sent.answer.status !== 200) this.unexpected.push(`${op} ${node} via ${sent.via}: ${sent.answer.status} ${JSON.stringify(sent.answer.body)}`);
      await sleep(between(this.#o.powerThinkMs));
    }
  }

  /** Enrols the node, and again each time its cycle ended in error (the FPBL never reports here). */
  async #provisioningLoop(node: string): Promise<void> {
    while (this.#running) {
      const got = await this.#send('GET', `/v0/node/${node}/provisioning`, undefined, async () => this.#running);
      if (got && (got.answer.status === 404 || got.answer.body?.state === 'error')) {
        const r = await this.#send('POST', `/v0/node/${node}/reclaim`, {}, async () => false);
        if (r?.answer.status === 200) this.reclaims++;
        else if (r) this.unexpected.push(`reclaim ${node} via ${r.via}: ${r.answer.status} ${JSON.stringify(r.answer.body)}`);
      }
      await sleep(200);
    }
  }
}
