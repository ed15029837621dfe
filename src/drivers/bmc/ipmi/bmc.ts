/**
 * The `ipmi` BMC driver: drives `ipmitool -I lanplus` (IPMI 2.0 / RMCP+),
 * as upstream's obmd did (spec §12, obmd IPMI driver).
 *
 * Registration: `{"obm": {"type": "ipmi", "host", "port"?, "user", "password",
 * "cipher_suite"?}}`. The password is handed to ipmitool through the
 * environment (`-E` and IPMI_PASSWORD), never on a command line, so it does
 * not show in `ps` or /proc/<pid>/cmdline. The cipher suite defaults to 3
 * (RAKP-HMAC-SHA1): without `-C`, ipmitool first asks the BMC for its cipher
 * suites, and BMCs that lack that command (OpenIPMI's ipmi_sim among them)
 * make every call wait ~10 s for a timeout.
 *
 * Semantics:
 * - power on/off: `chassis power on|off` (idempotent on every BMC we know).
 * - cycle: when the node is off, `chassis power on` (a cycle of an off node is
 *   an error or a no-op on real BMCs); otherwise `chassis power reset` (force)
 *   or `chassis power cycle`, falling back to `chassis power on` if that
 *   fails, as obmd did.
 * - status: `chassis power status` → on/off; anything else is 'unknown'.
 * - boot device: `chassis bootdev pxe|disk|none` with `options=persistent` unless
 *   the caller asked for the next boot only (persistent is the default, as obmd):
 *   HIL's boot_device call is a persistent setting (spec §17 #303), so it must
 *   survive the node's next reboots.
 * - console: `sol activate` needs a terminal, so it runs under util-linux
 *   `script -qfec "<ipmitool ... sol activate>" /dev/null` (every word
 *   shell-quoted; the password stays in the environment). The banner line is
 *   dropped; the rest of the output is the serial console. openConsole() also
 *   takes input; a `~` at a line start is doubled so that ipmitool does not
 *   take it as its escape. When the reader goes away we send `~.`, then
 *   SIGTERM/SIGKILL after a grace, then `sol deactivate` (best effort), so
 *   the BMC's single SOL session is free for the next reader. Sessions on one
 *   BMC are serialised: a new one waits for the previous teardown. A session
 *   left active by someone else is deactivated and the activation retried
 *   once: HIL owns the node's console.
 *
 * Every ipmitool run is killed after `timeoutMs` (the OBM service bounds the
 * call as well, and reports OBMError); failures are thrown with ipmitool's
 * own error text.
 */
import { Type } from 'typebox';
import { OBMError } from '../../../errors.ts';
import { KeyedLock } from '../../../util/keyed-lock.ts';
import { driverParams, MUST, Secret } from '../../params.ts';
import type { BmcTarget, BootDevice, ConsoleSession, ManagedBmcDriver } from '../interface.ts';
import { Ipmitool, type IpmiConn } from './ipmitool.ts';
import type { SolSession } from './sol-session.ts';

export interface IpmiBmcOptions {
  /** Kills an ipmitool run after this long (ms). Default 10 s. */
  timeoutMs?: number;
  /** The ipmitool binary. Default `ipmitool` from PATH. */
  ipmitool?: string;
  /** util-linux `script`, which gives `sol activate` its terminal. Default from PATH. */
  script?: string;
  /** After `~.`, how long to wait before SIGTERM, and again before SIGKILL (ms). Default 1 s. */
  consoleGraceMs?: number;
}



/** Strings reach ipmitool's command line (never the password) and its environment. */
const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]*$';
/** A number, or its digits as a string (upstream's clients send both). */
const IntegerField = (min: number, max: number, description: string) =>
  Type.Union([Type.Integer({ minimum: min, maximum: max }), Type.String({ pattern: '^\\d+$' })], { [MUST]: `an integer from ${min} to ${max}`, description });

