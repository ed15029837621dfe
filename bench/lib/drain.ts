/**
 * One drain run: N networking workers (`hil-admin serve-networks`, each its
 * own process) on the API server's PostgreSQL database, and one
 * connect_network change for each of `nodes`, in one of two ways:
 *
 *  - live: through the API, `clients` requests at a time, as fast as the API
 *    takes them, while the workers run: what a client sees. Latency is from
 *    sending a POST; the drain time from the first POST to the last DONE.
 *  - backlog: the whole set queued at once, in one transaction with hil's own
 *    insertAction (the row connect_network writes), then the NOTIFY the API
 *    sends: what the workers alone take to drain a queue. Latency and drain
 *    time are from the commit.
 *
 * DONE is the worker's own record (networking_action.finished_at, the same
 * machine's clock). The table, not the API, is polled for what is still
 * PENDING, so that no HTTP polling competes with the workers for the cores.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openStore } from '../../src/store/db.ts';
import { insertPendingAction } from '../../src/store/repos/actions.ts';
import { notifier } from '../../src/network/wakeup.ts';
import { percentiles, type Percentiles } from './measure.ts';
import { withClient } from './pg.ts';
import { NIC, ok } from './populate.ts';
import { pool } from './scale-world.ts';
import { startWorker, type Server, type Worker } from './servers.ts';

export interface DrainOptions {
  api: Server;
  databaseUrl: string;
  workDir: string;
  /** Names the run's files (worker logs, config). */
  name: string;
  mode: 'live' | 'backlog';
  /** connect_network (the nodes are on no network) or detach_network (they are on `network`). */
  verb?: 'connect' | 'detach';
  workers: number;
  /** `[worker] switch_concurrency` of every worker: switches one worker changes at once. */
  switchConcurrency: number;
  nodes: string[];
  network: string;
  /** Requests in flight while queueing. */
  clients?: number;
}

export interface DrainResult {
  mode: 'live' | 'backlog';
  workers: number;
  switchConcurrency: number;
  actions: number;
  /** Live: first POST sent → last POST answered. Backlog: the queueing transaction. */
  queueSeconds: number;
  /** Live: first POST sent → last action DONE. Backlog: commit → last action DONE. */
  drainSeconds: number;
  /** Live: POST sent → DONE. Backlog: commit → DONE. In ms. */
  latency: Percentiles;
  errors: number;
  /** Actions each worker's log says it applied: who did the work. */
  perWorker: number[];
  /** CPU seconds the workers used together. */
  workerCpuSeconds: number;
}

/** A hil.toml for the workers: how many switches each may change at once. */
function workerConfig(dir: string, name: string, switchConcurrency: number): string {
  const file = join(dir, `${name}.toml`);
  writeFileSync(file, `[worker]\nswitch_concurrency = ${switchConcurrency}\n`);
  return file;
}

export async function drainRun(o: DrainOptions): Promise<DrainResult> {
  const configFile = workerConfig(o.workDir, o.name, o.switchConcurrency);
  const workers: Worker[] = [];
  try {
    for (const w of await Promise.all(
      Array.from({ length: o.workers }, (_, k) => startWorker({ name: `${o.name}-w${k + 1}`, databaseUrl: o.databaseUrl, configFile, workDir: o.workDir })),
    )) workers.push(w);
    await sleep(500); // every worker past its first lease attempt and LISTENing
    const cpu0 = workers.reduce((sum, w) => sum + w.cpuSeconds(), 0);
    const q = o.mode === 'live' ? await queueLive(o) : await queueBacklog(o);
    const rows = await waitDone(o.databaseUrl, [...q.sent.keys()]);
    const workerCpuSeconds = workers.reduce((s, w) => s + w.cpuSeconds(), 0) - cpu0;
    const finished = rows.map((r) => Number(r.finished_at));
    return {
      mode: o.mode,
      workers: o.workers,
      switchConcurrency: o.switchConcurrency,
      actions: rows.length,
      queueSeconds: q.queueSeconds,
      drainSeconds: (Math.max(...finished) - q.t0) / 1000,
      latency: percentiles(rows.map((r) => Number(r.finished_at) - q.sent.get(r.uuid)!)),
      errors: rows.filter((r) => r.status !== 'DONE').length,
      perWorker: await stopAndCount(workers, o.workDir),
      workerCpuSeconds,
    };
  } finally {
    for (const w of workers) await w.stop();
  }
}

