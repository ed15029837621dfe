/**
 * One disk served to one node over NBD: a qemu-storage-daemon process of its
 * own (storage-daemon.ts: it dies with us, and on local storage QEMU's image
 * lock keeps a second one off the disk), listening only on the address given (the
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

/**
 * The ffdhe2048 group of RFC 7919 (public, standard parameters), as PKCS#3
 * PEM (`openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048`):
 * TLS-PSK's Diffie-Hellman uses it instead of parameters made at each start.
 */
const FFDHE2048 = `-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
`;

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
    // Without it QEMU generates 2048-bit DH parameters at every start (0.15-0.9 s here).
    await writeFile(join(dir, 'dh-params.pem'), FFDHE2048, { mode: 0o600 });
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
