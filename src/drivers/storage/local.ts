/**
 * The `local` storage backend, the embedded default: qcow2 files in one
 * directory, nothing to set up.
 *
 * - A golden image's base is its uploaded file, hard-linked from the blob
 *   store (`<key>.qcow2` or `<key>.raw`, read-only); a copy when the two
 *   directories are on different filesystems.
 * - A disk is a qcow2 overlay whose backing file is a base (`<key>.qcow2`):
 *   made in milliseconds whatever the base's size.
 * - A snapshot freezes the disk's current overlay as the new image's base
 *   and gives the disk a fresh overlay on top of it: no copy, and the disk
 *   keeps its content (it then sits on the snapshot: `diskOnImage`). The
 *   frozen file gets the image's name as a hard link before anything else,
 *   and each fresh overlay a new name (`<disk key>.<n>.qcow2`, the highest n
 *   is the disk's top), because a file an export holds open must keep its
 *   name: QEMU reopens a node by name when it turns it read-only. While an
 *   export has the disk open, the fresh overlay is pushed into the running
 *   server (QMP `blockdev-snapshot`), which keeps serving.
 *
 * Every file appears by rename from a temporary name (`.tmp-<uuid>`), so a
 * crash leaves either the old state or the new one, plus at most a
 * temporary file.
 */
import { randomUUID } from 'node:crypto';
import { chmod, copyFile, link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlockdevOptions, DiskFormat, LiveDisk, SnapshotOutcome, StorageBackend } from './interface.ts';
import { backingOf, createOverlay, virtualSizeOf } from './qemu-img.ts';

const TEMP = '.tmp-';
/** A disk's layer: `<key>.qcow2`, or `<key>.<generation>.qcow2` after snapshots. */
const DISK_FILE = /^(.+\.disk\.[0-9]+)(?:\.([0-9]+))?\.qcow2$/;

export interface LocalOptions {
  dir: string;
  timeoutMs: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export class LocalBackend implements StorageBackend {
  readonly type = 'local';
  readonly dir: string;
  readonly #timeoutMs: number;

  constructor(o: LocalOptions) {
    this.dir = o.dir;
    this.#timeoutMs = o.timeoutMs;
  }

  #file(key: string, ext: 'qcow2' | 'raw'): string {
    if (!/^[A-Za-z0-9._-]+$/.test(key)) throw new Error(`not a storage key: ${JSON.stringify(key)}`);
    return join(this.dir, `${key}.${ext}`);
  }

