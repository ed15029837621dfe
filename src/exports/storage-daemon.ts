/**
 * The processes an export server is made of. Every one runs under `setpriv
 * --pdeathsig SIGKILL`: if this process dies, so do they, which frees the
 * port and the disk's image lock for the process that takes the export over.
 *
 * StorageDaemon is the qemu-storage-daemon that holds a disk open (on
 * local storage QEMU's image locking keeps a second one from opening the
 * same qcow2 for writing; RBD has no such lock across hosts: docs/images.md
 * "Fencing") and serves it however the caller says: an NBD server, a FUSE
 * file. Its QMP socket stacks overlays for live snapshots.
 *
 * A server's run directory (0700) holds its sockets and mount point; it is
 * made afresh at start, because a predecessor killed with SIGKILL leaves its
 * files behind, and a FUSE mount whose daemon was killed stays mounted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, realpath, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlockdevOptions } from '../drivers/storage/interface.ts';
import { runTool, summarise } from '../util/run-tool.ts';
import { Qmp } from '../util/qmp.ts';

export const QEMU_STORAGE_DAEMON = 'qemu-storage-daemon';

/** A helper process that dies with this one. */
export class Daemon {
  readonly #child: ChildProcess;
  readonly exited: Promise<void>;
  #stderr = '';

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.#stderr = (this.#stderr + s).slice(-4000)));
    // 'close', not 'exit': by then its stderr is read to the end, so `stderr` holds its last words.
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.once('error', () => {}); // ENOENT and the like show as an exit
  }

  /** Starts `command` under setpriv (a missing command: setpriv says so and exits). */
  static spawn(command: string, args: string[], o: { env?: NodeJS.ProcessEnv } = {}): Daemon {
    return new Daemon(spawn('setpriv', ['--pdeathsig', 'SIGKILL', command, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: o.env }));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The last of what it wrote to stderr (up to 4000 characters). */
  get stderr(): string {
    return this.#stderr;
  }

  /** Retries `probe` (connecting to its socket) until it answers; fails at once if the process exits. */
  async answer<T>(probe: () => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let pause = 10; ; pause = Math.min(pause * 2, 100)) {
      if (!this.running) throw new Error('it exited');
      try {
        return await probe();
      } catch (err) {
        if (signal.aborted) throw err;
        await sleep(pause, undefined, { signal });
      }
    }
  }

  /** Asks it to end (`ask`, whose failure is ignored), then SIGKILL if it is still there after `graceMs`. */
  async end(ask: () => Promise<unknown>, graceMs: number): Promise<void> {
    if (this.running) {
      await ask().catch(() => {}); // it may exit before answering
      const gone = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!gone) this.#child.kill('SIGKILL');
    }
    await this.exited;
  }
}

export interface StorageDaemonSpec {
  blockdev: BlockdevOptions;
  /** Its run directory, made already: the QMP socket goes there. */
  dir: string;
  /** How it serves the disk, whose node is named `disk`: --object, --nbd-server, --export arguments. */
  serve: string[];
}

export class StorageDaemon {
  readonly #daemon: Daemon;
  readonly #qmp: Qmp;
  /** The node-name of the disk's top layer (pushOverlay stacks new ones). */
  #top = 'disk';
  #overlays = 0;

  private constructor(daemon: Daemon, qmp: Qmp) {
    this.#daemon = daemon;
    this.#qmp = qmp;
  }

  /** Resolves once the daemon serves the disk; rejects with what it said (it is gone by then). */
  static async start(spec: StorageDaemonSpec, signal: AbortSignal): Promise<StorageDaemon> {
    const qmpPath = join(spec.dir, 'qmp.sock');
    const daemon = Daemon.spawn(QEMU_STORAGE_DAEMON, [
      '--blockdev',
      JSON.stringify({ ...spec.blockdev, 'node-name': 'disk' }),
      ...spec.serve,
      // Last: QEMU reads its command line in order, so once QMP answers the exports are there.
      '--chardev',
      `socket,path=${qmpPath},server=on,wait=off,id=qmp0`,
      '--monitor',
      'chardev=qmp0',
      // Nothing of HIL's environment (database URL, credentials) reaches the daemon.
    ], { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
    try {
      return new StorageDaemon(daemon, await daemon.answer(() => Qmp.open(qmpPath, signal), signal));
    } catch (err) {
      await daemon.end(async () => {}, 0);
      throw new Error(`${QEMU_STORAGE_DAEMON} did not start: ${summarise(daemon.stderr) || (err as Error).message}`);
    }
  }

  get pid(): number | undefined {
    return this.#daemon.pid;
  }

  get running(): boolean {
    return this.#daemon.running;
  }

  get exited(): Promise<void> {
    return this.#daemon.exited;
  }

  /** What the daemon said last (why it failed). */
  get said(): string {
    return summarise(this.#daemon.stderr);
  }

  /** Makes the qcow2 file at `overlayPath` the disk's top layer, as LiveDisk.pushOverlay. */
  async pushOverlay(overlayPath: string, signal: AbortSignal): Promise<void> {
    if (!this.running) throw new Error('the export server is not running');
    const node = `top${++this.#overlays}`;
    await this.#qmp.execute('blockdev-add', { 'node-name': node, driver: 'qcow2', backing: null, file: { driver: 'file', filename: overlayPath } }, signal);
    // The exports' writes move to the new node; the old top becomes its backing, read from and never written.
    await this.#qmp.execute('blockdev-snapshot', { node: this.#top, overlay: node }, signal);
    this.#top = node;
  }

  /** Ends the daemon: a clean quit (which also unmounts a FUSE export), then SIGKILL. */
  async stop(): Promise<void> {
    await this.#daemon.end(() => this.#qmp.execute('quit', {}, AbortSignal.timeout(2000)), 3000);
    this.#qmp.close();
  }
}

/** Makes `dir` afresh, 0700, after removing whatever a dead predecessor left there. */
export async function freshRunDir(dir: string): Promise<void> {
  await removeRunDir(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/**
 * Removes `dir` and everything in it. A FUSE export whose daemon was killed
 * stays mounted ("Transport endpoint is not connected") and a mount point
 * cannot be unlinked (EBUSY), so mounts under `dir` are detached first.
 */
export async function removeRunDir(dir: string): Promise<void> {
  for (const mountPoint of await mountsUnder(dir)) await runTool('umount', ['--lazy', mountPoint], { timeoutMs: 10_000 });
  await rm(dir, { recursive: true, force: true });
}

/** The mount points at or under `dir`, deepest first (from /proc/self/mountinfo, which names them by real path). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const real = await realpath(dir).catch(() => resolve(dir));
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  return table
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((field): field is string => field !== undefined)
    .map((field) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))) // spaces and the like come as \040
    .filter((mountPoint) => mountPoint === real || mountPoint.startsWith(`${real}/`))
    .sort((a, b) => b.length - a.length);
}
