/**
 * Runs a command-line tool (qemu-img, rbd) the way the storage code needs:
 * an argument array (no shell), bounded by a timeout and an AbortSignal, and
 * a failure that carries the tool's own words.
 */
import { execFile } from 'node:child_process';

export class ToolError extends Error {
  /** The tool's stderr (or stdout), trimmed to one paragraph. */
  readonly detail: string;
  /** Its exit code, or the signal that ended it. */
  readonly exit: string;
  constructor(what: string, detail: string, exit: string) {
    super(`${what} failed: ${detail || `exit ${exit}`}`);
    this.detail = detail;
    this.exit = exit;
  }
}

export interface RunOptions {
  signal?: AbortSignal;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
}

/** The last lines of what a tool said, on one line, for an error message. */
export function summarise(text: string, max = 600): string {
  const s = text.trim().split('\n').filter(Boolean).slice(-4).join(' / ');
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Resolves with stdout; rejects with a ToolError naming the command and what it printed. */
export function runTool(file: string, args: string[], o: RunOptions): Promise<string> {
  const what = `${file} ${args[0] ?? ''}`.trim();
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: o.timeoutMs, killSignal: 'SIGKILL', signal: o.signal, env: o.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(String(stdout));
      const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string };
      if (e.code === 'ENOENT') return reject(new ToolError(what, `${file} is not installed`, 'ENOENT'));
      if (e.name === 'AbortError') return reject(o.signal?.reason ?? err);
      if (e.killed) return reject(new ToolError(what, `no answer within ${o.timeoutMs} ms`, 'timeout'));
      reject(new ToolError(what, summarise(String(stderr)) || summarise(String(stdout)), String(e.code ?? e.signal)));
    });
  });
}
