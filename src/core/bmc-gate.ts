/**
 * How BMC calls are admitted: one at a time per BMC (BMCs, ipmi_sim among
 * them, mishandle overlapping sessions), at most `maxConcurrent` in all (a
 * power-cycle storm must not open hundreds of ipmitool processes), and each
 * bounded by a timeout that includes its wait in line. A call that times out
 * gives its place up at once, even if the BMC never answers it.
 */
import { TimeoutError } from '../util/timeout.ts';

export class BmcGate {
  readonly #maxConcurrent: number;
  readonly #tails = new Map<string, Promise<void>>();
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(maxConcurrent: number) {
    this.#maxConcurrent = maxConcurrent;
  }

  async run<T>(key: string, timeoutMs: number, what: string, work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    // Our turn on this BMC comes after whoever is in line before us.
    const before = this.#tails.get(key) ?? Promise.resolve();
    let leave!: () => void;
    const ours = new Promise<void>((resolve) => (leave = resolve));
    const tail = before.then(() => ours);
    this.#tails.set(key, tail);
    let slot: { admitted: Promise<void>; cancel(): void } | undefined;
    try {
      await Promise.race([before, timedOut]);
      slot = this.#admit();
      await Promise.race([slot.admitted, timedOut]);
      return await Promise.race([work(), timedOut]);
    } finally {
      clearTimeout(timer);
      slot?.cancel();
      leave();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** A place among the running calls; cancel() gives it back (or leaves the queue). */
  #admit(): { admitted: Promise<void>; cancel(): void } {
    let holding = false;
    let done = false;
    let grant!: () => void;
    const admitted = new Promise<void>((resolve) => {
      grant = () => {
        holding = true;
        this.#active++;
        resolve();
      };
    });
    if (this.#active < this.#maxConcurrent) grant();
    else this.#waiting.push(grant);
    return {
      admitted,
      cancel: () => {
        if (done) return;
        done = true;
        if (holding) {
          this.#active--;
          this.#waiting.shift()?.();
        } else {
          const i = this.#waiting.indexOf(grant);
          if (i >= 0) this.#waiting.splice(i, 1);
        }
      },
    };
  }
}
