/**
 * One drain run: N networking workers (`hil-admin serve-networks`, each its
 * own process) on the API server's PostgreSQL database, then connect_network
 * for each of `nodes` through the API, `clients` requests at a time, as fast
 * as the API takes them. Per action, the latency is from sending its POST to
 * its DONE as the worker recorded it (networking_action.finished_at, the
 * same machine's clock); the drain time is from the first POST to the last
 * DONE. The table is polled for what is still PENDING, so that no HTTP
 * polling competes with the workers for the two cores.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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
  workers: number;
  /** `[worker] switch_concurrency` of every worker: switches one worker changes at once. */
  switchConcurrency: number;
  nodes: string[];
  network: string;
  /** Requests in flight while queueing. */
  clients?: number;
}

export interface DrainResult {
  workers: number;
  switchConcurrency: number;
  actions: number;
  /** First POST sent → last POST answered. */
  queueSeconds: number;
  /** First POST sent → last action DONE. */
  drainSeconds: number;
  /** POST sent → DONE, ms. */
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
    const cpu0 = workers.reduce((s, w) => s + w.cpuSeconds(), 0);
    const sent = new Map<string, number>();
    const t0 = Date.now();
    await pool(o.nodes.length, o.clients ?? 16, async (k) => {
      const at = Date.now();
      const { status_id } = await ok(o.api, 'POST', `/v0/node/${o.nodes[k]}/nic/${NIC}/connect_network`, { network: o.network });
      sent.set(status_id, at);
    });
    const queued = Date.now();
    const rows = await waitDone(o.databaseUrl, [...sent.keys()]);
    const workerCpuSeconds = workers.reduce((s, w) => s + w.cpuSeconds(), 0) - cpu0;
    const finished = rows.map((r) => Number(r.finished_at));
    return {
      workers: o.workers,
      switchConcurrency: o.switchConcurrency,
      actions: rows.length,
      queueSeconds: (queued - t0) / 1000,
      drainSeconds: (Math.max(...finished) - t0) / 1000,
      latency: percentiles(rows.map((r) => Number(r.finished_at) - sent.get(r.uuid)!)),
      errors: rows.filter((r) => r.status !== 'DONE').length,
      perWorker: await stopAndCount(workers, o.workDir),
      workerCpuSeconds,
    };
  } finally {
    for (const w of workers) await w.stop();
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
