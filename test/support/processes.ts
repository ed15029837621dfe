/** Child processes of the real binaries, always killed when the test ends. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/lab/system.ts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const HIL_ADMIN = `${REPO}bin/hil-admin`;

export interface Child {
  proc: ChildProcess;
  output(): string;
  /** Resolves when the output contains `text`. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) killGroup(c, 'SIGKILL');
});

/** Signals the child's whole process group, so that nothing it started (npm's shell, the server) outlives a test. */
function killGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-proc.pid!, signal);
  } catch {
    // already gone
  }
}

export function start(cmd: string, args: string[], env: Record<string, string>): Child {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.add(proc);
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    proc,
    output: () => out,
    waitFor(text, timeoutMs = 15000) {
      const found = () => (typeof text === 'string' ? out.includes(text) : text.test(out));
      if (found()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${text} in output:\n${out}`));
        }, timeoutMs);
        const check = () => {
          if (found()) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve();
          }
        };
        listeners.add(check);
        proc.once('exit', () => check());
      });
    },
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) killGroup(proc, signal);
      await exited;
      children.delete(proc);
    },
  };
}

export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A `hil-admin serve` of its own on a free loopback port, null auth, the given configuration file's text and database. */
export async function serveHil(url: string, dir: string, config: string, o: { migrate: boolean; timeoutMs?: number }): Promise<{ child: Child; base: string }> {
  const port = await freePort();
  const file = join(dir, `hil-${port}.toml`);
  writeFileSync(file, config);
  const child = start(HIL_ADMIN, ['--config', file, 'serve', ...(o.migrate ? ['--migrate'] : [])], {
    HIL_DATABASE_URL: url,
    HIL_LISTEN: `127.0.0.1:${port}`,
    HIL_AUTH: 'null',
    HIL_DATA_DIR: join(dir, `data-${port}`),
    HIL_LOG_LEVEL: 'info',
  });
  await child.waitFor('hil API server listening', o.timeoutMs ?? 30_000);
  return { child, base: `http://127.0.0.1:${port}` };
}

export interface HilRun {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs bin/hil against `endpoint` as `user`, without blocking this process (the server may live in it). */
export function runHil(endpoint: string, user: [string, string], args: string[]): Promise<HilRun> {
  return runHilWith(endpoint, { HIL_USERNAME: user[0], HIL_PASSWORD: user[1] }, args);
}

/** Runs bin/hil against `endpoint` with `credentials` in its environment (a token, the OpenStack or HIL_OIDC_ variables) and none of this process's. */
export function runHilWith(endpoint: string, credentials: Record<string, string>, args: string[]): Promise<HilRun> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(HIL_(USERNAME|PASSWORD|TOKEN|OIDC_.*)|OS_.*)$/.test(k)));
  const env = { ...inherited, HIL_ENDPOINT: endpoint, ...credentials };
  return new Promise((resolve) => {
    execFile(`${REPO}bin/hil`, args, { env, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}
