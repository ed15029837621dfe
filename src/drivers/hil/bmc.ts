/**
 * The `hil` BMC driver of a derived HIL: a node's "BMC" is its base node,
 * driven through the base's public API: `{"obm": {"type": "hil", "node":
 * "<base node>"}}`. Power, boot device, power status and the console are the
 * base node's. The base requires a node's OBM to be enabled before any of
 * that, so the driver enables it at the base when the base says it is not.
 */
import { HilApiError } from '../../client/index.ts';
import { BadArgumentError } from '../../errors.ts';
import { atBase, type Upstream } from './upstream.ts';
import type { ObmDriver, ObmTarget, PowerState } from '../bmc/interface.ts';

export const HIL_OBM_TYPE = 'hil';

function baseNode(t: ObmTarget): string {
  return t.params.node as string;
}

const obmDisabled = (err: unknown) => err instanceof HilApiError && err.type === 'BlockedError' && /OBM is not enabled/i.test(err.message);

export function hilObmDriver(up: Upstream): ObmDriver {
  /** Runs a base OBM call, enabling the base node's OBM first if the base asks for it. */
  const call = <T>(t: ObmTarget, what: string, fn: (node: string) => Promise<T>): Promise<T> =>
    atBase(`${what} of node ${baseNode(t)}`, async () => {
      try {
        return await fn(baseNode(t));
      } catch (err) {
        if (!obmDisabled(err)) throw err;
        await up.client.node.enableObm(baseNode(t));
        return fn(baseNode(t));
      }
    });

  return {
    type: HIL_OBM_TYPE,
    secretFields: [],
    validateParams(params) {
      const { node, ...rest } = params;
      if (typeof node !== 'string' || node === '') throw new BadArgumentError('hil OBM field "node" (the base node) must be a non-empty string');
      const extra = Object.keys(rest).filter((k) => k !== 'type');
      if (extra.length) throw new BadArgumentError(`hil OBM: unknown field ${extra[0]}`);
    },
    async setPower(t, action) {
      await call(t, `power ${action}`, (n) => (action === 'on' ? up.client.node.powerOn(n) : up.client.node.powerOff(n)));
    },
    async powerCycle(t, force) {
      await call(t, 'power cycle', (n) => up.client.node.powerCycle(n, force));
    },
    async powerStatus(t): Promise<PowerState> {
      const s = (await call(t, 'power status', (n) => up.client.node.powerStatus(n))).power_status;
      return s === 'on' || s === 'off' ? s : 'unknown';
    },
    async setBootDevice(t, device, persistent) {
      // Only a next-boot-only setting needs saying: persistent is every HIL's default.
      await call(t, 'setting the boot device', (n) => up.client.node.setBootdev(n, device, persistent ? undefined : false));
    },
    async *console(t, signal) {
      const stream = await call(t, 'opening the console', (n) => up.client.node.console(n, signal));
      for await (const chunk of stream) yield chunk;
    },
  };
}