interface Queued {
  /** status_id → when its clock started (ms since the epoch). */
  sent: Map<string, number>;
  /** When the drain's clock started. */
  t0: number;
  queueSeconds: number;
}

async function queueLive(o: DrainOptions): Promise<Queued> {
  const sent = new Map<string, number>();
  const t0 = Date.now();
  await pool(o.nodes.length, o.clients ?? 16, async (k) => {
    const at = Date.now();
    const { status_id } = await ok(o.api, 'POST', `/v0/node/${o.nodes[k]}/nic/${NIC}/${o.verb ?? 'connect'}_network`, { network: o.network });
    sent.set(status_id, at);
  });
  return { sent, t0, queueSeconds: (Date.now() - t0) / 1000 };
}

/**
 * Every change in one transaction, each as connect_network (detach_network)
 * writes it: the nic's finished action row goes, a PENDING one comes, on the
 * channel the network's attachments use.
 */
async function queueBacklog(o: DrainOptions): Promise<Queued> {
  const store = openStore(o.databaseUrl, { poolSize: 1 });
  try {
    const db = store.db;
    const net = await db.selectFrom('network').select('id').where('label', '=', o.network).executeTakeFirstOrThrow();
    const { channel } = await db.selectFrom('network_attachment').select('channel').where('network_id', '=', net.id).executeTakeFirstOrThrow();
    const nics = await db.selectFrom('nic').innerJoin('node', 'node.id', 'nic.node_id').select('nic.id').where('node.label', 'in', o.nodes).where('nic.label', '=', NIC).execute();
    if (nics.length !== o.nodes.length) throw new Error(`drain: ${o.nodes.length - nics.length} of the nodes have no ${NIC}`);
    const uuids = nics.map(() => randomUUID());
    const begun = Date.now();
    await db.transaction().execute(async (tx) => {
      const ids = nics.map((n) => n.id);
      await tx.deleteFrom('networking_action').where('nic_id', 'in', ids).where('status', '!=', 'PENDING').execute();
      for (const [k, nic] of nics.entries()) {
        await insertPendingAction(tx, { uuid: uuids[k], nicId: nic.id, type: 'modify_port', channel, newNetworkId: o.verb === 'detach' ? null : net.id });
      }
    });
    const t0 = Date.now();
    notifier(store)();
    return { sent: new Map(uuids.map((u) => [u, t0])), t0, queueSeconds: (t0 - begun) / 1000 };
  } finally {
    await store.close();
  }
}

interface ActionRow {
  uuid: string;
  status: string;
  finished_at: string;
}

/** Polls the journal every 10 ms until none of `uuids` is PENDING (5 minutes at most). */
async function waitDone(databaseUrl: string, uuids: string[]): Promise<ActionRow[]> {
  return withClient(databaseUrl, async (c) => {
    const deadline = Date.now() + 300_000;
    for (;;) {
      const { rows } = await c.query(`select count(*)::int as n from networking_action where uuid = any($1) and status = 'PENDING'`, [uuids]);
      if (rows[0].n === 0) break;
      if (Date.now() > deadline) throw new Error(`drain: ${rows[0].n} of ${uuids.length} actions still PENDING after 5 minutes`);
      await sleep(10);
    }
    const { rows } = await c.query(`select uuid, status, finished_at from networking_action where uuid = any($1)`, [uuids]);
    if (rows.length !== uuids.length) throw new Error(`drain: ${uuids.length - rows.length} actions vanished from the journal`);
    return rows as ActionRow[];
  });
}

async function stopAndCount(workers: Worker[], dir: string): Promise<number[]> {
  for (const w of workers) await w.stop();
  return workers.map((w) => readFileSync(join(dir, `${w.name}.log`), 'utf8').split('"networking action done"').length - 1);
}
