/**
 * The `rbd` storage backend: golden bases, disks and snapshots as images in
 * one Ceph pool, driven with the `rbd` and `qemu-img` command-line tools.
 *
 * - A golden image is an RBD image (raw) with one snapshot, `<key>@base`,
 *   which is what clones hang from. An image without `base` is half-made.
 * - A disk is a clone (format 2) of `<image>@base`: O(1), copy-on-write in
 *   4 MiB objects. Format 2 because it needs no protected snapshots and lets
 *   a parent's snapshot go to the trash namespace rather than fail; the
 *   removals below check for clones themselves for that reason.
 * - A snapshot of a disk is `<disk>@<image key>`, cloned to `<image key>`,
 *   which gets its own `base`: O(1), and the disk is untouched (it works
 *   while an export has the disk open: librbd hands the request to the
 *   lock owner). The new image depends on the disk until `separate`
 *   flattens it (images are made with deep-flatten, the default, so the
 *   image's own `base` is flattened too) and drops the disk's snapshot.
 *
 * Keys are RBD image names HIL makes (`<prefix>.img.<id>`,
 * `<prefix>.disk.<id>`); the caller's database decides what may be deleted,
 * but an image or disk that still has clones is never removed here.
 *
 * Every call is bounded: the tool is killed after the timeout or on the
 * signal, and librados is told to give up a little earlier (mount, monitor
 * and OSD operation timeouts), so a Ceph that does not answer yields the
 * tool's own words ("couldn't connect to the cluster") rather than a kill.
 */
import type { BlockdevOptions, DiskFormat, SnapshotOutcome, StorageBackend } from './interface.ts';
import { QEMU_IMG, virtualSizeOf } from './qemu-img.ts';
import { runTool, ToolError } from '../../util/run-tool.ts';
import { RBD, flattenWithProgress, isMissing, radosTimeoutSeconds, rbdFilenameValue, type ChildInfo, type ImageInfo, type SnapInfo } from './rbd-cli.ts';

export interface RbdOptions {
  pool: string;
  /** A ceph.conf naming the monitors and the keyring of client.<id>. */
  conf: string;
  /** The cephx client id, without `client.`. */
  id: string;
  timeoutMs?: number;
}


/** The snapshot of a golden image that disks are cloned from. */
const BASE = 'base';
const DEFAULT_TIMEOUT_MS = 60_000;
/** Throughput a long operation (import, flatten) is allowed to fall to before it counts as stuck: its bound grows with the size. */
const SLOWEST_BYTES_PER_MS = (8 << 20) / 1000;
/** RBD image and pool names HIL makes; no `/` or `@` (spec separators), no `:` (qemu's rbd: filename separator). */
const NAME = /^[A-Za-z0-9._-]+$/;

export class RbdBackend implements StorageBackend {
  readonly type = 'rbd';
  readonly pool: string;
  readonly #conf: string;
  readonly #id: string;
  readonly #timeoutMs: number;

  constructor(o: RbdOptions) {
    if (!NAME.test(o.pool)) throw new Error(`rbd: not a pool name: ${JSON.stringify(o.pool)}`);
    if (!NAME.test(o.id)) throw new Error(`rbd: not a client id: ${JSON.stringify(o.id)}`);
    this.pool = o.pool;
    this.#conf = o.conf;
    this.#id = o.id;
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  // ---- the tools ----

  /** `pool/key`, or `pool/key@snap`: every command names its pool, so no default pool is ever used. */
  #spec(key: string, snap?: string): string {
    if (!NAME.test(key)) throw new Error(`rbd: not a storage key: ${JSON.stringify(key)}`);
    return snap === undefined ? `${this.pool}/${key}` : `${this.pool}/${key}@${snap}`;
  }

  /** The arguments every rbd call starts with: who we are, and how long librados may wait. */
  #common(timeoutMs: number): string[] {
    const s = String(radosTimeoutSeconds(timeoutMs));
    return ['-c', this.#conf, '--id', this.#id, '--client-mount-timeout', s, '--rados-mon-op-timeout', s, '--rados-osd-op-timeout', s];
  }

