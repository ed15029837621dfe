/**
 * The `hil` BMC driver of a derived HIL: a node's "BMC" is its base node,
 * driven through the base's public API: `{"obm": {"type": "hil", "node":
 * "<base node>"}}`. Power, boot device, power status and the console (output
 * and input) are the base node's. The base requires a node's OBM to be
 * enabled before any of that, so the driver enables it at the base when the
 * base says it is not.
 */
import { Type, type Static } from 'typebox';
import { HilApiError, type InteractiveConsole } from '../../client/index.ts';
import { driverParams } from '../params.ts';
import type { BmcTarget, ManagedBmcDriver, PowerState } from '../bmc/interface.ts';
import { atBase, type Upstream } from './upstream.ts';

export const HIL_OBM_TYPE = 'hil';

const HilBmcParams = Type.Object({ node: Type.String({ minLength: 1, description: "The base node's name." }) });
type HilBmcParams = Static<typeof HilBmcParams>;

const obmDisabled = (err: unknown) => err instanceof HilApiError && err.type === 'BlockedError' && /OBM is not enabled/i.test(err.message);

export function hilBmcDriver(up: Upstream): ManagedBmcDriver<HilBmcParams> {
  /** Runs a base OBM call, enabling the base node's OBM first if the base asks for it. */
  const call = <T>(t: BmcTarget<HilBmcParams>, what: string, fn: (node: string) => Promise<T>): Promise<T> =>
    atBase(`${what} of node ${t.params.node}`, async () => {
      try {
        return await fn(t.params.node);
      } catch (err) {
        if (!obmDisabled(err)) throw err;
        await up.client.node.enableObm(t.params.node);
        return fn(t.params.node);
      }
    });

  return {
    type: HIL_OBM_TYPE,
    params: driverParams('hil OBM', HilBmcParams),
    power: {
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
    },
    boot: {
      async setBootDevice(t, device, persistent) {
        // Only a next-boot-only setting needs saying: persistent is every HIL's default.
        await call(t, 'setting the boot device', (n) => up.client.node.setBootdev(n, device, persistent ? undefined : false));
      },
    },
    console: {
      // The base's interactive console, so that what a tenant types up here reaches the node.
      open(t, signal) {
        let base: InteractiveConsole | undefined;
        async function* output() {
          base = await call(t, 'opening the console', (n) => up.client.node.openConsole(n, signal));
          yield* base.output;
        }
        return { output: output(), write: (data) => base?.write(data) };
      },
    },
  };
}
