/**
 * Snapshots being made independent of the disks they were taken of, in the
 * background (RBD: a flatten that takes time in the image's size), each
 * under the disk's claim, its progress written to the image row. Losing the
 * claim or stopping cuts a separation short; the next holder starts it
 * again (the backend's separate is idempotent).
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { heldBy, type Claim } from '../claims/claims.ts';
import type { DiskStorage } from '../images/disk-storage.ts';
import type { Database, DiskRow, ImageRow } from '../store/schema.ts';

/** A separation's progress is written at most this often. */
const PROGRESS_EVERY_MS = 1000;

export interface SeparationsOptions {
  db: Kysely<Database>;
  storage: DiskStorage;
  log: Logger;
  /** Told when one ended (its disk's claim may be let go). */
  done(): void;
}

export class Separations {
  readonly #o: SeparationsOptions;
  /** By image id: the disk, the work and how to cut it short. */
  readonly #running = new Map<number, { diskId: number; work: Promise<void>; abort: AbortController }>();

  constructor(o: SeparationsOptions) {
    this.#o = o;
  }

  /** Whether a separation from this disk runs here (its claim is still needed). */
  busyWith(diskId: number): boolean {
    return [...this.#running.values()].some((s) => s.diskId === diskId);
  }

  /** Starts separating `image` from `disk`, unless it runs already or the backend has nothing to separate. */
  start(disk: DiskRow, image: ImageRow, claim: Claim): void {
    const { storage, db, log } = this.#o;
    const separate = storage.backend.separate?.bind(storage.backend);
    if (!separate || image.storage_key === null || this.#running.has(image.id)) return;
    const key = image.storage_key;
    let lastWrite = 0;
    const progress = (fraction: number) => {
      if (Date.now() - lastWrite < PROGRESS_EVERY_MS && fraction < 1) return;
      lastWrite = Date.now();
      void db.updateTable('image').set({ progress: fraction }).where('id', '=', image.id).where(heldBy(claim)).execute().catch(() => {});
    };
    const abort = new AbortController();
    const work = (async () => {
      try {
        // No storage timeout: a flatten takes time in the image's size; losing the claim, or stopping, cuts it short.
        await separate(key, disk.storage_key, { progress, signal: AbortSignal.any([claim.signal, abort.signal]) });
        await db.updateTable('image').set({ source_disk_id: null, parent_id: null, progress: 1 }).where('id', '=', image.id).where(heldBy(claim)).execute();
        log.info({ disk: disk.label, image: image.label }, 'storage: snapshot separated from its disk');
      } catch (err) {
        if (!claim.signal.aborted && !abort.signal.aborted) log.warn({ disk: disk.label, image: image.label, err: (err as Error).message }, 'storage: separating a snapshot failed; it is tried again');
      } finally {
        this.#running.delete(image.id);
        this.#o.done();
      }
    })();
    this.#running.set(image.id, { diskId: disk.id, work, abort });
  }

  /** Cuts every separation short (the next holder starts it again) rather than holding a shutdown for its length. */
  async stop(): Promise<void> {
    for (const s of this.#running.values()) s.abort.abort();
    await Promise.allSettled([...this.#running.values()].map((s) => s.work));
  }
}
