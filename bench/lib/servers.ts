/**
 * The servers under test, each in its own child process on the pinned Node,
 * so that the load generator (in the parent) and the server never share an
 * event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/lab/system.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
const NODE_FLAGS = ['--disable-warning=ExperimentalWarning'];

export interface Server {
  name: string;
  url: string;
  /** Authorization header to send, if any. */
  headers: Record<string, string>;
  pid: number;
  /** CPU time (user + system) the server process has used so far, in seconds; NaN where /proc is missing. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** utime + stime of a process from /proc/<pid>/stat (clock ticks of 1/100 s on Linux). */
function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

/** A TCP port that was free a moment ago. */

interface StartOptions {
  name: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  port: number;
  headers?: Record<string, string>;
  /** A GET that answers 200 once the server is ready. */
  readyPath: string;
  nodeFlags?: string[];
}

async function start(o: StartOptions): Promise<Server> {
  const log = createWriteStream(o.logFile);
  const child = spawn(process.execPath, [...NODE_FLAGS, ...(o.nodeFlags ?? []), ...o.args], {
    cwd: o.cwd,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  let exited: number | null | undefined;
  const exit = new Promise<void>((r) =>
    child.once('exit', (code) => {
      exited = code;
      running.delete(child);
      r();
    }),
  );
  const url = `http://127.0.0.1:${o.port}`;
  const headers = o.headers ?? {};
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined) throw new Error(`${o.name} exited (${exited}) before it was ready:\n${tail(o.logFile)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${o.name} was not ready within 60 s:\n${tail(o.logFile)}`);
    }
    try {
      const res = await fetch(url + o.readyPath, { headers });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  return {
    name: o.name,
    url,
    headers,
    pid: child.pid!,
    cpuSeconds: () => procCpuSeconds(child.pid!),
    async stop() {
      if (exited !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
      log.end();
    },
  };
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface HilOptions {
  name: string;
  /** A SQLite file, or with `databaseUrl` none. */
  dbFile?: string;
  /** Any database URL (postgres://…); overrides dbFile. */
  databaseUrl?: string;
  /** A hil.toml for what the environment cannot set (e.g. `[server] worker = false`). */
  configFile?: string;
  workDir: string;
  auth: 'null' | 'database' | 'keystone' | 'oidc';
  adminPassword: string;
  /** The credentials requests carry, for the token backends (default: Basic as admin with database auth, none otherwise). */
  headers?: Record<string, string>;
  /** More environment (e.g. HIL_KEYSTONE_PASSWORD). */
  env?: Record<string, string>;
  nodeFlags?: string[];
  /** More arguments for `serve` (e.g. --no-worker). */
  serveArgs?: string[];
}

/** `bin/hil-admin serve --migrate`, run directly on the pinned node (what the script execs). */
export async function startHil(o: HilOptions): Promise<Server> {
  const port = await freePort();
  const headers: Record<string, string> =
    o.headers ?? (o.auth === 'database' ? { authorization: 'Basic ' + Buffer.from(`admin:${o.adminPassword}`).toString('base64') } : {});
  return start({
    name: o.name,
    args: [join(ROOT, 'src/cli/hil-admin.ts'), 'serve', '--migrate', ...(o.serveArgs ?? [])],
    env: {
      ...hilEnv(o),
      HIL_LISTEN: `127.0.0.1:${port}`,
      HIL_AUTH: o.auth,
      HIL_ADMIN_PASSWORD: o.adminPassword,
      HIL_LOG_LEVEL: 'warn',
      ...o.env,
    },
    cwd: o.workDir, // so that no stray ./hil.toml is picked up
    logFile: join(o.workDir, `${o.name}.log`),
    port,
    headers,
    readyPath: '/v0/nodes/free',
    nodeFlags: o.nodeFlags,
  });
}

function hilEnv(o: { dbFile?: string; databaseUrl?: string; configFile?: string }): Record<string, string> {
  if (!o.databaseUrl && !o.dbFile) throw new Error('a hil needs dbFile or databaseUrl');
  return { HIL_DATABASE_URL: o.databaseUrl ?? `sqlite:${o.dbFile}`, ...(o.configFile ? { HIL_CONFIG: o.configFile } : {}) };
}

export interface Worker {
  name: string;
  pid: number;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * `bin/hil-admin serve-networks` (the networking worker alone), on the pinned
 * node; resolves once its log says it runs (holding the journal or not).
 */
export async function startWorker(o: { name: string; databaseUrl: string; configFile?: string; workDir: string }): Promise<Worker> {
  const logFile = join(o.workDir, `${o.name}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, [...NODE_FLAGS, join(ROOT, 'src/cli/hil-admin.ts'), 'serve-networks'], {
    cwd: o.workDir,
    env: { ...process.env, ...hilEnv(o), HIL_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.stderr!.pipe(log);
  const exit = new Promise<void>((r) => child.once('exit', () => (running.delete(child), r())));
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${o.name} did not start within 60 s:\n${tail(logFile)}`)), 60_000);
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`${o.name} exited (${code}) before it ran:\n${seen.slice(-3000)}`))));
    child.stdout!.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (!seen.includes('worker running')) seen += chunk.toString();
      if (seen.includes('worker running')) (clearTimeout(timer), resolve());
    });
  });
  return {
    name: o.name,
    pid: child.pid!,
    cpuSeconds: () => procCpuSeconds(child.pid!),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
      await new Promise<void>((r) => log.end(r)); // its log is read afterwards
    },
  };
}

export async function startBaseline(o: { name: string; dbFile: string; workDir: string; nodeFlags?: string[] }): Promise<Server> {
  const port = await freePort();
  return start({
    name: o.name,
    args: [join(ROOT, 'bench/baseline-server.ts')],
    env: { BASELINE_DB: o.dbFile, BASELINE_LISTEN: `127.0.0.1:${port}` },
    cwd: o.workDir,
    logFile: join(o.workDir, `${o.name}.log`),
    port,
    readyPath: '/v0/nodes/free',
    nodeFlags: o.nodeFlags,
  });
}
