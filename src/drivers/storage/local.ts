/**
 * The `local` storage backend, the embedded default: qcow2 files in one
 * directory, nothing to set up.
 *
 * - A golden image's base is its uploaded file, hard-linked from the blob
 *   store (`<key>.qcow2` or `<key>.raw`, read-only); a copy when the two
 *   directories are on different filesystems.
 * - A disk is a qcow2 overlay whose backing file is a base (`<key>.qcow2`):
 *   made in milliseconds whatever the base's size.
 * - A snapshot renames the disk's overlay into the new image's base and
 *   gives the disk a fresh overlay on top of it: no copy, and the disk keeps
 *   its content. The disk then sits on the snapshot (`diskOnImage`). While
 *   an export has the disk open, the fresh overlay is pushed into the
 *   running server (QMP `blockdev-snapshot`), which keeps serving.
 *
 * Every file appears by rename from a temporary name, so a crash leaves
 * either the old state or the new one, and the orphan sweep removes
 * temporaries.
 */
import { randomUUID } from 'node:crypto';
import { chmod, copyFile, link, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlockdevOptions, DiskFormat, LiveDisk, SnapshotOutcome, StorageBackend } from './interface.ts';
import { backingOf, createOverlay, virtualSizeOf } from './qemu-img.ts';

const TEMP = '.tmp-';

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

  async importImage(imageKey: string, source: { path: string; format: DiskFormat }): Promise<void> {
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
    if (await exists(target)) return;
    const base = await this.#base(imageKey);
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
    const disk = this.#file(diskKey, 'qcow2');
    const frozen = this.#file(imageKey, 'qcow2');
    const outcome = { diskOnImage: true, imageOnDisk: false };
    const tool = { signal: o.signal, timeoutMs: this.#timeoutMs };
    if (await exists(frozen)) {
      // A retry: the overlay was frozen already; the disk's fresh overlay may be missing.
      if ((await exists(disk)) && (await backingOf(disk, tool)) === frozen) return outcome;
      if (await exists(disk)) throw new Error(`storage: both ${diskKey} and ${imageKey} exist and the disk is not on the snapshot`);
    } else {
      await rename(disk, frozen); // an export holding it open keeps writing into the same file, now named as the image
    }
    const size = await virtualSizeOf(frozen, 'qcow2', { ...tool });
    const tmp = this.#tmp();
    try {
      await createOverlay(tmp, { path: frozen, format: 'qcow2' }, { size, ...tool });
      await chmod(tmp, 0o600);
      await rename(tmp, disk);
    } finally {
      await rm(tmp, { force: true });
    }
    // From here on the export writes into the fresh overlay; the frozen file is the image's and is never written again.
    if (o.live) await o.live.pushOverlay(disk, o.signal);
    await chmod(frozen, 0o400);
    return outcome;
  }

  async deleteDisk(diskKey: string): Promise<void> {
    await rm(this.#file(diskKey, 'qcow2'), { force: true });
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
    const keys = names.filter((n) => n.startsWith(prefix)).map((n) => n.replace(/\.(qcow2|raw)$/, ''));
    return { images: keys.filter((k) => k.includes('.img.')).sort(), disks: keys.filter((k) => k.includes('.disk.')).sort() };
  }

  /** Temporary files (an operation cut short by a crash); tests check none is left. */
  async temporaries(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((n) => n.startsWith(TEMP));
    } catch {
      return [];
    }
  }

  diskBlockdev(diskKey: string): BlockdevOptions {
    return { driver: 'qcow2', file: { driver: 'file', filename: this.#file(diskKey, 'qcow2') } };
  }

  async imageBlockdev(imageKey: string): Promise<BlockdevOptions> {
    const base = await this.#base(imageKey);
    return { driver: base.format, 'read-only': true, file: { driver: 'file', filename: base.path } };
  }
}

export const localBackend = (o: LocalOptions) => new LocalBackend(o);
