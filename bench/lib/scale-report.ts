/** The machine line and the tables of the scale and worker benchmarks. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { DrainResult } from './drain.ts';
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

/** Drain runs grouped by switch_concurrency and workers, medians over their rounds. */
export function drainTable(runs: DrainResult[]): string {
  const keys = [...new Set(runs.map((r) => `${r.switchConcurrency}:${r.workers}`))].sort((a, b) => {
    const [ca, wa] = a.split(':').map(Number);
    const [cb, wb] = b.split(':').map(Number);
    return ca - cb || wa - wb;
  });
  const lines = [
    '| switch_concurrency | workers | changes | drain time | queued through the API in | connect→DONE p50 / p99 ms | changes applied by each worker | worker CPU | errors |',
    '|---:|---:|---:|---:|---:|---|---|---:|---:|',
  ];
  for (const key of keys) {
    const [c, w] = key.split(':').map(Number);
    const rs = runs.filter((r) => r.switchConcurrency === c && r.workers === w);
    const med = (f: (r: DrainResult) => number) => median(rs.map(f));
    lines.push(
      `| ${c} | ${w} | ${rs[0].actions} | **${s2(med((r) => r.drainSeconds))} s** | ${s2(med((r) => r.queueSeconds))} s | ${ms(med((r) => r.latency.p50))} / ${ms(med((r) => r.latency.p99))} | ${rs.map((r) => r.perWorker.join(' / ')).join('; ')} | ${s2(med((r) => r.workerCpuSeconds))} s | ${rs.reduce((n, r) => n + r.errors, 0)} |`,
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
