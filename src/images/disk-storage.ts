/**
 * The storage backend as the image service, disks and exports use it: the
 * keys HIL names things by in the backend (its instance prefix and ids,
 * never a user's names), one timeout on every call, and failures as
 * StorageError: the backend's own words go to the log (they name server
 * paths and pools), the caller learns what failed.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { StorageError } from '../errors.ts';
import type { StorageBackend } from '../drivers/storage/interface.ts';
import type { Database } from '../store/schema.ts';
import { TimeoutError, withTimeout } from '../util/timeout.ts';

export class DiskStorage {
  readonly backend: StorageBackend;
  /** This installation's prefix in the backend (hil_instance.storage_prefix). */
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly #log: Logger;

  constructor(backend: StorageBackend, prefix: string, o: { timeoutMs: number; log: Logger }) {
    this.backend = backend;
    this.prefix = prefix;
    this.timeoutMs = o.timeoutMs;
    this.#log = o.log;
  }

  /** An uploaded image's base: its id and content (a new upload is a new key, so a replacement never half-overwrites the old). */
  imageKey(imageId: number, sha256?: string): string {
    return sha256 ? `${this.prefix}.img.${imageId}-${sha256.slice(0, 16)}` : `${this.prefix}.img.${imageId}`;
  }

  diskKey(diskId: number): string {
    return `${this.prefix}.disk.${diskId}`;
  }

  /**
   * Runs one backend operation within the storage timeout (plus `bytes` at
   * 8 MiB/s, for an operation that copies that much); its failure is a
   * StorageError saying what failed.
   */
  async run<T>(what: string, op: (signal: AbortSignal) => Promise<T>, o: { bytes?: number } = {}): Promise<T> {
    const timeoutMs = this.timeoutMs + Math.ceil(((o.bytes ?? 0) / (8 * 1024 * 1024)) * 1000);
    try {
      return await withTimeout(timeoutMs, `storage: ${what}`, op);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (err instanceof TimeoutError) {
        this.#log.error({ what, timeoutMs }, 'storage: an operation timed out');
        throw new StorageError(`Storage (${this.backend.type}) did not ${what} within ${timeoutMs} ms.`);
      }
      this.#log.error({ what, err: (err as Error).message }, 'storage: an operation failed');
      throw new StorageError(`Storage (${this.backend.type}) could not ${what}; the server log says why.`);
    }
  }
}

/** This installation's storage prefix, made by migration 0007. */
export async function storagePrefix(db: Kysely<Database>): Promise<string> {
  const row = await db.selectFrom('hil_instance').select('value').where('key', '=', 'storage_prefix').executeTakeFirstOrThrow();
  return row.value;
}
