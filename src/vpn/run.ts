/**
 * Runs the data plane's tools (ip, nft, ovs-vsctl, wg, ethtool): an argument
 * array (never a shell string), a timeout on every call, and stdin for what
 * must not be an argument — private keys travel only there, because a
 * process's arguments are readable by every user in /proc.
 *
 * A failure is a ServerError naming the command (its first arguments, which
 * never carry a secret) and what the tool said.
 */
import { execFile } from 'node:child_process';
import { ServerError } from '../errors.ts';

export const DEFAULT_TIMEOUT_MS = 15_000;

export interface RunOptions {
  /** Written to the tool's stdin, then closed. */
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface Outcome {
  ok: boolean;
  stdout: string;
  stderr: string;
  /** Exit code, signal, 'timeout' or 'ENOENT'. */
  exit: string;
}

/** How a command is named in an error: the program and its words up to the first one that looks like data. */
export function describe(file: string, args: readonly string[]): string {
  const words = args.slice(0, 6).filter((a) => a.length < 40);
  return [file, ...words].join(' ');
}

function lastLines(text: string): string {
  const s = text.trim().split('\n').filter(Boolean).slice(-3).join(' / ');
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
}

/** Runs the command; never rejects (for probes whose failure is an answer). */
export function attempt(file: string, args: readonly string[], o: RunOptions = {}): Promise<Outcome> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', env: o.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve({ ok: true, stdout: String(stdout), stderr: String(stderr), exit: '0' });
      const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string };
      const exit = e.code === 'ENOENT' ? 'ENOENT' : e.killed ? 'timeout' : String(e.code ?? e.signal);
      resolve({ ok: false, stdout: String(stdout), stderr: String(stderr), exit });
    });
    // A tool that exits before reading its input makes the pipe fail; the exit status tells the story.
    child.stdin?.on('error', () => {});
    child.stdin?.end(o.input ?? '');
  });
}

/** Runs the command; resolves with stdout, rejects with a ServerError naming it. */
export async function run(file: string, args: readonly string[], o: RunOptions = {}): Promise<string> {
  const r = await attempt(file, args, o);
  if (r.ok) return r.stdout;
  const what = describe(file, args);
  if (r.exit === 'ENOENT') throw new ServerError(`${what}: ${file} is not installed`);
  if (r.exit === 'timeout') throw new ServerError(`${what}: no answer within ${o.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`);
  throw new ServerError(`${what} failed (exit ${r.exit}): ${lastLines(r.stderr) || lastLines(r.stdout)}`);
}

/** `ip` in a network namespace (the host's when `netns` is undefined). */
export function ip(netns: string | undefined, ...args: string[]): Promise<string> {
  return run('ip', netns ? ['-n', netns, ...args] : args);
}

/** Another program run inside a named network namespace. */
export function inNetns(netns: string, file: string, args: readonly string[], o: RunOptions = {}): Promise<string> {
  return run('ip', ['netns', 'exec', netns, file, ...args], o);
}
