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
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { BadArgumentError } from '../../errors.ts';
import type { BootDevice, ConsoleSession, ObmDriver, ObmTarget, PowerState } from './interface.ts';

export interface IpmiObmOptions {
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

const FIELDS = ['host', 'port', 'user', 'password', 'cipher_suite'] as const;
const BANNER = /\[SOL Session operational[^\n]*\n/;
const ALREADY_ACTIVE = /SOL payload already active/i;

function integerField(name: string, v: unknown, min: number, max: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new BadArgumentError(`ipmi OBM field "${name}" must be an integer from ${min} to ${max}`);
  return n;
}

function stringField(name: string, v: unknown, allowEmpty: boolean): string {
  if (typeof v !== 'string') throw new BadArgumentError(`ipmi OBM field "${name}" must be a string`);
  if (!allowEmpty && v === '') throw new BadArgumentError(`ipmi OBM field "${name}" must not be empty`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) throw new BadArgumentError(`ipmi OBM field "${name}" must not contain control characters`);
  return v;
}

function parse(params: Record<string, unknown>): Conn {
  for (const k of Object.keys(params)) {
    if (!(FIELDS as readonly string[]).includes(k)) throw new BadArgumentError(`unknown field "${k}" for an ipmi OBM (known: ${FIELDS.join(', ')})`);
  }
  for (const k of ['host', 'user', 'password'] as const) {
    if (params[k] === undefined) throw new BadArgumentError(`ipmi OBM field "${k}" is required`);
  }
  const host = stringField('host', params.host, false);
  if (/\s/.test(host) || host.startsWith('-')) throw new BadArgumentError('ipmi OBM field "host" must be a host name or address');
  return {
    host,
    port: params.port === undefined ? 623 : integerField('port', params.port, 1, 65535),
    user: stringField('user', params.user, false),
    password: stringField('password', params.password, true),
    cipherSuite: params.cipher_suite === undefined ? 3 : integerField('cipher_suite', params.cipher_suite, 0, 17),
  };
}

/** Quotes one word for /bin/sh. */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function oneLine(text: string): string {
  return text.replace(/\r/g, '').trim().split('\n').filter(Boolean).join('; ');
}

export function ipmiObmDriver(options: IpmiObmOptions = {}) {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const ipmitool = options.ipmitool ?? 'ipmitool';
  const scriptBin = options.script ?? 'script';
  const grace = options.consoleGraceMs ?? 1000;
  /** Per BMC (host:port): the end of the last console session's teardown. */
  const consoleQueue = new Map<string, Promise<void>>();

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
  function openSession(t: ObmTarget, signal: AbortSignal): ConsoleSession {
    const c = parse(t.params);
    const key = `${c.host}:${c.port}`;
    let current: SolSession | null = null;
    async function* output(): AsyncGenerator<Uint8Array, void, undefined> {
      const previous = consoleQueue.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      const chained = previous.then(() => mine);
      consoleQueue.set(key, chained);
      try {
        await previous;
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
        if (consoleQueue.get(key) === chained) consoleQueue.delete(key);
      }
    }
    return {
      output: output(),
      write: (data) => current?.type(data),
    };
  }

  const driver: ObmDriver = {
    type: 'ipmi',
    secretFields: ['password'],

    validateParams(params) {
      parse(params);
    },

    async setPower(t: ObmTarget, action) {
      await run(parse(t.params), ['chassis', 'power', action]);
    },

    async powerCycle(t, force) {
      const c = parse(t.params);
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

    async powerStatus(t) {
      return status(parse(t.params));
    },

    async setBootDevice(t, device: BootDevice, persistent: boolean) {
      await run(parse(t.params), ['chassis', 'bootdev', device, ...(persistent ? ['options=persistent'] : [])]);
    },

    console(t, signal) {
      return openSession(t, signal).output;
    },

    openConsole(t, signal) {
      return openSession(t, signal);
    },
  };
  return driver;
}

/** A running `script -c "ipmitool ... sol activate"`: its output queue and its teardown. */
class SolSession {
  readonly queue: Buffer[] = [];
  exited = false;
  spawnError: Error | null = null;
  stderr = '';
  #wake: (() => void) | null = null;
  readonly #exit: Promise<void>;

  readonly child: ChildProcess;
  readonly grace: number;

  constructor(child: ChildProcess, grace: number) {
    this.child = child;
    this.grace = grace;
    this.#exit = new Promise<void>((resolve) => {
      child.once('close', () => {
        this.exited = true;
        this.poke();
        resolve();
      });
    });
    child.once('error', (err) => {
      this.spawnError = err;
      this.exited = true;
      this.poke();
    });
    child.stdin!.on('error', () => {});
    child.stdout!.on('data', (d: Buffer) => {
      this.queue.push(d);
      this.poke();
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
  }

  poke(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Until output, exit, abort or poke. */
  async wait(signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.queue.length || this.exited) return;
    const onAbort = () => this.poke();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((r) => (this.#wake = r));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The next chunk of console output; null once the reader is gone. Throws if the session dies. */
  async next(signal: AbortSignal): Promise<Buffer | null> {
    for (;;) {
      if (signal.aborted) return null;
      const chunk = this.queue.shift();
      if (chunk) return chunk;
      if (this.exited) throw new Error(`the SOL session ended: ${oneLine(this.stderr) || 'ipmitool exited'}`);
      await this.wait(signal);
    }
  }

  #lineStart = true;

  /**
   * Input for the node. ipmitool takes `~` at the start of a line as its
   * escape character (`~.` ends the session), so such a `~` is sent as `~~`.
   */
  type(data: Uint8Array): void {
    if (this.exited || this.#closing) return;
    const out: number[] = [];
    for (const b of data) {
      if (b === 0x7e && this.#lineStart) out.push(0x7e);
      out.push(b);
      this.#lineStart = b === 0x0d || b === 0x0a;
    }
    this.child.stdin!.write(Buffer.from(out));
  }

  #closing = false;

  /** `~.`, then SIGTERM and SIGKILL, each after the grace period. */
  async close(): Promise<void> {
    const waitExit = (ms: number) => Promise.race([this.#exit, new Promise<void>((r) => setTimeout(r, ms).unref())]);
    this.#closing = true;
    if (this.exited) return;
    this.child.stdin!.write('\r~.');
    await waitExit(this.grace);
    if (this.exited) return;
    this.child.kill('SIGTERM');
    await waitExit(this.grace);
    if (this.exited) return;
    this.child.kill('SIGKILL');
    await waitExit(this.grace);
  }
}
