/**
 * Content-addressed files: each blob is stored once, as `<dir>/sha256/<hex>`,
 * named by the SHA-256 of its bytes. A write goes to a temporary file in the
 * same directory, hashed on the way, fsynced and then renamed into place, so
 * a blob under its name is always complete. The store knows nothing of
 * images; its callers say which blobs are still referenced.
 *
 * Garbage collection is safe against uploads in this process: a blob just
 * written is held (`release()` after the row naming it is committed), and a
 * collection that raced with any new hold leaves its candidates alone. One
 * API server per blob directory.
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants, unlinkSync, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ServerError } from '../errors.ts';

export const SHA256_HEX = /^[0-9a-f]{64}$/;

export interface BlobInfo {
  /** 64 lowercase hex digits. */
  sha256: string;
  /** Bytes. */
  size: number;
}

/** A blob just stored; it cannot be collected until released. */
export interface StoredBlob extends BlobInfo {
  /** Lets garbage collection consider the blob again (call after committing what references it). */
  release(): void;
}

/** The source had more bytes than allowed; nothing was stored. */
export class BlobTooLargeError extends Error {
  readonly limitBytes: number;
  constructor(limitBytes: number) {
    super(`larger than ${limitBytes} bytes`);
    this.limitBytes = limitBytes;
  }
}

const TEMP_PREFIX = '.tmp-';

export class BlobStore {
  /** The root; blobs are in `<dir>/sha256/`. */
  readonly dir: string;
  /** The limit `put` applies when not given one. */
  readonly maxFileBytes: number;
  readonly #shaDir: string;
  readonly #holds = new Map<string, number>();
  /** Bumped on every hold: a collection that saw it move keeps its candidates. */
  #holdEpoch = 0;

  constructor(dir: string, o: { maxFileBytes?: number } = {}) {
    this.dir = dir;
    this.maxFileBytes = o.maxFileBytes ?? 1024 * 1024 * 1024;
    this.#shaDir = join(dir, 'sha256');
  }

  /** Where the blob's file is (whether or not it exists). Throws on a malformed hash. */
  path(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new ServerError(`not a SHA-256 (64 lowercase hex digits): ${JSON.stringify(sha256)}`);
    return join(this.#shaDir, sha256);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      return (await stat(this.path(sha256))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * Stores the bytes of `source`, hashing them on the way. More than
   * `limitBytes`: BlobTooLargeError, the rest of the source left unread and
   * nothing stored. The blob is held until `release()`.
   */
  async put(source: Readable | AsyncIterable<Uint8Array>, limitBytes = this.maxFileBytes): Promise<StoredBlob> {
    // A stream that fails before we read it must not fail the process; reading it reports the failure.
    const readable = isReadable(source) ? source : undefined;
    const ignore = () => {};
    readable?.on('error', ignore);
    try {
      return await this.#put(source, limitBytes);
    } finally {
      readable?.off('error', ignore);
    }
  }

  async #put(source: Readable | AsyncIterable<Uint8Array>, limitBytes: number): Promise<StoredBlob> {
    await mkdir(this.#shaDir, { recursive: true, mode: 0o700 });
    const tmp = join(this.#shaDir, `${TEMP_PREFIX}${randomUUID()}`);
    const file = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    const hash = createHash('sha256');
    let size = 0;
    let sha256: string;
    try {
      // An HTTP request must not be destroyed when we stop early: the answer (413) still goes out on its socket.
      const chunks = isReadable(source) ? source.iterator({ destroyOnReturn: false }) : source;
      for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
        size += chunk.length;
        if (size > limitBytes) throw new BlobTooLargeError(limitBytes);
        hash.update(chunk);
        await writeAll(file, chunk);
      }
      await file.sync();
      await file.close();
      sha256 = hash.digest('hex');
      this.#hold(sha256);
    } catch (err) {
      await file.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
    try {
      await rename(tmp, join(this.#shaDir, sha256));
      await syncDir(this.#shaDir);
    } catch (err) {
      this.#release(sha256);
      await rm(tmp, { force: true });
      throw err;
    }
    let released = false;
    return {
      sha256,
      size,
      release: () => {
        if (!released) this.#release(sha256);
        released = true;
      },
    };
  }

  /** Opens the blob for reading (the file stays readable even if it is collected meanwhile). Throws ENOENT when missing. */
  async open(sha256: string): Promise<ReadStream> {
    const handle = await open(this.path(sha256), 'r');
    return handle.createReadStream();
  }

  /**
   * Removes those of `candidates` that `isReferenced` says nothing refers to
   * any more and that no upload holds. Returns the hashes removed.
   */
  async collect(candidates: Iterable<string>, isReferenced: (sha256: string) => Promise<boolean>): Promise<string[]> {
    const removed: string[] = [];
    for (const sha256 of new Set(candidates)) {
      const path = this.path(sha256);
      const epoch = this.#holdEpoch;
      if (this.#holds.has(sha256) || (await isReferenced(sha256))) continue;
      // Checked and removed in one synchronous step: no upload can slip in between.
      if (this.#holdEpoch !== epoch || this.#holds.has(sha256)) continue;
      try {
        unlinkSync(path);
        removed.push(sha256);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return removed;
  }

  /** Every blob in the store (for a full collection, or tests). */
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.#shaDir)).filter((n) => SHA256_HEX.test(n)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Temporary files left by uploads (a crash mid-upload); removes those older than `olderThanMs`. Returns how many it removed. */
  async removeStaleTemporaries(olderThanMs: number): Promise<number> {
    let names: string[];
    try {
      names = (await readdir(this.#shaDir)).filter((n) => n.startsWith(TEMP_PREFIX));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    let removed = 0;
    for (const name of names) {
      const path = join(this.#shaDir, name);
      const s = await stat(path).catch(() => undefined);
      if (s && Date.now() - s.mtimeMs > olderThanMs) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** Names of temporary files now present (tests: an aborted upload leaves none). */
  async temporaries(): Promise<string[]> {
    try {
      return (await readdir(this.#shaDir)).filter((n) => n.startsWith(TEMP_PREFIX));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  #hold(sha256: string): void {
    this.#holdEpoch++;
    this.#holds.set(sha256, (this.#holds.get(sha256) ?? 0) + 1);
  }

  #release(sha256: string): void {
    const n = (this.#holds.get(sha256) ?? 1) - 1;
    if (n > 0) this.#holds.set(sha256, n);
    else this.#holds.delete(sha256);
  }
}

function isReadable(source: Readable | AsyncIterable<Uint8Array>): source is Readable {
  return typeof (source as Readable).iterator === 'function' && typeof (source as Readable).on === 'function';
}

async function writeAll(file: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/** Makes a rename durable: fsync the directory holding it. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
