/**
 * One disk served to one node over iSCSI, by two processes of its own
 * (storage-daemon.ts: both die with us): a qemu-storage-daemon that opens
 * the disk and shows it as a raw file (a FUSE export: tgt reads raw files,
 * not qcow2), and a tgtd that serves that file as LUN 1 of one target,
 * listening only on the address given.
 *
 * What keeps a node off another node's disk is the CHAP secret: the target
 * has one incoming account, and the secret reaches tgtd over its control
 * socket only (written to directly: tgtadm would take it as an argument,
 * readable in /proc/<pid>/cmdline), never in arguments, the environment or a
 * file. The initiator-name rule admits that node's initiator alone, which
 * stops a node configured with the wrong disk, but an initiator name is only
 * what the initiator says it is.
 */
import { isInitiatorName, targetIqn } from '../disks/export-names.ts';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlockdevOptions, LiveDisk } from '../drivers/storage/interface.ts';
import { summarise } from '../util/run-tool.ts';
import { Daemon, freshRunDir, QEMU_STORAGE_DAEMON, removeRunDir, StorageDaemon } from './storage-daemon.ts';
import { knock, tgtRequest, type TgtRequest } from './tgt-control.ts';

export const TGTD = 'tgtd';
const TID = 1;
const LUN = 1;

export interface IscsiExportSpec {
  /** Ids only (hil-abc.disk.3): the target's name is made of it, and so is the run directory's. */
  name: string;
  blockdev: BlockdevOptions;
  address: string;
  port: number;
  /** The node's iSCSI initiator name (iqn.…), exactly as its initiator sends it: the only one the target admits. */
  initiator: string;
  /** The node's CHAP account (one way: the target checks the node). */
  user: string;
  secret: string;
  /** Where the daemons' sockets and the disk's FUSE file go (a directory of its own is made in it). */
  runDir: string;
}

export class IscsiServer implements LiveDisk {
  readonly spec: IscsiExportSpec;
  /** The target's name, for the node's initiator. */
  readonly iqn: string;
  readonly #storage: StorageDaemon;
  readonly #tgtd: Daemon;
  readonly #dir: string;
  #down: Promise<void> | undefined;
  /** Resolves when the export is down and holds nothing (port, image lock, mount): after stop(), or when either daemon died. */
  readonly exited: Promise<void>;

