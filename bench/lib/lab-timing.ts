/**
 * Timing lab nodes by their consoles, and the medians the lab benchmarks
 * report (bench:fastprov, bench:diskless).
 */
import { setTimeout as sleep } from 'node:timers/promises';
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