  /**
   * Runs `rbd <args>`; the ToolError carries rbd's stderr and names the
   * command by the arguments before the first option (so callers put the
   * subcommand and spec first: `snap create pool/key@snap --no-progress`).
   */
  async #rbd(args: string[], signal: AbortSignal, timeoutMs = this.#timeoutMs): Promise<string> {
    try {
      return await runTool(RBD, [...args, ...this.#common(timeoutMs)], { signal, timeoutMs });
    } catch (err) {
      if (!(err instanceof ToolError)) throw err;
      const firstOption = args.findIndex((a) => a.startsWith('-'));
      // librados log lines start with a timestamp, a thread id and a level: noise in an error message.
      const detail = err.detail.replace(/\d{4}-\d\d-\d\dT\S+ [0-9a-f]+ +-?\d+ /g, '');
      throw new ToolError(`rbd ${args.slice(0, firstOption < 0 ? args.length : firstOption).join(' ')}`, detail, err.exit);
    }
  }

  async #json<T>(args: string[], signal: AbortSignal): Promise<T> {
    return JSON.parse(await this.#rbd([...args, '--format', 'json'], signal)) as T;
  }

  /** The image, or undefined if there is none by that name. */
  async #info(key: string, signal: AbortSignal): Promise<ImageInfo | undefined> {
    try {
      return await this.#json<ImageInfo>(['info', this.#spec(key)], signal);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** All snapshots, the trash namespace included (a format 2 parent's snapshot removed while it had clones). */
  #snaps(key: string, signal: AbortSignal): Promise<SnapInfo[]> {
    return this.#json<SnapInfo[]>(['snap', 'ls', this.#spec(key), '--all'], signal);
  }

  /** The clones of any of the image's snapshots, trashed ones (and clones in the RBD trash) included. */
  async #children(key: string, signal: AbortSignal): Promise<string[]> {
    const children = await this.#json<ChildInfo[]>(['children', this.#spec(key), '--all'], signal);
    return children.map((c) => [c.pool, c.pool_namespace, c.image].filter(Boolean).join('/'));
  }

  async #hasSnap(key: string, snap: string, signal: AbortSignal): Promise<boolean> {
    return (await this.#snaps(key, signal)).some((s) => s.name === snap && (s.namespace?.type ?? 'user') === 'user');
  }

  async #snapCreate(key: string, snap: string, signal: AbortSignal): Promise<void> {
    if (await this.#hasSnap(key, snap, signal)) return;
    await this.#rbd(['snap', 'create', this.#spec(key, snap), '--no-progress'], signal);
  }

