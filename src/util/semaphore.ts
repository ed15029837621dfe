/** At most `limit` holders at once; waiters are admitted in arrival order and may leave the line by aborting. */
export class Semaphore {
  readonly #limit: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Resolves with the function that gives the place back (call it exactly once). */
  acquire(signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.#active--;
        this.#waiting.shift()?.();
      };
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.#active++;
        resolve(release);
      };
      const onAbort = () => {
        const i = this.#waiting.indexOf(grant);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal!.reason);
      };
      if (signal?.aborted) return reject(signal.reason);
      if (this.#active < this.#limit) return grant();
      this.#waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  get active(): number {
    return this.#active;
  }
}
