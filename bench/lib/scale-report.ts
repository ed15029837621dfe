/** The machine line and the tables of the scale and worker benchmarks. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { DrainResult } from './drain.ts';
import type { FreeListResult } from './free-list.ts';
import type { GrowthRow } from './growth.ts';
import { median } from './measure.ts';
import { machine } from './report.ts';

/** `nproc`, `free -g`, the load average at the start, and the rest of what the run ran on. */
export function machineLine(): string {
  const m = machine();
  let mem = `${m.memoryGiB} GiB RAM`;
  try {
    const line = execFileSync('free', ['-g'], { encoding: 'utf8' }).split('\n').find((l) => l.startsWith('Mem:'));
    const [total, used, , , , available] = line!.split(/\s+/).slice(1).map(Number);
    mem = `\`free -g\`: ${total} total, ${used} used, ${available} available`;
  } catch {
    // no free(1): os.totalmem() will do
  }
  return `${m.cpuModel}, \`nproc\` ${os.availableParallelism()}, ${mem}, ${m.kernel}, Node ${m.node}; load average ${m.loadAverage.join(' / ')} at the start; ${m.date}`;
}

const s2 = (x: number) => x.toFixed(2);
const ms = (x: number) => (x < 10 ? x.toFixed(1) : x.toFixed(0));

const MODE = { live: 'live, through the API', backlog: 'backlog' } as const;

/** Drain runs grouped by mode, switch_concurrency and workers, medians over their rounds. */
export function drainTable(runs: DrainResult[]): string {
  const key = (r: DrainResult) => `${r.mode}:${r.switchConcurrency}:${r.workers}`;
  const keys = [...new Set(runs.map(key))];
  const lines = [
    '| changes queued | switch_concurrency | workers | changes | drain time | queueing took | change → DONE p50 / p99 ms | changes applied by each worker | worker CPU | errors |',
    '|---|---:|---:|---:|---:|---:|---|---|---:|---:|',
  ];
  for (const k of keys) {
    const rs = runs.filter((r) => key(r) === k);
    const med = (f: (r: DrainResult) => number) => median(rs.map(f));
    const r0 = rs[0];
    lines.push(
      `| ${MODE[r0.mode]} | ${r0.switchConcurrency} | ${r0.workers} | ${r0.actions} | **${s2(med((r) => r.drainSeconds))} s** | ${s2(med((r) => r.queueSeconds))} s | ${ms(med((r) => r.latency.p50))} / ${ms(med((r) => r.latency.p99))} | ${rs.map((r) => r.perWorker.join(' / ')).join('; ')} | ${s2(med((r) => r.workerCpuSeconds))} s | ${rs.reduce((n, r) => n + r.errors, 0)} |`,
    );
  }
  return lines.join('\n');
}

/**
 * The most N workers can gain over one: each switch's queue is applied in
 * order, so a worker that may change c switches at once already covers
 * min(c, S) of S switches, and N of them min(N·c, S).
 */
export const idealSpeedup = (workers: number, switchConcurrency: number, switches: number) =>
  Math.min(workers * switchConcurrency, switches) / Math.min(switchConcurrency, switches);

/** "1 worker's drain time ÷ N workers'", with the ideal and, if given, the target it must reach. */
export function ratioLine(what: string, ratio: number, ideal: number, target?: number): string {
  const verdict = target === undefined ? '' : ` (target ≥ ${target.toFixed(1)}×: ${ratio >= target ? 'pass' : '**not met**'})`;
  return `- **${what}: drain time of 1 worker ÷ this = ${ratio.toFixed(2)}×** (ideal ${ideal}×)${verdict}`;
}

const int = (x: number) => Math.round(x).toLocaleString('en-US');
const lat = (p50: number, p99: number) => `${p50 === 0 ? '< 1' : p50} / ${p99}`;
const x2 = (x: number) => `${x.toFixed(2)}×`;

/** The growth table: per call and size, medians over the rounds, and each step's growth. */
export function growthTable(rows: GrowthRow[]): string {
  const lines = [
    '| call | nodes | answer | req/s | p50 / p99 ms | CPU µs/req: API + PostgreSQL | time per request ÷ previous size | CPU per request ÷ previous size |',
    '|---|---:|---|---:|---|---|---:|---:|',
  ];
  for (const r of rows) {
    const m = r.median;
    lines.push(
      `| \`${r.call}\` | ${int(r.nodes)} | ${r.answer} | ${int(m.rps)} | ${lat(m.p50, m.p99)} | ${int(m.apiCpuUs)} + ${int(m.dbCpuUs)} | ${r.growth ? x2(r.growth.time) : '—'} | ${r.growth ? x2(r.growth.cpu) : '—'} |`,
    );
  }
  return lines.join('\n');
}

export function freeListTable(f: FreeListResult, nodes: number): string {
  const lines = [
    `| schema (${int(nodes)} nodes) | query plan | EXPLAIN ANALYZE execution | req/s | p50 / p99 ms | CPU µs/req: API + PostgreSQL |`,
    '|---|---|---:|---:|---|---|',
  ];
  for (const [v, label] of [['before', 'before 0006: project index over every node'], ['after', '**0006**: free-list index, project index of allocated nodes']] as const) {
    const x = f.variants[v];
    lines.push(`| ${label} | ${x.plan} | ${x.executionMs.toFixed(3)} ms | ${int(x.median.rps)} | ${lat(x.median.p50, x.median.p99)} | ${int(x.median.apiCpuUs)} + ${int(x.median.dbCpuUs)} |`);
  }
  return lines.join('\n');
}
