/**
 * One userspace WireGuard daemon (wireguard-go) per network, started inside
 * the network's namespace — so its TUN device and its UDP socket are both
 * there (moving the TUN device afterwards kills the daemon) — as a detached
 * child with its PID recorded in the state directory, so it outlives a
 * restart of this server and the next apply adopts it.
 *
 * Its configuration goes through `wg syncconf` with the whole config in a
 * private file (configure()): the private key is never an argument, and
 * peers not in the config are removed without disturbing the sessions of
 * those that stay.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerError } from '../errors.ts';
import { attempt, run } from './run.ts';
import { linkExists } from './links.ts';

export const WG_SOCKET_DIR = '/var/run/wireguard';
const START_TIMEOUT_MS = 5000;

export const socketOf = (ifname: string) => join(WG_SOCKET_DIR, `${ifname}.sock`);
export const pidFileOf = (stateDir: string, ifname: string) => join(stateDir, `${ifname}.pid`);
const logFileOf = (stateDir: string, ifname: string) => join(stateDir, `${ifname}.log`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The process's arguments, or [] when it is gone (or a zombie, whose cmdline is empty). */
function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Is `pid` wireguard-go serving `ifname`? (A recycled PID is someone else.) */
function servesInterface(pid: number, ifname: string): boolean {
  const argv = argvOf(pid);
  return argv.length > 0 && /(^|\/)wireguard-go$/.test(argv[0]) && argv.includes(ifname);
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Every wireguard-go serving `ifname`: the recorded one first, then any the record lost. */
export function daemonsOf(ifname: string, stateDir?: string): number[] {
  const recorded = stateDir ? readPid(pidFileOf(stateDir, ifname)) : undefined;
  const found = readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => pid !== recorded && servesInterface(pid, ifname));
  return [...(recorded && servesInterface(recorded, ifname) ? [recorded] : []), ...found];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A zombie (dead, not yet reaped by its parent) has an empty cmdline and counts as gone. */
const running = (pid: number) => alive(pid) && argvOf(pid).length > 0;

async function killAndWait(pid: number): Promise<void> {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + 2000;
    while (running(pid) && Date.now() < deadline) await sleep(20);
    if (!running(pid)) return;
  }
}

/** Stops every daemon of `ifname` and removes its socket and PID file (a daemon killed -9 leaves its socket). */
export async function stopDaemon(ifname: string, stateDir: string): Promise<void> {
  for (const pid of daemonsOf(ifname, stateDir)) await killAndWait(pid);
  rmSync(socketOf(ifname), { force: true });
  rmSync(pidFileOf(stateDir, ifname), { force: true });
}

function launch(ns: string, ifname: string, stateDir: string): number {
  const log = openSync(logFileOf(stateDir, ifname), 'a');
  try {
    // `ip netns exec` execs wireguard-go in place, so the child's PID is the daemon's.
    const child = spawn('ip', ['netns', 'exec', ns, 'wireguard-go', ifname], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', WG_PROCESS_FOREGROUND: '1' },
    });
    child.on('error', () => {}); // a missing ip shows up as no socket below
    child.unref();
    if (!child.pid) throw new ServerError(`ip netns exec ${ns} wireguard-go ${ifname}: could not start`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

function logTail(stateDir: string, ifname: string): string {
  try {
    return readFileSync(logFileOf(stateDir, ifname), 'utf8').trim().split('\n').slice(-3).join(' / ');
  } catch {
    return '';
  }
}

/**
 * A daemon serving `ifname` in `ns`, with its socket and its interface:
 * the recorded one when it is whole, else a fresh one (any leftover stopped
 * first). Resolves with its PID.
 */
export async function ensureDaemon(ns: string, ifname: string, stateDir: string): Promise<number> {
  const found = daemonsOf(ifname, stateDir);
  if (found.length === 1 && existsSync(socketOf(ifname)) && (await linkExists(ns, ifname))) {
    writeFileSync(pidFileOf(stateDir, ifname), `${found[0]}\n`);
    return found[0];
  }
  await stopDaemon(ifname, stateDir);
  const pid = launch(ns, ifname, stateDir);
  writeFileSync(pidFileOf(stateDir, ifname), `${pid}\n`);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!running(pid)) break;
    if (existsSync(socketOf(ifname)) && (await linkExists(ns, ifname))) return pid;
    await sleep(25);
  }
  await stopDaemon(ifname, stateDir);
  throw new ServerError(`wireguard-go ${ifname} in ${ns} did not come up within ${START_TIMEOUT_MS} ms: ${logTail(stateDir, ifname) || 'no output'}`);
}

export interface WireguardPeer {
  publicKey: string;
  /** The peer's tunnel address, a /32: the only source accepted from it and where its traffic is sent. */
  address: string;
}

/** The wg(8) configuration (not wg-quick's: no Address). Contains the private key: stdin only. */
export function wgConfig(privateKey: string, listenPort: number, peers: WireguardPeer[]): string {
  const head = `[Interface]\nPrivateKey = ${privateKey}\nListenPort = ${listenPort}\n`;
  return head + peers.map((p) => `\n[Peer]\nPublicKey = ${p.publicKey}\nAllowedIPs = ${p.address}\n`).join('');
}

/**
 * Makes the daemon's key, port and peers exactly these. wg cannot read its
 * config from /dev/stdin here (Node hands a child a socket, which open(2)
 * refuses), so the config is a 0600 file in a fresh 0700 directory on tmpfs
 * where there is one, removed as soon as wg has read it.
 */
export async function configure(ifname: string, privateKey: string, listenPort: number, peers: WireguardPeer[]): Promise<void> {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'hilvpn-'));
  try {
    const file = join(dir, `${ifname}.conf`);
    writeFileSync(file, wgConfig(privateKey, listenPort, peers), { mode: 0o600 });
    await run('wg', ['syncconf', ifname, file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The public keys of the daemon's peers (for tests and checks). */
export async function peerKeys(ifname: string): Promise<string[]> {
  const r = await attempt('wg', ['show', ifname, 'peers']);
  return r.ok ? r.stdout.split('\n').filter(Boolean) : [];
}
