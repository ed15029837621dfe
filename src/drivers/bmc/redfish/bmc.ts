/**
 * The `redfish` BMC: power and boot device over the DMTF Redfish REST API.
 *
 * Registration fields (`{"obm": {"type": "redfish", ...}}`):
 * - `url` (required): the BMC's base URL, `https://bmc.example[:port]`; Redfish
 *   paths (`/redfish/v1/...`) are resolved against its origin.
 * - `user`, `password` (required): a BMC account. The password is a secret.
 * - `system` (optional): the ComputerSystem's Id (`437XR1138R2`) or path
 *   (`/redfish/v1/Systems/437XR1138R2`). Default: the only member of the
 *   service root's Systems collection (an error if there are several).
 * - `insecure_tls` (optional boolean): accept the BMC's certificate without
 *   verifying it (self-signed). Only for this BMC's requests; default false.
 * - `auth` (optional): `session` (default: log in at
 *   /redfish/v1/SessionService/Sessions, send X-Auth-Token, DELETE the session
 *   at the end of each operation) or `basic` (HTTP Basic on every request).
 *
 * Operations, on the system's `#ComputerSystem.Reset` action target:
 * - power on / off: ResetType `On` / `ForceOff`, skipped when PowerState is
 *   already On / Off (many BMCs refuse a redundant reset with 409);
 * - power cycle: `ForceRestart` when forced, else `GracefulRestart`; a system
 *   that is Off gets `On`. When the action advertises its allowable values,
 *   the first allowed of a short list of equivalents is used instead.
 * - power status: PowerState `On` → on, `Off` → off, anything else → unknown.
 * - boot device: PATCH of the system's Boot with BootSourceOverrideTarget
 *   `Pxe` / `Hdd` and BootSourceOverrideEnabled `Continuous` (persistent, as
 *   upstream's IPMI `chassis bootdev ... options=persistent`; the driver option
 *   `bootOverride: 'Once'` makes it one-shot); `none` clears the override
 *   (Target `None`, Enabled `Disabled`).
 * - console: Redfish defines no serial console stream (SOL is over SSH or
 *   vendor OEM extensions), so this type has no console interface and the
 *   console routes answer 501.
 *
 * Every HTTP request is bounded by `requestTimeoutMs` (default 10 s); the OBM
 * service bounds the whole operation with the configured OBM timeout. Errors
 * name the request and carry the BMC's status and its Redfish
 * `@Message.ExtendedInfo` messages; the password and session token never
 * appear in errors (they are scrubbed even from the BMC's own messages).
 */

import { Type } from 'typebox';
import { driverParams, MUST, Secret } from '../../params.ts';
import type { BootDevice, BmcTarget, ManagedBmcDriver, PowerState } from '../interface.ts';
import { RedfishConnection, RedfishError, type RedfishBmc } from './connection.ts';

export { RedfishError };

export interface RedfishBmcOptions {
  /** Bound on each HTTP request to the BMC, in ms (default 10 000). */
  requestTimeoutMs?: number;
  /** BootSourceOverrideEnabled for pxe/disk (default 'Continuous'). */
  bootOverride?: 'Continuous' | 'Once';
}

const HTTP_URL = 'an http or https URL';

const RedfishParams = Type.Object({
  url: Type.String({ [MUST]: HTTP_URL, description: "The BMC's base URL, https://bmc.example[:port]." }),
  user: Type.String(),
  password: Secret(),
  system: Type.Optional(Type.String({ minLength: 1, [MUST]: 'a non-empty string (ComputerSystem Id or path)', description: 'Default: the only system the BMC has.' })),
  insecure_tls: Type.Optional(Type.Boolean({ description: "Accept the BMC's certificate without verifying it (self-signed)." })),
  auth: Type.Optional(Type.Union([Type.Literal('basic'), Type.Literal('session')], { description: 'Default: session.' })),
});

const redfishParams = driverParams('redfish OBM', RedfishParams, (p, fail): RedfishBmc => {
  let url: URL;
  try {
    url = new URL(p.url);
  } catch {
    return fail('url', HTTP_URL);
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.username || url.password) fail('url', `${HTTP_URL} without credentials`);
  return { url, user: p.user, password: p.password, system: p.system, insecureTls: p.insecure_tls === true, auth: p.auth ?? 'session' };
});

export function redfishBmcDriver(options: RedfishBmcOptions = {}): ManagedBmcDriver<RedfishBmc> {
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const bootOverride = options.bootOverride ?? 'Continuous';

  /** Runs one operation with its own session, ended afterwards. */
  async function withBmc<T>(t: BmcTarget<RedfishBmc>, work: (c: RedfishConnection) => Promise<T>): Promise<T> {
    const c = new RedfishConnection(t.params, timeoutMs);
    let result: T;
    try {
      result = await work(c);
    } catch (err) {
      // End the session; but do not wait on a BMC that may be hung.
      if (err instanceof RedfishError && err.status !== undefined) await c.logout();
      else void c.logout();
      throw err;
    }
    await c.logout();
    return result;
  }

  return {
    type: 'redfish',
    params: redfishParams,

    power: {
      setPower: (t, action) =>
        withBmc(t, async (c) => {
          const sys = await c.system();
          const want = action === 'on' ? 'On' : 'Off';
          if (sys.body?.PowerState === want) return;
          await c.reset(sys, action === 'on' ? 'On' : 'ForceOff');
        }),

      powerCycle: (t, force) =>
        withBmc(t, async (c) => {
          const sys = await c.system();
          await c.reset(sys, sys.body?.PowerState === 'Off' ? 'On' : force ? 'ForceRestart' : 'GracefulRestart');
        }),

      powerStatus: (t): Promise<PowerState> =>
        withBmc(t, async (c) => {
          const state = (await c.system()).body?.PowerState;
          return state === 'On' ? 'on' : state === 'Off' ? 'off' : 'unknown';
        }),
    },

    boot: {
      setBootDevice: (t, device: BootDevice, persistent: boolean) =>
        withBmc(t, async (c) => {
          const path = await c.systemPath();
          const boot =
            device === 'none'
              ? { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled' }
              : { BootSourceOverrideTarget: device === 'pxe' ? 'Pxe' : 'Hdd', BootSourceOverrideEnabled: persistent ? bootOverride : 'Once' };
          await c.call('PATCH', path, { Boot: boot });
        }),
    },
  };
}
