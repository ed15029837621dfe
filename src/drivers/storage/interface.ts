/**
 * Where disk images and disks live (docs/images.md "Backends"): a golden
 * image is an immutable base, a disk a writable copy-on-write clone of one,
 * a snapshot freezes a disk's current content as a new base. Backends are
 * named by keys HIL makes from ids and its instance prefix (never from names
 * users chose), so two HILs can share one directory or pool.
 *
 * Every operation is idempotent: repeated after a crash, or on a key that is
 * half-made or already gone, it ends in the state asked for.
 */
export type DiskFormat = 'qcow2' | 'raw';

/** How QEMU (qemu-storage-daemon, qemu-io) opens a volume: a blockdev description, JSON-able. */
export type BlockdevOptions = { driver: string } & Record<string, unknown>;

/** What a snapshot left depending on what. */
export interface SnapshotOutcome {
  /** The disk now sits on top of the new image (local: its old overlay became the image), so the image cannot go before the disk does. */
  diskOnImage: boolean;
  /** The new image still depends on the disk's storage until `separate` ran (RBD: a clone of a snapshot of the disk, until flattened). */
  imageOnDisk: boolean;
}

/** A disk that an export holds open: a snapshot then goes through the process serving it (local qcow2: a live overlay swap over QMP). */
export interface LiveDisk {
  /** Makes the qcow2 file at `overlayPath` (already created, its backing file named) the disk's new top layer, the current top becoming its backing. */
  pushOverlay(overlayPath: string, signal: AbortSignal): Promise<void>;
  /** Stops serving the disk at once: after a push whose outcome is unknown, nothing may write the old top any more. */
  stop(): Promise<void>;
}

export interface StorageBackend {
  /** The name in `[images] backend`. */
  readonly type: string;
  /** Checks the backend is reachable and usable (at start, and for /readyz); throws with what is wrong. */
  check(signal: AbortSignal): Promise<void>;
  /**
   * Makes the file at `source.path` (checked already: its format is
   * `source.format`, it names no backing file) the golden base `imageKey`,
   * ready to clone. May take time in the file's size (RBD copies it in).
   */
  importImage(imageKey: string, source: { path: string; format: DiskFormat }, signal: AbortSignal): Promise<void>;
  /** A writable clone of the base `imageKey` named `diskKey`: O(1) in the image's size. */
  cloneDisk(imageKey: string, diskKey: string, signal: AbortSignal): Promise<void>;
  /**
   * Freezes the disk's current content as the new base `imageKey`, which
   * `cloneDisk` can use at once; the disk keeps its content and stays
   * writable. O(1): no copy. `live` when an export has the disk open.
   */
  snapshotDisk(diskKey: string, imageKey: string, o: { live?: LiveDisk; signal: AbortSignal }): Promise<SnapshotOutcome>;
  /**
   * Only where snapshotDisk answers imageOnDisk: makes `imageKey` independent
   * of `diskKey` (RBD: flatten, then drop the disk's snapshot); reports the
   * fraction done as it goes. Runs in the background.
   */
  separate?(imageKey: string, diskKey: string, o: { progress: (fraction: number) => void; signal: AbortSignal }): Promise<void>;
  deleteDisk(diskKey: string, signal: AbortSignal): Promise<void>;
  deleteImage(imageKey: string, signal: AbortSignal): Promise<void>;
  /** The keys starting with `prefix` that the backend holds (orphan sweeps; tests check nothing is left behind). */
  list(prefix: string, signal: AbortSignal): Promise<{ images: string[]; disks: string[] }>;
  /** How an export opens the disk, read-write. */
  diskBlockdev(diskKey: string): Promise<BlockdevOptions>;
  /** How to open an image's base, read-only (tests and tools read golden content through it). */
  imageBlockdev(imageKey: string): Promise<BlockdevOptions>;
}