  /** Clone format 2 whatever the conf says: the removals below rely on its semantics (no protect/unprotect). */
  async #clone(parent: string, snap: string, child: string, signal: AbortSignal): Promise<void> {
    await this.#rbd(['clone', this.#spec(parent, snap), this.#spec(child), '--rbd-default-clone-format', '2'], signal);
  }

  /** Removes one snapshot, refusing while clones hang from it (format 2 would move it to the trash and keep it). */
  async #removeSnap(key: string, snap: SnapInfo, signal: AbortSignal): Promise<void> {
    const user = (snap.namespace?.type ?? 'user') === 'user';
    if (user) {
      // --all: a clone moved to the RBD trash still reads through this snapshot.
      const children = await this.#json<ChildInfo[]>(['children', this.#spec(key, snap.name), '--all'], signal);
      if (children.length) throw new Error(`rbd: ${key}@${snap.name} still has clones (${children.map((c) => c.image).join(', ')})`);
      if (snap.protected === 'true') await this.#rbd(['snap', 'unprotect', this.#spec(key, snap.name)], signal);
      await this.#rbd(['snap', 'rm', this.#spec(key, snap.name), '--no-progress'], signal);
    } else {
      // A trashed snapshot has no usable name; rbd takes no --no-progress with --snap-id.
      await this.#rbd(['snap', 'rm', this.#spec(key), '--snap-id', String(snap.id)], signal);
    }
  }

  /** Removes an image and its snapshots; already gone is done; refused while anything is cloned from it. */
  async #remove(key: string, what: string, signal: AbortSignal): Promise<ImageInfo | undefined> {
    const info = await this.#info(key, signal);
    if (!info) return undefined;
    const children = await this.#children(key, signal);
    if (children.length) throw new Error(`rbd: the ${what} ${key} still has clones (${children.join(', ')}); they must go first`);
    for (const snap of await this.#snaps(key, signal)) {
      if (snap.namespace?.type === 'group') throw new Error(`rbd: ${what} ${key} is in a group snapshot; remove it from the group first`);
      await this.#removeSnap(key, snap, signal);
    }
    try {
      // An image with many objects takes time to remove, but the object map skips the ones never written.
      await this.#rbd(['rm', this.#spec(key), '--no-progress'], signal, this.#longTimeout(info.size));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    return info;
  }

  #longTimeout(bytes: number): number {
    return this.#timeoutMs + Math.ceil(bytes / SLOWEST_BYTES_PER_MS);
  }

  // ---- the interface ----

  async check(signal: AbortSignal): Promise<void> {
    try {
      await this.#rbd(['ls', this.pool, '--format', 'json'], signal);
    } catch (err) {
      const why = err instanceof ToolError ? err.detail : (err as Error).message;
      throw new Error(`rbd: pool ${this.pool} is not usable as client.${this.#id} with ${this.#conf}: ${why}`, { cause: err });
    }
  }

  async importImage(imageKey: string, source: { path: string; format: DiskFormat }, signal: AbortSignal): Promise<void> {
    const info = await this.#info(imageKey, signal);
    if (info && (await this.#hasSnap(imageKey, BASE, signal))) return;
    // Without `base` the image is what an interrupted import left: it starts again from nothing.
    if (info) await this.#remove(imageKey, 'half-made image', signal);
    const size = await virtualSizeOf(source.path, source.format, { signal, timeoutMs: this.#timeoutMs });
    const timeoutMs = this.#longTimeout(size);
    const s = String(radosTimeoutSeconds(this.#timeoutMs));
    // qemu-img creates the image and, since a new RBD image reads as zeroes, writes only the data (sparse).
    const target = [
      `rbd:${this.#spec(imageKey)}`,
      `id=${this.#id}`,
      `conf=${rbdFilenameValue(this.#conf)}`,
      `client_mount_timeout=${s}`,
      `rados_mon_op_timeout=${s}`,
      `rados_osd_op_timeout=${s}`,
    ].join(':');
    await runTool(QEMU_IMG, ['convert', '-q', '-f', source.format, '-O', 'raw', source.path, target], { signal, timeoutMs });
    await this.#snapCreate(imageKey, BASE, signal);
  }

  async cloneDisk(imageKey: string, diskKey: string, signal: AbortSignal): Promise<void> {
    const existing = await this.#info(diskKey, signal);
    if (existing) {
      const p = existing.parent;
      if (p && (p.pool !== this.pool || p.image !== imageKey || p.snapshot !== BASE)) {
        throw new Error(`rbd: disk ${diskKey} exists as a clone of ${p.image}@${p.snapshot}, not of ${imageKey}`);
      }
      // A clone is whole once the parent lists it too (rbd attaches the child there last); only then would deleteImage see it.
      if (p && (await this.#cloneListed(imageKey, diskKey, signal))) return;
      // What an interrupted clone left (a disk is always a clone of a listed parent): it holds nothing of anyone's yet.
      await this.#remove(diskKey, 'half-made disk', signal);
    }
    try {
      await this.#clone(imageKey, BASE, diskKey, signal);
    } catch (err) {
      // "clone error: (2)": the parent image or its snapshot is not there.
      if (err instanceof ToolError && /clone error: \(2\)/.test(err.detail)) throw new Error(`rbd: image ${imageKey} has no ${BASE} snapshot in pool ${this.pool} to clone ${diskKey} from`, { cause: err });
      throw err;
    }
  }

  async #cloneListed(imageKey: string, diskKey: string, signal: AbortSignal): Promise<boolean> {
    const children = await this.#json<ChildInfo[]>(['children', this.#spec(imageKey, BASE), '--all'], signal);
    return children.some((c) => c.pool === this.pool && !c.pool_namespace && c.image === diskKey);
  }

  async snapshotDisk(diskKey: string, imageKey: string, o: { signal: AbortSignal }): Promise<SnapshotOutcome> {
    const outcome = { diskOnImage: false, imageOnDisk: true };
    const image = await this.#info(imageKey, o.signal);
    // Already made (a repeat after a crash, maybe after `separate` dropped the disk's snapshot): a new snapshot of the disk now would be stray.
    if (image && (await this.#hasSnap(imageKey, BASE, o.signal))) return outcome;
    if (image) {
      const p = image.parent;
      if (!p || p.image !== diskKey || p.snapshot !== imageKey) throw new Error(`rbd: image ${imageKey} exists but is not a snapshot of ${diskKey}`);
    } else {
      if (!(await this.#info(diskKey, o.signal))) throw new Error(`rbd: disk ${diskKey} is not in pool ${this.pool}`);
      await this.#snapCreate(diskKey, imageKey, o.signal);
      await this.#clone(diskKey, imageKey, imageKey, o.signal);
    }
    await this.#snapCreate(imageKey, BASE, o.signal);
    return outcome;
  }

  async separate(imageKey: string, diskKey: string, o: { progress: (fraction: number) => void; signal: AbortSignal }): Promise<void> {
    const image = await this.#info(imageKey, o.signal);
    if (!image) throw new Error(`rbd: image ${imageKey} is not in pool ${this.pool}`);
    if (image.parent) await this.#flatten(imageKey, image.size, o);
    // The disk's snapshot has nothing cloned from it any more.
    const disk = await this.#info(diskKey, o.signal);
    if (disk) {
      const snap = (await this.#snaps(diskKey, o.signal)).find((s) => s.name === imageKey && (s.namespace?.type ?? 'user') === 'user');
      if (snap) await this.#removeSnap(diskKey, snap, o.signal);
    }
    o.progress(1);
  }

  /** `rbd flatten`, its progress reported as it goes. */
  #flatten(imageKey: string, size: number, o: { progress: (fraction: number) => void; signal: AbortSignal }): Promise<void> {
    return flattenWithProgress(['flatten', this.#spec(imageKey), ...this.#common(this.#timeoutMs)], { ...o, timeoutMs: this.#longTimeout(size) });
  }

  async deleteDisk(diskKey: string, signal: AbortSignal): Promise<void> {
    await this.#remove(diskKey, 'disk', signal);
  }

  async deleteImage(imageKey: string, signal: AbortSignal): Promise<void> {
    const removed = await this.#remove(imageKey, 'image', signal);
    // A snapshot never separated leaves the disk's snapshot that was made for it: it goes with the image.
    const p = removed?.parent;
    if (p && p.pool === this.pool && p.snapshot === imageKey && NAME.test(p.image)) {
      const disk = await this.#info(p.image, signal);
      const snap = disk && (await this.#snaps(p.image, signal)).find((s) => s.name === imageKey && (s.namespace?.type ?? 'user') === 'user');
      if (snap) await this.#removeSnap(p.image, snap, signal);
    }
  }

  async list(prefix: string, signal: AbortSignal): Promise<{ images: string[]; disks: string[] }> {
    const names = await this.#json<string[]>(['ls', this.pool], signal);
    const mine = names.filter((n) => n.startsWith(prefix));
    return { images: mine.filter((n) => n.includes('.img.')).sort(), disks: mine.filter((n) => n.includes('.disk.')).sort() };
  }

  async diskBlockdev(diskKey: string): Promise<BlockdevOptions> {
    this.#spec(diskKey);
    return { driver: 'rbd', pool: this.pool, image: diskKey, conf: this.#conf, user: this.#id };
  }

  async imageBlockdev(imageKey: string): Promise<BlockdevOptions> {
    this.#spec(imageKey);
    // QEMU opens an RBD snapshot read-only only, and says so unless asked for read-only.
    return { driver: 'rbd', pool: this.pool, image: imageKey, snapshot: BASE, conf: this.#conf, user: this.#id, 'read-only': true };
  }
}

export const rbdBackend = (o: RbdOptions): StorageBackend => new RbdBackend(o);