  /** The disk's layers that are still its own, by generation (`<key>.qcow2` is 0); the last is the top. */
  async #diskFiles(diskKey: string): Promise<Array<{ generation: number; path: string }>> {
    this.#file(diskKey, 'qcow2'); // checks the key
    const files: Array<{ generation: number; path: string }> = [];
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const m = DISK_FILE.exec(name);
      if (m && m[1] === diskKey) files.push({ generation: Number(m[2] ?? 0), path: join(this.dir, name) });
    }
    return files.sort((a, b) => a.generation - b.generation);
  }

  async #diskTop(diskKey: string): Promise<string> {
    const top = (await this.#diskFiles(diskKey)).at(-1);
    if (!top) throw new Error(`storage: disk ${diskKey} has no file in ${this.dir}`);
    return top.path;
  }

  #tmp(): string {
    return join(this.dir, `${TEMP}${randomUUID()}`);
  }

  /** A base's file and format: qcow2 (uploaded qcow2, or a snapshot) or raw. */
  async #base(imageKey: string): Promise<{ path: string; format: DiskFormat }> {
    const qcow2 = this.#file(imageKey, 'qcow2');
    if (await exists(qcow2)) return { path: qcow2, format: 'qcow2' };
    const raw = this.#file(imageKey, 'raw');
    if (await exists(raw)) return { path: raw, format: 'raw' };
    throw new Error(`storage: image ${imageKey} has no base in ${this.dir}`);
  }

  async check(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async importImage(imageKey: string, source: { path: string; format: DiskFormat }, _signal?: AbortSignal): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const target = this.#file(imageKey, source.format);
    if (await exists(target)) return;
    const tmp = this.#tmp();
    try {
      await link(source.path, tmp);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await copyFile(source.path, tmp);
    }
    try {
      await chmod(tmp, 0o400); // the blob it shares an inode with is read-only too: nobody writes a base
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async cloneDisk(imageKey: string, diskKey: string, signal: AbortSignal): Promise<void> {
    const target = this.#file(diskKey, 'qcow2');
    const base = await this.#base(imageKey);
    const existing = await this.#diskFiles(diskKey);
    if (existing.length) {
      // A retry finds its own clone; anything else under this key (ids reused after a restore) is not this disk.
      if (existing.length === 1 && (await backingOf(existing[0]!.path, { signal, timeoutMs: this.#timeoutMs })) === base.path) return;
      throw new Error(`storage: disk ${diskKey} already exists in ${this.dir} and is not a clone of ${imageKey}`);
    }
    const tmp = this.#tmp();
    try {
      await createOverlay(tmp, base, { signal, timeoutMs: this.#timeoutMs });
      await chmod(tmp, 0o600);
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async snapshotDisk(diskKey: string, imageKey: string, o: { live?: LiveDisk; signal: AbortSignal }): Promise<SnapshotOutcome> {
    const tool = { signal: o.signal, timeoutMs: this.#timeoutMs };
    const frozen = this.#file(imageKey, 'qcow2');
    const files = await this.#diskFiles(diskKey);
    const top = files.at(-1);
    if (!top) throw new Error(`storage: disk ${diskKey} has no file in ${this.dir}`);
    // A retry after the fresh overlay was made: only the old layers' names are left to drop.
    const done = (await exists(frozen)) && (await backingOf(top.path, tool)) === frozen;
    if (!done) {
      if (!(await exists(frozen))) await link(top.path, frozen); // the image's name for the inode, before anything moves
      const size = await virtualSizeOf(frozen, 'qcow2', tool);
      const fresh = join(this.dir, `${diskKey}.${top.generation + 1}.qcow2`);
      const tmp = this.#tmp();
      try {
        await createOverlay(tmp, { path: frozen, format: 'qcow2' }, { size, ...tool });
        await chmod(tmp, 0o600);
        await rename(tmp, fresh);
      } finally {
        await rm(tmp, { force: true });
      }
      // From here on the export writes into the fresh overlay; the frozen file is the image's and is never written again.
      try {
        await o.live?.pushOverlay(fresh, o.signal);
      } catch {
        // Whether QEMU moved to the fresh overlay is unknown (a command given up on may still be carried
        // out): the export stops, so nothing writes the old top any more. Nothing is lost either way, as
        // the old top is the fresh overlay's backing file; the snapshot holds what the disk had when the
        // export stopped, and the export starts again on top of the fresh overlay.
        await o.live?.stop();
      }
    }
    await chmod(frozen, 0o400);
    // The disk's own names are its top alone now; older layers live on under the images' names.
    for (const f of (await this.#diskFiles(diskKey)).slice(0, -1)) await rm(f.path, { force: true });
    return { diskOnImage: true, imageOnDisk: false };
  }

  async deleteDisk(diskKey: string): Promise<void> {
    for (const f of await this.#diskFiles(diskKey)) await rm(f.path, { force: true });
  }

  async deleteImage(imageKey: string): Promise<void> {
    await rm(this.#file(imageKey, 'qcow2'), { force: true });
    await rm(this.#file(imageKey, 'raw'), { force: true });
  }

  async list(prefix: string): Promise<{ images: string[]; disks: string[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { images: [], disks: [] };
      throw err;
    }
    const mine = names.filter((n) => n.startsWith(prefix));
    const disks = new Set(mine.map((n) => DISK_FILE.exec(n)?.[1]).filter((k): k is string => k !== undefined));
    const images = mine.filter((n) => n.includes('.img.')).map((n) => n.replace(/\.(qcow2|raw)$/, ''));
    return { images: [...new Set(images)].sort(), disks: [...disks].sort() };
  }

  async diskBlockdev(diskKey: string): Promise<BlockdevOptions> {
    return { driver: 'qcow2', file: { driver: 'file', filename: await this.#diskTop(diskKey) } };
  }

  async imageBlockdev(imageKey: string): Promise<BlockdevOptions> {
    const base = await this.#base(imageKey);
    return { driver: base.format, 'read-only': true, file: { driver: 'file', filename: base.path } };
  }
}

export const localBackend = (o: LocalOptions) => new LocalBackend(o);
