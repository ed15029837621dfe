/**
 * The `mock` BMC: power and boot device live in memory per node, every
 * power change is logged (so tests can prove what happened), and the console
 * prints a counter that survives reconnects, as obmd's mock does; what is
 * typed comes back as "> input" lines, like a serial shell echoing.
 */
import { Type } from 'typebox';
import { driverParams, Secret } from '../params.ts';
import type { BootDevice, ManagedBmcDriver } from './interface.ts';

export interface MockBmcState {
  power: 'on' | 'off';
  bootDevice: BootDevice;
  bootPersistent: boolean;
  powerEvents: string[];
  consoleCounter: number;
}

/** Fields upstream's mock OBM carried; none is used. */
const MockBmcParams = Type.Object({ host: Type.Optional(Type.String()), user: Type.Optional(Type.String()), password: Type.Optional(Secret()) });

export type MockBmcDriver = ManagedBmcDriver & { state(nodeLabel: string): MockBmcState };

export function mockBmcDriver(options: { consoleIntervalMs?: number } = {}): MockBmcDriver {
  const bmcs = new Map<string, MockBmcState>();
  const bmc = (label: string): MockBmcState => {
    let s = bmcs.get(label);
    if (!s) bmcs.set(label, (s = { power: 'off', bootDevice: 'disk', bootPersistent: true, powerEvents: [], consoleCounter: 0 }));
    return s;
  };
  const interval = options.consoleIntervalMs ?? 20;

  return {
    type: 'mock',
    params: driverParams('mock OBM', MockBmcParams),

    power: {
      async setPower(t, action) {
        const s = bmc(t.nodeLabel);
        s.power = action;
        s.powerEvents.push(action);
      },
      async powerCycle(t, force) {
        const s = bmc(t.nodeLabel);
        s.power = 'on';
        s.powerEvents.push(force ? 'reset' : 'cycle');
      },
      async powerStatus(t) {
        return bmc(t.nodeLabel).power;
      },
    },

    boot: {
      async setBootDevice(t, device, persistent) {
        const s = bmc(t.nodeLabel);
        s.bootDevice = device;
        s.bootPersistent = persistent;
      },
    },

    console: {
      open(t, signal) {
        const typed: string[] = [];
        let wake: (() => void) | undefined;
        const output = (async function* () {
          const s = bmc(t.nodeLabel);
          while (!signal.aborted) {
            while (typed.length) yield Buffer.from(`> ${typed.shift()}\n`);
            yield Buffer.from(`${s.consoleCounter++}\n`);
            await new Promise<void>((resolve) => {
              wake = resolve;
              const timer = setTimeout(resolve, interval);
              signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
            });
          }
        })();
        return {
          output,
          write(data) {
            typed.push(Buffer.from(data).toString().replace(/\r?\n$/, ''));
            wake?.();
          },
        };
      },
    },

    state: bmc,
  };
}
