/**
 * One disk served to one node over NBD: a qemu-storage-daemon process of its
 * own (storage-daemon.ts: it dies with us, and QEMU's image lock keeps a
 * second one off the disk), listening only on the address given (the
 * provisioning network side), TLS required, and a PSK key file that holds
 * that node's identity and key alone. Another node's key fails the TLS
 * handshake, plain NBD is refused, and the export name is made of ids.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlockdevOptions, LiveDisk } from '../drivers/storage/interface.ts';
import { freshRunDir, removeRunDir, StorageDaemon } from './storage-daemon.ts';

export { QEMU_STORAGE_DAEMON } from './storage-daemon.ts';

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
  readonly #daemon: StorageDaemon;
  readonly #dir: string;
  readonly exited: Promise<void>;

  private constructor(spec: NbdExportSpec, daemon: StorageDaemon, dir: string) {
    this.spec = spec;
    this.#daemon = daemon;
    this.#dir = dir;
    this.exited = daemon.exited;
  }

  get pid(): number | undefined {
    return this.#daemon.pid;
  }

  get running(): boolean {
    return this.#daemon.running;
  }

  /** What the daemon said last (why it failed). */
  get said(): string {
    return this.#daemon.said;
  }

  static async start(spec: NbdExportSpec, signal: AbortSignal): Promise<NbdServer> {
    const dir = join(spec.runDir, spec.name);
    await freshRunDir(dir);
    // The key travels in a file only this process's user reads, never on a command line.
    await writeFile(join(dir, 'keys.psk'), `${spec.identity}:${spec.psk}\n`, { mode: 0o600 });
    const serve = [
      '--object',
      `tls-creds-psk,id=tls0,endpoint=server,dir=${dir}`,
      '--nbd-server',
      `addr.type=inet,addr.host=${spec.address},addr.port=${spec.port},tls-creds=tls0,max-connections=4`,
      '--export',
      `type=nbd,id=export0,node-name=disk,name=${spec.name},writable=on`,
    ];
    try {
      return new NbdServer(spec, await StorageDaemon.start({ blockdev: spec.blockdev, dir, serve }, signal), dir);
    } catch (err) {
      await removeRunDir(dir);
      throw err;
    }
  }

  pushOverlay(overlayPath: string, signal: AbortSignal): Promise<void> {
    return this.#daemon.pushOverlay(overlayPath, signal);
  }

  /** Ends the daemon (a clean quit, then SIGKILL) and removes its run directory. */
  async stop(): Promise<void> {
    await this.#daemon.stop();
    await removeRunDir(this.#dir);
  }
}
