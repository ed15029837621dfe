/**
 * ipmitool, run as the `ipmi` BMC driver needs it: one command per call with
 * the password in the environment (`-E`, IPMI_PASSWORD), killed after the
 * timeout; and `sol activate` under util-linux `script`, which gives it the
 * terminal it insists on.
 */
import { execFile, spawn } from 'node:child_process';
import { OBMError } from '../../../errors.ts';
import type { PowerState } from '../interface.ts';
import { oneLine, SolSession } from './sol-session.ts';

/** A BMC's registration fields, parsed. */
export interface IpmiConn {
  host: string;
  port: number;
  user: string;
  password: string;
  cipherSuite: number;
}

const BANNER = /\[SOL Session operational[^\n]*\n/;
const ALREADY_ACTIVE = /SOL payload already active/i;

/** Quotes one word for /bin/sh. */
function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class Ipmitool {
  readonly #ipmitool: string;
  readonly #script: string;
  readonly #timeoutMs: number;
  readonly #grace: number;

  constructor(o: { ipmitool: string; script: string; timeoutMs: number; consoleGraceMs: number }) {
    this.#ipmitool = o.ipmitool;
    this.#script = o.script;
    this.#timeoutMs = o.timeoutMs;
    this.#grace = o.consoleGraceMs;
  }

  #baseArgs(c: IpmiConn): string[] {
    return ['-I', 'lanplus', '-C', String(c.cipherSuite), '-H', c.host, '-p', String(c.port), '-U', c.user, '-E'];
  }

  #env(c: IpmiConn): NodeJS.ProcessEnv {
    return { ...process.env, IPMI_PASSWORD: c.password, SHELL: '/bin/sh' };
  }

  /** Runs one ipmitool command; resolves with stdout, throws with stderr. */
  run(c: IpmiConn, args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.#ipmitool, [...this.#baseArgs(c), ...args], { env: this.#env(c), timeout: this.#timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        if (!err) return resolve(String(stdout));
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        const what = `ipmitool ${args.join(' ')}`;
        if (e.code === 'ENOENT') return reject(new OBMError(`${what}: ${this.#ipmitool} is not installed`));
        if (e.killed) return reject(new OBMError(`${what}: no answer from the BMC at ${c.host}:${c.port} within ${this.#timeoutMs} ms`));
        const detail = oneLine(String(stderr)) || oneLine(String(stdout)) || `exit code ${String(e.code)}`;
        reject(new OBMError(`${what} failed: ${detail}`));
      });
    });
  }

  async status(c: IpmiConn): Promise<PowerState> {
    const out = await this.run(c, ['chassis', 'power', 'status']);
    const m = /Chassis Power is (on|off)\b/i.exec(out);
    return m ? (m[1]!.toLowerCase() as 'on' | 'off') : 'unknown';
  }

  /**
   * Starts `sol activate` under a pseudo-terminal and waits for its banner.
   * 'busy' when the BMC's SOL session is held by someone else.
   */
  async openSol(c: IpmiConn, signal: AbortSignal): Promise<SolSession | 'busy'> {
    const inner = [this.#ipmitool, ...this.#baseArgs(c), 'sol', 'activate'].map(shQuote).join(' ');
    const s = new SolSession(spawn(this.#script, ['-qfec', inner, '/dev/null'], { env: this.#env(c), stdio: ['pipe', 'pipe', 'pipe'] }), this.#grace);
    const timer = setTimeout(() => s.poke(), this.#timeoutMs);
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
          if (s.spawnError) throw new OBMError(`sol activate: cannot run ${this.#script}: ${s.spawnError.message}`);
          if (ALREADY_ACTIVE.test(text)) return 'busy';
          throw new OBMError(`ipmitool sol activate failed: ${oneLine(text + s.stderr) || 'no output'}`);
        }
        if (Date.now() - started >= this.#timeoutMs) throw new OBMError(`ipmitool sol activate: no answer from the BMC at ${c.host}:${c.port} within ${this.#timeoutMs} ms`);
        await s.wait(signal);
      }
    } catch (err) {
      await s.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