  private constructor(spec: IscsiExportSpec, storage: StorageDaemon, tgtd: Daemon, dir: string) {
    this.spec = spec;
    this.iqn = targetIqn(spec.name);
    this.#storage = storage;
    this.#tgtd = tgtd;
    this.#dir = dir;
    // One daemon dead is the export dead: the other goes too, here, since whoever watches `exited` forgets this server.
    this.exited = Promise.race([storage.exited, tgtd.exited]).then(() => this.#shutdown(false).catch(() => {}));
  }

  /** tgtd's: the process the node talks to. */
  get pid(): number | undefined {
    return this.#tgtd.pid;
  }

  /** Both processes' (tests check they are gone). */
  get pids(): number[] {
    return [this.#tgtd.pid, this.#storage.pid].filter((pid): pid is number => pid !== undefined);
  }

  get running(): boolean {
    return this.#storage.running && this.#tgtd.running;
  }

  /** What the daemons said last (why one failed), each named. */
  get said(): string {
    const words: [string, string][] = [
      [QEMU_STORAGE_DAEMON, this.#storage.said],
      [TGTD, tgtdSaid(this.#tgtd)],
    ];
    return words
      .filter(([, s]) => s)
      .map(([who, s]) => `${who}: ${s}`)
      .join('; ');
  }

  static async start(spec: IscsiExportSpec, signal: AbortSignal): Promise<IscsiServer> {
    checkSpec(spec);
    const dir = join(spec.runDir, spec.name);
    await freshRunDir(dir);
    let storage: StorageDaemon;
    try {
      storage = await serveAsFile(spec.blockdev, dir, signal);
    } catch (err) {
      await removeRunDir(dir);
      throw err;
    }
    const server = new IscsiServer(spec, storage, startTgtd(dir, spec.address), dir);
    try {
      await server.#configure(signal);
      return server;
    } catch (err) {
      await server.#shutdown(false);
      throw err;
    }
  }

  pushOverlay(overlayPath: string, signal: AbortSignal): Promise<void> {
    return this.#storage.pushOverlay(overlayPath, signal);
  }

  /** Ends tgtd (its target deleted, sessions and all, then the system), then the storage daemon, and removes the run directory. */
  stop(): Promise<void> {
    return this.#shutdown(true);
  }

  /** Once only: a stop, a failed start and a daemon's death all end here. */
  #shutdown(graceful: boolean): Promise<void> {
    this.#down ??= this.#takeDown(graceful);
    return this.#down;
  }

  async #takeDown(graceful: boolean): Promise<void> {
    // tgtd first: it holds the FUSE file open. SIGTERM does nothing to it (its handler is empty), hence the requests.
    await this.#tgtd.end(async () => {
      if (!graceful) return;
      const signal = AbortSignal.timeout(2000);
      await this.#request({ mode: 'target', op: 'delete', tid: TID, force: true }, signal).catch(() => {}); // force: even with sessions open
      await this.#request({ mode: 'system', op: 'delete' }, signal);
      // tgtd marks itself done but sleeps on until its next event (its work timer, ~300 ms later): one more connection wakes it.
      knock(this.#controlPath);
    }, graceful ? 2000 : 0);
    await this.#storage.stop();
    await removeRunDir(this.#dir);
  }

  /** Where tgtd's control socket is (TGT_IPC_SOCKET and -C 0 make it; see startTgtd). */
  get #controlPath(): string {
    return join(this.#dir, 'tgtd.0');
  }

  #request(req: TgtRequest, signal: AbortSignal): Promise<string> {
    return tgtRequest(this.#controlPath, req, signal);
  }

  /** One configuration step; its failure says what tgtd said, not just the request's error code. */
  async #step(what: string, req: TgtRequest, signal: AbortSignal): Promise<string> {
    try {
      return await this.#request(req, signal);
    } catch (err) {
      await sleep(50); // its stderr and its answer come on different pipes: let the words arrive
      const said = tgtdSaid(this.#tgtd);
      throw new Error(`${TGTD} could not ${what}: ${(err as Error).message}${said ? ` (${said})` : ''}`);
    }
  }

  async #configure(signal: AbortSignal): Promise<void> {
    try {
      await this.#tgtd.answer(() => this.#request({ mode: 'portal', op: 'show' }, signal), signal);
    } catch (err) {
      throw new Error(`${TGTD} did not start: ${tgtdSaid(this.#tgtd) || (err as Error).message}`);
    }
    await this.#listen(signal);
    const { initiator, user, secret } = this.spec;
    await this.#step('make the target', { mode: 'target', op: 'new', tid: TID, params: `targetname=${this.iqn}` }, signal);
    await this.#step('add the disk', { mode: 'device', op: 'new', tid: TID, lun: LUN, params: `path=${join(this.#dir, 'disk')},bstype=rdwr` }, signal);
    // The account before the initiator's rule: until a target has an account, the initiators it admits log in without CHAP.
    await this.#step('add the CHAP account', { mode: 'account', op: 'new', params: `user=${user},password=${secret}` }, signal);
    await this.#step('bind the CHAP account', { mode: 'account', op: 'bind', tid: TID, params: `user=${user}` }, signal);
    // No address rule: tgt admits a login that passes the address rules or the name rules, so "ALL" would admit everyone.
    await this.#step("admit the node's initiator", { mode: 'target', op: 'bind', tid: TID, params: `initiator-name=${initiator}` }, signal);
  }

  /**
   * Puts tgtd on the portal asked for, and on nothing else. A portal on its
   * command line that fails to bind (the port is taken) makes it listen on
   * 0.0.0.0:3260 and [::]:3260 instead, so it starts on a placeholder (this
   * address, port 0: it binds if the address is ours), gets the real portal
   * over the control socket (which just fails when the port is taken) and
   * then drops the placeholder.
   */
  async #listen(signal: AbortSignal): Promise<void> {
    const placeholders = await this.#portals(signal); // shown with the port the kernel gave
    const wanted = portal(this.spec.address, this.spec.port);
    await this.#step(`listen on ${wanted}`, { mode: 'portal', op: 'new', params: `portal=${wanted}` }, signal);
    for (const p of placeholders) await this.#step('drop its placeholder portal', { mode: 'portal', op: 'delete', params: `portal=${p}` }, signal);
    const left = await this.#portals(signal);
    if (left.length !== 1 || !left[0].endsWith(`:${this.spec.port}`)) throw new Error(`${TGTD} listens on ${left.join(', ') || 'nothing'}, not on ${wanted} alone`);
  }

  async #portals(signal: AbortSignal): Promise<string[]> {
    const shown = await this.#step('list its portals', { mode: 'portal', op: 'show' }, signal);
    return [...shown.matchAll(/^Portal: (\S+),\d+$/gm)].map((m) => m[1]);
  }
}

