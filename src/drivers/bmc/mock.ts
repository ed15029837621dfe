/**
 * The `mock` BMC: power and boot device live in memory per node, every
 * power change is logged (so tests can prove what happened), and the console
 * prints a counter that survives reconnects, as obmd's mock does.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BadArgumentError } from '../../errors.ts';
import type { BootDevice, ObmDriver, PowerState } from './interface.ts';

export interface MockBmcState {
  power: 'on' | 'off';
  bootDevice: BootDevice;
  bootPersistent: boolean;
  powerEvents: string[];
  consoleCounter: number;
}

const OPTIONAL_FIELDS = ['host', 'user', 'password'] as const;

export function mockObmDriver(options: { consoleIntervalMs?: number } = {}) {
  const bmcs = new Map<string, MockBmcState>();
  const bmc = (label: string): MockBmcState => {
    let s = bmcs.get(label);
    if (!s) bmcs.set(label, (s = { power: 'off', bootDevice: 'disk', bootPersistent: true, powerEvents: [], consoleCounter: 0 }));
    return s;
  };
  const interval = options.consoleIntervalMs ?? 20;

  const driver: ObmDriver & { state(nodeLabel: string): MockBmcState } = {
    type: 'mock',
    secretFields: ['password'],

    validateParams(params) {
      for (const [k, v] of Object.entries(params)) {
        if (!(OPTIONAL_FIELDS as readonly string[]).includes(k)) throw new BadArgumentError(`unknown field "${k}" for a mock OBM`);
        if (typeof v !== 'string') throw new BadArgumentError(`mock OBM field "${k}" must be a string`);
      }
    },

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

    async powerStatus(t): Promise<PowerState> {
      return bmc(t.nodeLabel).power;
    },

    async setBootDevice(t, device, persistent) {
      const s = bmc(t.nodeLabel);
      s.bootDevice = device;
      s.bootPersistent = persistent;
    },

    async *console(t, signal) {
      const s = bmc(t.nodeLabel);
      while (!signal.aborted) {
        yield Buffer.from(`${s.consoleCounter++}\n`);
        await sleep(interval, undefined, { signal }).catch(() => {});
      }
    },

    /** Typed input comes back as "> input" lines, like a serial shell echoing. */
    openConsole(t, signal) {
      const typed: string[] = [];
      let wake: (() => void) | undefined;
      const output = (async function* () {
        const s = bmc(t.nodeLabel);
        while (!signal.aborted) {
          while (typed.length) yield Buffer.from(`> ${typed.shift()}\n`);
          yield Buffer.from(`${s.consoleCounter++}\n`);
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, interval);
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

    state: bmc,
  };
  return driver;
}
