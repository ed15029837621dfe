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
import { execFile, spawn } from 'node:child_process';
import { Type } from 'typebox';
import { KeyedLock } from '../../../util/keyed-lock.ts';
import { driverParams, MUST, Secret } from '../../params.ts';
import type { BmcTarget, BootDevice, ConsoleSession, ManagedBmcDriver, PowerState } from '../interface.ts';
import { oneLine, SolSession } from './sol-session.ts';

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

interface Conn {
  host: string;
  port: number;
  user: string;
  password: string;
  cipherSuite: number;
}

const BANNER = /\[SOL Session operational[^\n]*\n/;
const ALREADY_ACTIVE = /SOL payload already active/i;

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

const ipmiParams = driverParams('ipmi OBM', IpmiParams, (p, fail): Conn => {
  if (!new RegExp(NO_CONTROL).test(p.password)) fail('password', 'a string without control characters');
  // Digits given as a string are checked for range here (the schema checks numbers).
  const integer = (name: string, v: number | string | undefined, fallback: number, min: number, max: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) fail(name, `an integer from ${min} to ${max}`);
    return n;
  };
  return { host: p.host, port: integer('port', p.port, 623, 1, 65535), user: p.user, password: p.password, cipherSuite: integer('cipher_suite', p.cipher_suite, 3, 0, 17) };
});

/** Quotes one word for /bin/sh. */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}


export function ipmiBmcDriver(options: IpmiBmcOptions = {}): ManagedBmcDriver<Conn> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const ipmitool = options.ipmitool ?? 'ipmitool';
  const scriptBin = options.script ?? 'script';
  const grace = options.consoleGraceMs ?? 1000;
  /** Per BMC (host:port): one console session at a time, the next after the last one's teardown. */
  const consoleLines = new KeyedLock();

  const baseArgs = (c: Conn) => ['-I', 'lanplus', '-C', String(c.cipherSuite), '-H', c.host, '-p', String(c.port), '-U', c.user, '-E'];
  const env = (c: Conn) => ({ ...process.env, IPMI_PASSWORD: c.password, SHELL: '/bin/sh' });

  /** Runs one ipmitool command; resolves with stdout, throws with stderr. */
  function run(c: Conn, args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(ipmitool, [...baseArgs(c), ...args], { env: env(c), timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        if (!err) return resolve(String(stdout));
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        const what = `ipmitool ${args.join(' ')}`;
        if (e.code === 'ENOENT') return reject(new Error(`${what}: ${ipmitool} is not installed`));
        if (e.killed) return reject(new Error(`${what}: no answer from the BMC at ${c.host}:${c.port} within ${timeoutMs} ms`));
        const detail = oneLine(String(stderr)) || oneLine(String(stdout)) || `exit code ${String(e.code)}`;
        reject(new Error(`${what} failed: ${detail}`));
      });
    });
  }

  async function status(c: Conn): Promise<PowerState> {
    const out = await run(c, ['chassis', 'power', 'status']);
    const m = /Chassis Power is (on|off)\b/i.exec(out);
    return m ? (m[1]!.toLowerCase() as 'on' | 'off') : 'unknown';
  }

  /**
   * Starts `sol activate` under a pseudo-terminal and waits for its banner.
   * 'busy' when the BMC's SOL session is held by someone else.
   */
  async function openSol(c: Conn, signal: AbortSignal): Promise<SolSession | 'busy'> {
    const inner = [ipmitool, ...baseArgs(c), 'sol', 'activate'].map(shQuote).join(' ');
    const s = new SolSession(spawn(scriptBin, ['-qfec', inner, '/dev/null'], { env: env(c), stdio: ['pipe', 'pipe', 'pipe'] }), grace);
    const timer = setTimeout(() => s.poke(), timeoutMs);
    const started = Date.now();
    try {
      let head = Buffer.alloc(0);
      for (;;) {
        if (signal.aborted) return s;
        head = Buffer.concat([head, ...s.queue.splice(0)]);
        const text = head.toString('latin1');
        const m = BANNER.exec(text);
        if (m) {
          const rest = head.subarray(m.index + m[0].length);
          if (rest.length) s.queue.unshift(rest);
          return s;
        }
        if (s.exited) {
          if (s.spawnError) throw new Error(`sol activate: cannot run ${scriptBin}: ${s.spawnError.message}`);
          if (ALREADY_ACTIVE.test(text)) return 'busy';
          throw new Error(`ipmitool sol activate failed: ${oneLine(text + s.stderr) || 'no output'}`);
        }
        if (Date.now() - started >= timeoutMs) throw new Error(`ipmitool sol activate: no answer from the BMC at ${c.host}:${c.port} within ${timeoutMs} ms`);
        await s.wait(signal);
      }
    } catch (err) {
      await s.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The console of one reader: output streams once `sol activate` is up; what
   * is typed before that (or after the end) is dropped, as on a real serial
   * line. Sessions on one BMC never overlap: each waits for the previous
   * one's teardown.
   */
  function openSession(t: BmcTarget<Conn>, signal: AbortSignal): ConsoleSession {
    const c = t.params;
    const key = `${c.host}:${c.port}`;
    let current: SolSession | null = null;
    async function* output(): AsyncGenerator<Uint8Array, void, undefined> {
      let release: () => void;
      try {
        release = await consoleLines.acquire(key, signal);
      } catch {
        return; // the reader left while waiting
      }
      try {
        if (signal.aborted) return;
        let s = await openSol(c, signal);
        if (s === 'busy') {
          // Someone else holds the BMC's only SOL session: HIL owns the node's console.
          await run(c, ['sol', 'deactivate']).catch(() => {});
          s = await openSol(c, signal);
          if (s === 'busy') throw new Error(`ipmitool sol activate failed: the SOL session of ${key} is held by another client`);
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
          await run(c, ['sol', 'deactivate']).catch(() => {});
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

  return {
    type: 'ipmi',
    params: ipmiParams,

    power: {
      async setPower(t, action) {
        await run(t.params, ['chassis', 'power', action]);
      },

      async powerCycle(t, force) {
        const c = t.params;
        if ((await status(c)) === 'off') {
          await run(c, ['chassis', 'power', 'on']);
          return;
        }
        try {
          await run(c, ['chassis', 'power', force ? 'reset' : 'cycle']);
        } catch (err) {
          // obmd's fallback: a BMC refuses a cycle of a node that is (now) off.
          await run(c, ['chassis', 'power', 'on']).catch(() => {
            throw err;
          });
        }
      },

      powerStatus: (t) => status(t.params),
    },

    boot: {
      async setBootDevice(t, device: BootDevice, persistent: boolean) {
        await run(t.params, ['chassis', 'bootdev', device, ...(persistent ? ['options=persistent'] : [])]);
      },
    },

    console: { open: openSession },
  };
}