const IpmiParams = Type.Object({
  host: Type.String({ minLength: 1, pattern: '^[^\\s-][^\\s]*$', [MUST]: 'a host name or address', description: "The BMC's address." }),
  port: Type.Optional(IntegerField(1, 65535, 'UDP port; default 623.')),
  user: Type.String({ minLength: 1, pattern: NO_CONTROL, [MUST]: 'a non-empty string without control characters' }),
  password: Secret({ description: 'Handed to ipmitool in its environment, never on its command line.' }),
  cipher_suite: Type.Optional(IntegerField(0, 17, 'RMCP+ cipher suite; default 3.')),
});

const ipmiParams = driverParams('ipmi OBM', IpmiParams, (p, fail): IpmiConn => {
  if (!new RegExp(NO_CONTROL).test(p.password)) fail('password', 'a string without control characters');
  // Digits given as a string are checked for range here (the schema checks numbers).
  const integer = (name: string, v: number | string | undefined, fallback: number, min: number, max: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) fail(name, `an integer from ${min} to ${max}`);
    return n;
  };
  return { host: p.host, port: integer('port', p.port, 623, 1, 65535), user: p.user, password: p.password, cipherSuite: integer('cipher_suite', p.cipher_suite, 3, 0, 17) };
});

/**
 * The console of one reader: output streams once `sol activate` is up; what
 * is typed before that (or after the end) is dropped, as on a real serial
 * line. Sessions on one BMC never overlap: each waits for the previous
 * one's teardown.
 */
function openSession(tool: Ipmitool, lines: KeyedLock, t: BmcTarget<IpmiConn>, signal: AbortSignal): ConsoleSession {
  const c = t.params;
  const key = `${c.host}:${c.port}`;
  let current: SolSession | null = null;
  async function* output(): AsyncGenerator<Uint8Array, void, undefined> {
    let release: () => void;
    try {
      release = await lines.acquire(key, signal);
    } catch {
      return; // the reader left while waiting
    }
    try {
      if (signal.aborted) return;
      let s = await tool.openSol(c, signal);
      if (s === 'busy') {
        // Someone else holds the BMC's only SOL session: HIL owns the node's console.
        await tool.run(c, ['sol', 'deactivate']).catch(() => {});
        s = await tool.openSol(c, signal);
        if (s === 'busy') throw new OBMError(`ipmitool sol activate failed: the SOL session of ${key} is held by another client`);
      }
      current = s;
      try {
        for (;;) {
          const chunk = await s.next(signal);
          if (!chunk) return;
          yield new Uint8Array(chunk);
        }
      } finally {
        current = null;
        await s.close();
        // Frees the BMC's SOL session even if `~.` did not reach it.
        await tool.run(c, ['sol', 'deactivate']).catch(() => {});
      }
    } finally {
      release();
    }
  }
  return {
    output: output(),
    write: (data) => current?.type(data),
  };
}

export function ipmiBmcDriver(options: IpmiBmcOptions = {}): ManagedBmcDriver<IpmiConn> {
  const tool = new Ipmitool({
    ipmitool: options.ipmitool ?? 'ipmitool',
    script: options.script ?? 'script',
    timeoutMs: options.timeoutMs ?? 10_000,
    consoleGraceMs: options.consoleGraceMs ?? 1000,
  });
  /** Per BMC (host:port): one console session at a time, the next after the last one's teardown. */
  const consoleLines = new KeyedLock();

  return {
    type: 'ipmi',
    params: ipmiParams,

    power: {
      async setPower(t, action) {
        await tool.run(t.params, ['chassis', 'power', action]);
      },

      async powerCycle(t, force) {
        const c = t.params;
        if ((await tool.status(c)) === 'off') {
          await tool.run(c, ['chassis', 'power', 'on']);
          return;
        }
        try {
          await tool.run(c, ['chassis', 'power', force ? 'reset' : 'cycle']);
        } catch (err) {
          // obmd's fallback: a BMC refuses a cycle of a node that is (now) off.
          await tool.run(c, ['chassis', 'power', 'on']).catch(() => {
            throw err;
          });
        }
      },

      powerStatus: (t) => tool.status(t.params),
    },

    boot: {
      async setBootDevice(t, device: BootDevice, persistent: boolean) {
        await tool.run(t.params, ['chassis', 'bootdev', device, ...(persistent ? ['options=persistent'] : [])]);
      },
    },

    console: { open: (t, signal) => openSession(tool, consoleLines, t, signal) },
  };
}
