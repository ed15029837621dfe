/** The machine, the markdown tables, and the generated part of docs/benchmarks.md. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { CycleResult, LoadResult } from './measure.ts';

/** The commit measured, with "+dirty" when src/ has uncommitted changes. */
export function revision(root: string): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'src');
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kernel: string;
  date: string;
  loadAverage: number[];
}

export function machine(): Machine {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1].trim();
  } catch {
    // not Linux: os.cpus() will do
  }
  return {
    cpus: os.availableParallelism(),
    cpuModel,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export type ServerKey = 'hilNull' | 'baseline' | 'hilDb';

export interface ReadSummary {
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerRequest: number;
  serverCores: number;
}

export interface ReadCase {
  key: 'free' | 'node';
  call: string;
  paths: string[];
  rounds: Array<Record<ServerKey, LoadResult>>;
  /** ratio*: hil req/s ÷ baseline req/s; cpuRatio*: baseline CPU per request ÷ hil's. Medians of per-round ratios. */
  summary: Record<ServerKey, ReadSummary> & { ratioNull: number; ratioDb: number; cpuRatioNull: number; cpuRatioDb: number };
}

export interface SizeResult {
  nodes: number;
  populateSeconds: number;
  reads: ReadCase[];
  cycles: CycleResult;
}

export interface Check {
  nodes: number;
  what: string;
  measured: string;
  target: string;
  pass: boolean;
}

export interface Results {
  machine: Machine;
  command: string;
  /** git commit of the code measured. */
  revision: string;
  options: { sizes: number[]; rounds: number; seconds: number; warmupSeconds: number; connections: number; cycles: number };
  sizes: SizeResult[];
  checks: Check[];
  totalSeconds: number;
  /** 1-minute load average when the run ended (the machine's own is in machine.loadAverage, at the start). */
  loadAverageEnd: number[];
}

export const TARGET_NULL = 0.7;
export const TARGET_DB = 0.6;
export const TARGET_CONNECT_P50_MS = 20;

export function checks(sizes: SizeResult[]): Check[] {
  const out: Check[] = [];
  for (const s of sizes) {
    for (const r of s.reads) {
      out.push({ nodes: s.nodes, what: `${r.call}, null auth`, measured: pct(r.summary.ratioNull), target: `≥ ${pct(TARGET_NULL)}`, pass: r.summary.ratioNull >= TARGET_NULL });
      out.push({ nodes: s.nodes, what: `${r.call}, database auth`, measured: pct(r.summary.ratioDb), target: `≥ ${pct(TARGET_DB)}`, pass: r.summary.ratioDb >= TARGET_DB });
    }
    const p50 = s.cycles.connect.p50;
    out.push({
      nodes: s.nodes,
      what: 'connect→DONE p50 (mock switch)',
      measured: `${ms(p50)} ms`,
      target: `< ${TARGET_CONNECT_P50_MS} ms`,
      pass: p50 < TARGET_CONNECT_P50_MS && s.cycles.failures === 0,
    });
  }
  return out;
}

const int = (x: number) => Math.round(x).toLocaleString('en-US');
// Rounded down, so that a ratio shown as 60 % has met a 60 % target.
const pct = (x: number) => `${Math.floor(x * 100 + 1e-9)} %`;
const ms = (x: number) => (x < 10 ? x.toFixed(1) : x.toFixed(0));
const lat = (s: ReadSummary) => `${s.p50 === 0 ? '< 1' : s.p50} / ${s.p99}`;

export function markdown(r: Results): string {
  const lines: string[] = [];
  lines.push(
    '| nodes | call | auth | hil req/s | baseline req/s | hil ÷ baseline | target | result | hil p50 / p99 ms | baseline p50 / p99 ms | server CPU µs/req: hil / baseline (ratio) |',
  );
  lines.push('|---:|---|---|---:|---:|---:|---|---|---|---|---|');
  for (const s of r.sizes) {
    for (const c of s.reads) {
      const b = c.summary.baseline;
      for (const [auth, key, ratio, cpuRatio, target] of [
        ['null', 'hilNull', c.summary.ratioNull, c.summary.cpuRatioNull, TARGET_NULL],
        ['database', 'hilDb', c.summary.ratioDb, c.summary.cpuRatioDb, TARGET_DB],
      ] as const) {
        const h = c.summary[key];
        lines.push(
          `| ${int(s.nodes)} | \`${c.call}\` | ${auth} | ${int(h.rps)} | ${int(b.rps)} | ${pct(ratio)} | ≥ ${pct(target)} | ${ratio >= target ? 'pass' : '**FAIL**'} | ${lat(h)} | ${lat(b)} | ${int(h.cpuUsPerRequest)} / ${int(b.cpuUsPerRequest)} (${pct(cpuRatio)}) |`,
        );
      }
    }
  }
  lines.push('');
  lines.push('| nodes | cycles | connect→DONE p50 / p90 / p99 ms | detach→DONE p50 / p90 / p99 ms | cycles/s | polls per action | target (connect p50) | result |');
  lines.push('|---:|---:|---|---|---:|---:|---|---|');
  for (const s of r.sizes) {
    const c = s.cycles;
    const pass = c.connect.p50 < TARGET_CONNECT_P50_MS && c.failures === 0;
    lines.push(
      `| ${int(s.nodes)} | ${c.cycles}${c.failures ? ` (${c.failures} failed)` : ''} | ${ms(c.connect.p50)} / ${ms(c.connect.p90)} / ${ms(c.connect.p99)} | ${ms(c.detach.p50)} / ${ms(c.detach.p90)} / ${ms(c.detach.p99)} | ${c.cyclesPerSecond.toFixed(1)} | ${c.pollsPerAction.toFixed(1)} | < ${TARGET_CONNECT_P50_MS} ms (upstream 2,015 ms) | ${pass ? 'pass' : '**FAIL**'} |`,
    );
  }
  return lines.join('\n');
}

export function machineBlock(r: Results, resultsFile: string): string {
  const m = r.machine;
  const o = r.options;
  return [
    `- **Date:** ${m.date}`,
    `- **Machine:** ${m.cpuModel}, ${m.cpus} CPUs (nproc), ${m.memoryGiB} GiB RAM, ${m.kernel}; load average ${m.loadAverage.join(' / ')} at the start, ${r.loadAverageEnd.join(' / ')} at the end`,
    `- **Node.js:** ${m.node} (the project's pinned node)`,
    `- **Command:** \`${r.command}\` on commit ${r.revision} (${Math.round(r.totalSeconds)} s in all)`,
    `- **Method:** ${o.rounds} interleaved rounds × ${o.seconds} s per server and call, ${o.connections} connections, after a ${o.warmupSeconds} s warm-up each; ` +
      `req/s and latencies are medians over the rounds, the ratio is the median of the per-round ratios; ${o.cycles} sequential networking cycles per size`,
    `- **Raw figures:** \`${resultsFile}\``,
  ].join('\n');
}

/**
 * Replaces one generated block of docs/benchmarks.md, between
 * `<!-- bench:NAME:begin (generated by COMMAND) -->` and `<!-- bench:NAME:end -->`,
 * keeping the hand-written text around it; the first time, appends it under `heading`.
 */
export function replaceDocsBlock(file: string, o: { name: string; command: string; heading: string; body: string }): void {
  const begin = `<!-- bench:${o.name}:begin (generated by ${o.command}) -->`;
  const end = `<!-- bench:${o.name}:end -->`;
  const block = `${begin}\n${o.body}\n${end}`;
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = doc.indexOf(`<!-- bench:${o.name}:begin`);
  const b = doc.indexOf(end);
  writeFileSync(file, a < 0 || b < a ? `${doc.trimEnd()}\n\n## ${o.heading}\n\n${block}\n` : doc.slice(0, a) + block + doc.slice(b + end.length));
}

/** Replaces the API benchmark's part of docs/benchmarks.md. */
export function writeDocs(file: string, r: Results, resultsFile: string): void {
  replaceDocsBlock(file, { name: 'results', command: 'npm run bench -- --write-docs', heading: 'API', body: `${machineBlock(r, resultsFile)}\n\n${markdown(r)}` });
}