/** What start refuses before making anything: what tgt's and QEMU's parameter strings cannot carry. */
function checkSpec(spec: IscsiExportSpec): void {
  const bad = (what: string) => {
    throw new Error(`an iSCSI export cannot have ${what}`);
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(spec.name)) bad(`the name ${JSON.stringify(spec.name)} (ids only: letters, digits, '.', '_', '-')`);
  // Both split their parameters on commas; tgt would cut the path short, QEMU read the rest as options.
  if (spec.runDir.includes(',')) bad(`a comma in its run directory (${spec.runDir})`);
  if (!isInitiatorName(spec.initiator)) bad(`the initiator name ${JSON.stringify(spec.initiator)}`);
  // tgt reads "user=<user>,password=<secret>": the user ends at the first comma, the secret at the string's end.
  if (!/^[\x21-\x2b\x2d-\x7e]{1,255}$/.test(spec.user)) bad(`the CHAP user ${JSON.stringify(spec.user)} (printable, no spaces or commas)`);
  // tgt keeps a secret in a 256-byte buffer; RFC 3720 asks for 96 bits at least, and some initiators refuse fewer than 12 characters.
  const bytes = Buffer.byteLength(spec.secret);
  if (bytes < 12 || bytes > 255 || spec.secret.includes('\0')) bad('a CHAP secret that is not 12 to 255 bytes long (or that has a NUL)');
}

/** A qemu-storage-daemon showing the disk as the raw file `<dir>/disk`, which only this user may open. */
async function serveAsFile(blockdev: BlockdevOptions, dir: string, signal: AbortSignal): Promise<StorageDaemon> {
  const file = join(dir, 'disk');
  await writeFile(file, '', { mode: 0o600 }); // a FUSE mount point must exist
  const fuse = `type=fuse,id=export0,node-name=disk,mountpoint=${file},writable=on,allow-other=off`;
  return StorageDaemon.start({ blockdev, dir, serve: ['--export', fuse] }, signal);
}

/**
 * tgtd, on a placeholder portal (see #listen). Its control socket goes in
 * the run directory (TGT_IPC_SOCKET, which tgtd and tgtadm both read), not
 * the global /var/run/tgtd/socket.<N>: no other tgtd collides with it, only
 * this user reaches it, and it goes with the directory. So -C needs no
 * choosing (and a port would not do: tgtd keeps it in a short). Never with
 * -d 1: its debug log prints every request's parameters, CHAP secret and all.
 */
function startTgtd(dir: string, address: string): Daemon {
  const env = { PATH: process.env.PATH, TGT_IPC_SOCKET: join(dir, 'tgtd') }; // and nothing of ours (database URLs and the like)
  return Daemon.spawn(TGTD, ['-f', '-C', '0', '--iscsi', `portal=${portal(address, 0)}`], { env });
}

function portal(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** What tgtd prints on every start and for every LUN: never the reason something failed. */
const TGTD_NOISE = [/Failed to initialize RDMA/, /can't adjust oom-killer/, /can't adjust nr_open/, /use timer_fd based scheduler/, /use signalfd notification/, /device_mgmt\(\d+\) sz:/, /bs_thread_open\(\d+\)/];

function tgtdSaid(tgtd: Daemon): string {
  return summarise(
    tgtd.stderr
      .split('\n')
      .filter((line) => !TGTD_NOISE.some((noise) => noise.test(line)))
      .map((line) => line.replace(/^tgtd: /, '')) // said names it already
      .join('\n'),
  );
}
