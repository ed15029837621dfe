/**
 * The few host operations the lab is made of: find a binary, run a command
 * with a deadline, start a daemon that outlives us, stop a process by its
 * recorded PID, and tell which processes descend from which (and which
 * started us, so that those are spared). Everything here is synchronous on purpose: `hil-lab down` and
 * the tests' exit handlers must be able to clean up from a `process.on('exit')`
 * callback, where nothing asynchronous runs any more.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { accessSync, closeSync, constants, openSync, readFileSync, readdirSync, readlinkSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** The absolute path of an executable on PATH or in the sbin directories (root tools live there), or null. */
export function findBinary(name: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...SBIN]) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

export class CommandError extends Error {}

/** Runs a command to completion and returns its trimmed stdout; throws CommandError with its stderr. */
export function run(cmd: string, args: readonly string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): string {
  const r = spawnSync(cmd, args, { env: o.env ?? process.env, input: o.input, encoding: 'utf8', timeout: o.timeoutMs ?? 30_000, stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.error) throw new CommandError(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new CommandError(`${cmd} ${args.join(' ')} failed (${r.signal ?? `exit ${r.status}`}): ${(r.stderr || r.stdout).trim()}`);
  return r.stdout.trim();
}

/** Like run(), but a failure is only reported as false (for best-effort cleanup). */
export function tryRun(cmd: string, args: readonly string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore', timeout: 30_000 }).status === 0;
}

/**
 * Starts a long-lived process detached from us (its own session, stdio to a
 * log file) and records its PID in `pidFile`. Used for daemons that have no
 * --detach of their own.
 */
/**
 * In the environment of every daemon startDaemon starts: its PID file's path.
 * A `hil-lab up` killed after the spawn and before the PID file was written
 * leaves a daemon that no file names; `down` finds it by this instead (its
 * command line would not do: other processes may name the lab's directory).
 */
export const DAEMON_PID_FILE_VARIABLE = 'HIL_LAB_PID_FILE';

export function startDaemon(cmd: string, args: readonly string[], o: { pidFile: string; logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): number {
  const log = openSync(o.logFile, 'a');
  try {
    const env = { ...(o.env ?? process.env), [DAEMON_PID_FILE_VARIABLE]: o.pidFile };
    const child = spawn(cmd, args, { cwd: o.cwd, env, detached: true, stdio: ['ignore', log, log] });
    if (!child.pid) throw new CommandError(`could not start ${cmd}`);
    child.unref();
    // Written whole or not at all: a PID file that exists names its process.
    writeFileSync(`${o.pidFile}.tmp`, `${child.pid}\n`);
    renameSync(`${o.pidFile}.tmp`, o.pidFile);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** Processes startDaemon started with a PID file under `dir` (their environment says so). */
export function daemonsUnder(dir: string): number[] {
  const mark = `${DAEMON_PID_FILE_VARIABLE}=${dir.replace(/\/+$/, '')}/`;
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/environ`, 'utf8').split('\0').some((v) => v.startsWith(mark))) found.push(Number(e));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

export function readPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** True while the process runs; a zombie (exited, not yet reaped) counts as gone. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** The process's command line, arguments joined by spaces ('' when it is gone). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** SIGCONT (in case it was frozen), SIGTERM, then SIGKILL after `graceMs`; returns once it is gone. */
export function killPid(pid: number, graceMs = 2000): void {
  try {
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) sleepSync(10);
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const hard = Date.now() + 2000;
  while (alive(pid) && Date.now() < hard) sleepSync(10);
}

/** One process as /proc showed it. */
export interface ProcessEntry {
  pid: number;
  ppid: number;
  /** Clock ticks after boot: with the PID, it names one process (PIDs get reused, this pair does not). */
  startTime: string;
  cmdline: string;
  /** Its network namespace, as /proc/<pid>/ns/net links it: "net:[4026532…]". */
  netns: string;
}

/** The process's PID, parent and start time from /proc/<pid>/stat, or null when it is gone or a zombie. */
function procStat(pid: number): { ppid: number; startTime: string } | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid … starttime …": comm may hold anything, parentheses included.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z') return null;
  return { ppid: Number(f[1]), startTime: f[19] };
}

/** The network namespace of a process ("net:[inode]"), or '' when it cannot be read. */
function netnsOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return '';
  }
}

/** The named network namespaces (/run/netns), every lab's and anyone else's. */
export function netnsList(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** The identity /proc/<pid>/ns/net links to for a named namespace (/run/netns/NAME), or null when there is none. */
export function namedNetns(name: string): string | null {
  try {
    return `net:[${statSync(join('/run/netns', name)).ino}]`;
  } catch {
    return null;
  }
}

/** Every running process, by PID: a snapshot, so that who started whom survives the parents being stopped. */
export function processTable(): Map<number, ProcessEntry> {
  const table = new Map<number, ProcessEntry>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    const stat = procStat(pid);
    if (stat) table.set(pid, { pid, ...stat, cmdline: commandLine(pid), netns: netnsOf(pid) });
  }
  return table;
}

/**
 * This process and every ancestor up to init: whoever started us (a shell,
 * `timeout`, `sudo`, `bash -c '… --dir D'`). Their command lines may well
 * name the lab's directory; cleaning up must never end them.
 */
export function callerChain(): Set<number> {
  const chain = new Set<number>();
  for (let pid = process.pid; pid > 0 && !chain.has(pid); ) {
    chain.add(pid);
    pid = procStat(pid)?.ppid ?? 0;
  }
  return chain;
}

/** `roots` and every process in `table` descended from one of them. */
export function withDescendants(roots: Iterable<number>, table: ReadonlyMap<number, ProcessEntry>): Set<number> {
  const children = new Map<number, number[]>();
  for (const p of table.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const found = new Set<number>();
  const todo = [...roots];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    if (found.has(pid)) continue;
    found.add(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return found;
}

/** Whether `pid` is still the process `entry` describes (not gone, not reused since). */
export function sameProcess(entry: ProcessEntry): boolean {
  return procStat(entry.pid)?.startTime === entry.startTime;
}

/**
 * Stops the process recorded in `pidFile`, but only if its command line
 * still mentions `marker` (the lab directory): after a crash or a reboot the
 * PID may belong to somebody else by now. Never this process or one of its
 * ancestors, whatever their command lines say.
 */
export function killRecorded(pidFile: string, marker: string): boolean {
  const pid = readPid(pidFile);
  if (!pid || !alive(pid) || !commandLine(pid).includes(marker) || callerChain().has(pid)) return false;
  killPid(pid);
  return true;
}

/** Every running process but this one whose command line mentions `marker`. */
export function processesMentioning(marker: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const cmdline = commandLine(Number(e));
    if (cmdline.includes(marker) && alive(Number(e))) found.push({ pid: Number(e), cmdline });
  }
  return found;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for servers started by tests, benchmarks and the demo). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
