/**
 * A task that many events ask to run (a queue scan, a state-machine tick):
 * a request while it runs makes it run once more afterwards, never twice at
 * once and never a request lost. `settled()` resolves when it is not running
 * and nothing is asked of it (tests, shutdown).
 */
export class Coalesced {
  readonly #task: () => Promise<void>;
  readonly #onError: (err: unknown) => void;
  readonly #onSettled: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  readonly #settledWaiters: Array<() => void> = [];

  constructor(task: () => Promise<void>, o: { onError: (err: unknown) => void; onSettled?: () => void }) {
    this.#task = task;
    this.#onError = o.onError;
    this.#onSettled = o.onSettled;
  }

  /** Runs the task now, or once more after the run under way. */
  kick(): void {
    if (this.#stopped) return this.#maybeSettled();
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#task()
      .catch(this.#onError)
      .finally(() => {
        this.#running = undefined;
        if (this.#again && !this.#stopped) {
          this.#again = false;
          this.kick();
        } else {
          this.#again = false;
          this.#maybeSettled();
        }
      });
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  settled(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#settledWaiters.push(resolve));
  }

  /** No run starts after this; resolves when the one under way has ended. */
  stop(): Promise<void> {
    this.#stopped = true;
    return this.settled();
  }

  #maybeSettled(): void {
    if (this.#running) return;
    for (const w of this.#settledWaiters.splice(0)) w();
    this.#onSettled?.();
  }
}
