/**
 * A BMC type for tests whose power cycles wait until the test lets them
 * through: a request that is in flight for as long as the test needs
 * (shutdown, timeouts). Everything else is the mock BMC's.
 */
import { mockBmcDriver } from '../../src/drivers/bmc/mock.ts';
import type { ManagedBmcDriver } from '../../src/drivers/bmc/interface.ts';

export interface GatedBmc {
  driver: ManagedBmcDriver;
  /** Resolves when a power cycle has reached the BMC (and waits there). */
  reached(): Promise<void>;
  /** Lets every waiting and later power cycle through. */
  open(): void;
}

export function gatedBmc(type = 'gated'): GatedBmc {
  const mock = mockBmcDriver();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let reached!: () => void;
  const reachedOnce = new Promise<void>((resolve) => (reached = resolve));
  const driver: ManagedBmcDriver = {
    ...mock,
    type,
    power: {
      ...mock.power,
      async powerCycle(t, force) {
        reached();
        await gate;
        return mock.power.powerCycle(t, force);
      },
    },
  };
  return { driver, reached: () => reachedOnce, open };
}
