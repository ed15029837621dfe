/**
 * One holder at a time per key (a BMC, a pool, a console line), in arrival
 * order. A waiter whose signal aborts leaves the line at once; the next
 * waiter still waits for whoever was before it, so leaving never lets two
 * holders overlap except when a holder is abandoned by a timeout, by design.
 */
import { untilAborted } from './timeout.ts';

export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Waits for `key`; resolves with the function that releases it (call it exactly once). */
  async acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    let leave!: () => void;
    const ours = new Promise<void>((resolve) => (leave = resolve));
    const tail = before.then(() => ours);
    this.#tails.set(key, tail);
    const release = () => {
      leave();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    try {
      await untilAborted(before, signal);
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  /** Runs `fn` holding `key`. */
  async run<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(key, signal);
    try {
      return await untilAborted(fn(), signal);
    } finally {
      release();
    }
  }

  /** Keys someone holds or waits for (tests, metrics). */
  get busyKeys(): number {
    return this.#tails.size;
  }
}
