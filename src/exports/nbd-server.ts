/**
 * One disk served to one node over NBD: a qemu-storage-daemon process of its
 * own, listening only on the address given (the provisioning network side),
 * TLS required, and a PSK key file that holds that node's identity and key
 * alone. Another node's key fails the TLS handshake, plain NBD is refused,
 * and the export name is made of ids.
 *
 * The daemon runs under `setpriv --pdeathsig SIGKILL`: if this process dies,
 * so does the daemon, which frees the port and the disk's image lock for the
 * process that takes the export over. A second daemon cannot open the same
 * qcow2 for writing while the first has it (QEMU's image locking), so two
 * processes never write one disk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlockdevOptions, LiveDisk } from '../drivers/storage/interface.ts';
import { summarise } from '../util/run-tool.ts';
import { Qmp } from './qmp.ts';

export const QEMU_STORAGE_DAEMON = 'qemu-storage-daemon';

export interface NbdExportSpec {
  /** The NBD export name (ids only), and the name of the daemon's run directory. */
  name: string;
  blockdev: BlockdevOptions;
  address: string;
  port: number;
  /** The node's TLS-PSK identity and key (hex). */
  identity: string;
  psk: string;
  /** Where the daemon's QMP socket and key file go (a directory of its own is made in it). */
  runDir: string;
}

export class NbdServer implements LiveDisk {
  readonly spec: NbdExportSpec;
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly exited: Promise<void>;
  #qmp: Qmp | undefined;
  /** The node-name of the disk's top layer (pushOverlay stacks new ones). */
  #top = 'disk';
  #overlays = 0;
  #stderr = '';

  private constructor(spec: NbdExportSpec, child: ChildProcess, dir: string) {
    this.spec = spec;
    this.#child = child;
    this.#dir = dir;
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.#stderr = (this.#stderr + s).slice(-4000)));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** What the daemon said last (why it failed). */
  get said(): string {
    return summarise(this.#stderr);
  }

  static async start(spec: NbdExportSpec, signal: AbortSignal): Promise<NbdServer> {
    const dir = join(spec.runDir, spec.name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // The key travels in a file only this process's user reads, never on a command line.
    await writeFile(join(dir, 'keys.psk'), `${spec.identity}:${spec.psk}\n`, { mode: 0o600 });
    const qmpPath = join(dir, 'qmp.sock');
    const args = [
      '--pdeathsig',
      'SIGKILL',
      QEMU_STORAGE_DAEMON,
      '--blockdev',
      JSON.stringify({ ...spec.blockdev, 'node-name': 'disk' }),
      '--object',
      `tls-creds-psk,id=tls0,endpoint=server,dir=${dir}`,
      '--nbd-server',
      `addr.type=inet,addr.host=${spec.address},addr.port=${spec.port},tls-creds=tls0,max-connections=4`,
      '--export',
      `type=nbd,id=export0,node-name=disk,name=${spec.name},writable=on`,
      '--chardev',
      `socket,path=${qmpPath},server=on,wait=off,id=qmp0`,
      '--monitor',
      'chardev=qmp0',
    ];
    const child = spawn('setpriv', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const server = new NbdServer(spec, child, dir);
    child.once('error', () => {}); // ENOENT and the like show as an exit, below
    try {
      server.#qmp = await server.#connect(qmpPath, signal);
      return server;
    } catch (err) {
      await server.stop();
      throw new Error(`${QEMU_STORAGE_DAEMON} did not start: ${server.said || (err as Error).message}`);
    }
  }

  /** The QMP socket answers once the command line is done: the export is listening. */
  async #connect(path: string, signal: AbortSignal): Promise<Qmp> {
    for (let pause = 10; ; pause = Math.min(pause * 2, 100)) {
      if (!this.running) throw new Error('it exited');
      try {
        return await Qmp.open(path, signal);
      } catch (err) {
        if (signal.aborted) throw err;
        await sleep(pause, undefined, { signal });
      }
    }
  }

  async pushOverlay(overlayPath: string, signal: AbortSignal): Promise<void> {
    if (!this.#qmp) throw new Error('the export server is not running');
    const node = `top${++this.#overlays}`;
    await this.#qmp.execute('blockdev-add', { 'node-name': node, driver: 'qcow2', backing: null, file: { driver: 'file', filename: overlayPath } }, signal);
    // The export's writes move to the new node; the old top becomes its backing, read from and never written.
    await this.#qmp.execute('blockdev-snapshot', { node: this.#top, overlay: node }, signal);
    this.#top = node;
  }

  /** Ends the daemon (a clean quit, then SIGKILL) and removes its run directory. */
  async stop(): Promise<void> {
    if (this.running) {
      try {
        await this.#qmp?.execute('quit', {}, AbortSignal.timeout(2000));
      } catch {
        // it may quit before answering
      }
      const quit = await Promise.race([this.exited.then(() => true), sleep(3000).then(() => false)]);
      if (!quit) this.#child.kill('SIGKILL');
      await this.exited;
    }
    this.#qmp?.close();
    await rm(this.#dir, { recursive: true, force: true });
  }
}
