/**
 * How BMC calls are admitted: one at a time per BMC (BMCs, ipmi_sim among
 * them, mishandle overlapping sessions), at most `maxConcurrent` in all (a
 * power-cycle storm must not open hundreds of ipmitool processes), and each
 * bounded by a timeout that includes its wait in line. A call that times out
 * gives its place up at once, even if the BMC never answers it.
 */
import { KeyedLock } from '../util/keyed-lock.ts';
import { Semaphore } from '../util/semaphore.ts';
import { untilAborted, withTimeout } from '../util/timeout.ts';

export class BmcGate {
  readonly #perBmc = new KeyedLock();
  readonly #overall: Semaphore;

  constructor(maxConcurrent: number) {
    this.#overall = new Semaphore(maxConcurrent);
  }

  run<T>(key: string, timeoutMs: number, what: string, work: () => Promise<T>): Promise<T> {
    return withTimeout(timeoutMs, what, (signal) =>
      this.#perBmc.run(
        key,
        async () => {
          const release = await this.#overall.acquire(signal);
          try {
            return await untilAborted(work(), signal); // a hung BMC gives its slot back at the timeout
          } finally {
            release();
          }
        },
        signal,
      ),
    );
  }
}
