/**
 * How BMC calls are admitted: one at a time per BMC (BMCs, ipmi_sim among
 * them, mishandle overlapping sessions) across every HIL process on the
 * database (the BMC's claim, taken for the call), at most `maxConcurrent`
 * in all from this process (a power-cycle storm must not open hundreds of
 * ipmitool processes), and each bounded by a timeout that includes its wait
 * in line. A call that times out gives its place up at once, even if the
 * BMC never answers it.
 */
import type { Claims } from '../claims/claims.ts';

/** What the gate needs of the claims: wait for a resource, then give it back. */
export type ResourceClaims = Pick<Claims, 'takeWaiting'>;
import { OBMError } from '../errors.ts';
import { KeyedLock } from '../util/keyed-lock.ts';
import { Semaphore } from '../util/semaphore.ts';
import { untilAborted, withTimeout } from '../util/timeout.ts';

export class BmcGate {
  readonly #perBmc = new KeyedLock();
  readonly #overall: Semaphore;
  readonly #claims: ResourceClaims;

  constructor(maxConcurrent: number, claims: ResourceClaims) {
    this.#overall = new Semaphore(maxConcurrent);
    this.#claims = claims;
  }

  /** Runs `work` under the claim `resource` (e.g. `bmc:<node id>`). */
  run<T>(resource: string, timeoutMs: number, what: string, work: () => Promise<T>): Promise<T> {
    return withTimeout(timeoutMs, what, (signal) =>
      this.#perBmc.run(
        resource,
        async () => {
          const release = await this.#overall.acquire(signal);
          const claim = await this.#claims.takeWaiting(resource, signal).catch((err: unknown) => {
            release();
            throw err;
          });
          try {
            // Paused between the take and here, the claim may have passed on: then another process is at the BMC.
            if (!claim.valid) throw new OBMError(`${what}: the BMC's claim passed to another HIL process; try again`);
            return await untilAborted(work(), signal); // a hung BMC gives its slot back at the timeout
          } finally {
            release();
            await claim.release().catch(() => {}); // it expires anyway if this fails
          }
        },
        signal,
      ),
    );
  }
}
