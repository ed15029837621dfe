/**
 * What the lab benchmarks (bench:fastprov, bench:diskless) share: timing
 * nodes by their consoles, medians, the extrapolation to real servers' POST
 * times, and where the report goes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { replaceDocsBlock } from './report.ts';
import type { Rig } from '../../test/support/fastprov-rig.ts';

/**
 * When each pattern first appears on node i's console after offset `from`,
 * in ms since `t0` (polled every 20 ms), and the console from `from` on once
 * all have.
 */
export async function consoleTimes(rig: Rig, i: number, from: number, t0: number, patterns: RegExp[], timeoutMs = 300_000): Promise<{ times: number[]; text: string }> {
  const times: Array<number | undefined> = patterns.map(() => undefined);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = rig.consoleText(i).slice(from);
    const now = Date.now();
    patterns.forEach((p, k) => {
      if (times[k] === undefined && p.test(text)) times[k] = now - t0;
    });
    if (times.every((t) => t !== undefined)) return { times: times as number[], text };
    if (now > deadline) throw new Error(`node ${rig.nodes[i]}: no ${patterns[times.findIndex((t) => t === undefined)]} within ${timeoutMs / 1000} s:\n${text.slice(-3000)}`);
    await sleep(20);
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Milliseconds as seconds with one decimal. */
export const sec = (ms: number) => (ms / 1000).toFixed(1);

/** Real servers' POST times the lab benchmarks extrapolate to (shared/notes/recursive-fastprov-bmi.md §3.1): a new 1U server, a typical 2-socket one, a large one. */
export const POST_SECONDS = [30, 180, 600];

/** A path of a lab benchmark, for the extrapolation: its measured time, and how many firmware boots (POSTs) it has on a real server. */
export interface ExtrapolatedPath {
  name: string;
  ms: number;
  posts: number;
}

/**
 * The table rows (with its header) of lab paths on real servers: each
 * path's measured time plus a POST per firmware boot it has, and each
 * path's ratio to the first.
 */
export function postExtrapolation(paths: ExtrapolatedPath[]): string[] {
  const [first, ...others] = paths;
  return [
    `| POST | ${paths.map((p) => p.name).join(' | ')} | ${others.map((p) => `${p.name} ÷ ${first!.name}`).join(' | ')} |`,
    `|---|${paths.map(() => '---|').join('')}${others.map(() => '---|').join('')}`,
    ...POST_SECONDS.map((post) => {
      const at = (p: ExtrapolatedPath) => p.ms + p.posts * post * 1000;
      return `| ${post} s | ${paths.map((p) => `${sec(at(p))} s`).join(' | ')} | ${others.map((p) => `${(at(p) / at(first!)).toFixed(1)}×`).join(' | ')} |`;
    }),
  ];
}

/** Prints a lab benchmark's report, keeps its samples in bench/results/<name>.json and, when asked, puts the report in docs/benchmarks.md. */
export function publishLabBench(o: { root: string; name: string; heading: string; body: string; data: unknown; writeDocs: boolean; log: (m: string) => void }): void {
  console.log(o.body);
  const dir = join(o.root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${o.name}.json`), JSON.stringify(o.data, null, 2));
  if (o.writeDocs) {
    replaceDocsBlock(join(o.root, 'docs', 'benchmarks.md'), { name: o.name, command: `npm run bench:${o.name} -- --write-docs`, heading: o.heading, body: o.body });
    o.log('docs/benchmarks.md updated');
  }
}

/** Runs a benchmark's main, printing its failure and exiting 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  });
}
