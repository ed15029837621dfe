/**
 * A BMC driver called the way its tests think of it: a node label and the
 * registration fields as an admin would send them. Each call parses the
 * fields with the driver's own schema first, as the OBM service does.
 */
import type { BmcDriver, BootDevice, ConsoleSession, ManagedBmcDriver, PowerState } from '../../src/drivers/bmc/interface.ts';

export interface RawTarget {
  nodeLabel: string;
  params: Record<string, unknown>;
}

export interface BmcCalls {
  validateParams(params: Record<string, unknown>): void;
  setPower(t: RawTarget, action: 'on' | 'off'): Promise<void>;
  powerCycle(t: RawTarget, force: boolean): Promise<void>;
  powerStatus(t: RawTarget): Promise<PowerState>;
  setBootDevice(t: RawTarget, device: BootDevice, persistent: boolean): Promise<void>;
  openConsole(t: RawTarget, signal: AbortSignal): ConsoleSession;
}

export function bmcCalls(driver: BmcDriver): BmcCalls {
  const managed = driver as ManagedBmcDriver;
  const parsed = (t: RawTarget) => ({ nodeLabel: t.nodeLabel, params: driver.params.parse(t.params) });
  const need = <T>(i: T | undefined, what: string): T => {
    if (!i) throw new Error(`the ${driver.type} BMC type has no ${what} interface`);
    return i;
  };
  return {
    validateParams: (params) => void driver.params.parse(params),
    setPower: async (t, action) => need(managed.power, 'power').setPower(parsed(t), action),
    powerCycle: async (t, force) => need(managed.power, 'power').powerCycle(parsed(t), force),
    powerStatus: async (t) => need(managed.power, 'power').powerStatus(parsed(t)),
    setBootDevice: async (t, device, persistent) => need(managed.boot, 'boot').setBootDevice(parsed(t), device, persistent),
    openConsole: (t, signal) => need(managed.console, 'console').open(parsed(t), signal),
  };
}
