/**
 * The image service (docs/images.md): kexec images (kernel, initrd, rootfs,
 * command line) and disk images (a qcow2 or raw file, and its base in the
 * storage backend), owned by a project or the admins, private or public.
 * Files live in the blob store, named by SHA-256; rows name them. A caller
 * sees its projects' images and the public ones (admins: all), anything else
 * is a 404; only the owners and admins change them (else 401). An image that
 * another row references (a deployed node, a disk, a snapshot) is "in use":
 * neither deleted nor changed (409).
 */
import type { Readable } from 'node:stream';
import type { Updateable } from 'kysely';
import { AuthorizationError, BadArgumentError, BlockedError, NotFoundError, ServerError } from '../errors.ts';
import { inTx, type CoreDeps } from '../core/context.ts';
import { getProject, insertUnique, labelOf } from '../core/lookup.ts';
import { requireAdmin, requireProjectAccess, type Principal } from '../core/principal.ts';
import { isForeignKeyViolation } from '../store/db.ts';
import type { ImageTable } from '../store/schema.ts';
import {
  ADMIN_OWNER,
  canSee,
  checkCmdline,
  checkFormat,
  checkName,
  checkPart,
  columns,
  checkPartFits,
  openServerFile,
  hashesOf,
  tooLarge,
  IMAGE_PARTS,
  inUse,
  inUseBy,
  isDiskFormat,
  isImageInUse,
  modifiableImage,
  partOf,
  visibleImage,
  type CreateImage,
  type Download,
  type ImageView,
  type PartView,
} from './image-rules.ts';
import { BlobTooLargeError, type BlobStore, type StoredBlob } from './blob-store.ts';
import { Service } from '../core/service.ts';
import type { DiskStorage } from './disk-storage.ts';
import { BadDiskImageError, inspectDiskFile } from '../drivers/storage/qemu-img.ts';

export interface ImageServiceOptions {
  blobs: BlobStore;
  storage: DiskStorage;
  /** The largest disk image an upload may store. */
  maxDiskBytes: number;
  /** The largest size a disk image may have as a node sees it (a small qcow2 may claim an exabyte). */
  maxVirtualBytes: number;
}

export class ImageService extends Service {
  readonly #blobs: BlobStore;
  readonly #storage: DiskStorage;
  readonly #maxDiskBytes: number;
  readonly #maxVirtualBytes: number;

  constructor(deps: CoreDeps, o: ImageServiceOptions) {
    super(deps);
    this.#blobs = o.blobs;
    this.#storage = o.storage;
    this.#maxDiskBytes = o.maxDiskBytes;
    this.#maxVirtualBytes = o.maxVirtualBytes;
  }

  async #isReferenced(sha256: string): Promise<boolean> {
    const row = await this.deps.db
      .selectFrom('image')
      .select('id')
      .where((eb) => eb.or(IMAGE_PARTS.map((p) => eb(columns(p).sha256, '=', sha256))))
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Removes the blobs no image names any more; a failure is logged, never the caller's problem. */
  async #collectGarbage(candidates: string[]): Promise<void> {
    if (!candidates.length) return;
    try {
      const removed = await this.#blobs.collect(candidates, (sha) => this.#isReferenced(sha));
      if (removed.length) this.deps.log.info({ removed }, 'image blobs collected');
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message, candidates }, 'could not collect image blobs');
    }
  }

  async create(p: Principal, name: string, o: CreateImage = {}): Promise<void> {
    checkName(name);
    const cmdline = o.cmdline ?? '';
    checkCmdline(cmdline);
    const format = checkFormat(o.format ?? 'kexec');
    await inTx(this.deps, async (tx) => {
      let projectId: number | null = null;
      if (o.project === undefined || o.project === ADMIN_OWNER) {
        if (!p.isAdmin) throw new AuthorizationError('Only administrators may create admin-owned images; give "project": one of your projects.');
      } else {
        // Share-locked: a delete of the project waits, then sees this image.
        const project = await getProject(tx, o.project, 'share');
        requireProjectAccess(p, project.id);
        projectId = project.id;
      }
      if (o.public && !p.isAdmin) throw new AuthorizationError('Only administrators may make an image public.');
      await insertUnique(
        tx.insertInto('image').values({ label: name, project_id: projectId, public: o.public ?? false, cmdline, format, created_at: Date.now() }).execute(),
        `Image "${name}" already exists.`,
      );
    });
  }

  /**
   * Stores `body` as the image's `part`, replacing what was there (unless
   * the image is in use). `declaredBytes` (Content-Length) lets an
   * oversized upload be refused before a byte is read.
   */
  async upload(p: Principal, name: string, partName: string, body: Readable, declaredBytes?: number): Promise<PartView> {
    const part = checkPart(partName);
    const store = this.#blobs;
    const limit = part === 'disk' ? this.#maxDiskBytes : store.maxFileBytes;
    await inTx(this.deps, async (tx) => {
      const row = await modifiableImage(tx, p, name);
      checkPartFits(row, part);
      if (await isImageInUse(tx, row.id)) throw await inUseBy(tx, row.id, name);
    });
    if (declaredBytes !== undefined && declaredBytes > limit) throw tooLarge(part, limit);
    let stored: StoredBlob;
    try {
      stored = await store.put(body, limit);
    } catch (err) {
      if (err instanceof BlobTooLargeError) throw tooLarge(part, err.limitBytes);
      throw err;
    }
    if (part === 'disk') return this.#recordDisk(p, name, stored);
    const c = columns(part);
    let replaced: string | null = null;
    let committed = false;
    try {
      // Checked again: the upload took a while, and the image may have been deleted or put to use meanwhile.
      replaced = await inTx(this.deps, async (tx) => {
        const row = await modifiableImage(tx, p, name);
        // modifiableImage locked the row: on PostgreSQL it waited for a deploy that share-locked it, whose reference the check below sees.
        await tx
          .updateTable('image')
          .set({ [c.sha256]: stored.sha256, [c.size]: stored.size } as Updateable<ImageTable>)
          .where('id', '=', row.id)
          .execute();
        if (await isImageInUse(tx, row.id)) throw await inUseBy(tx, row.id, name);
        return row[c.sha256];
      });
      committed = true;
    } finally {
      stored.release();
      if (!committed) await this.#collectGarbage([stored.sha256]);
      else if (replaced !== null && replaced !== stored.sha256) await this.#collectGarbage([replaced]);
    }
    return { sha256: stored.sha256, size: stored.size };
  }

  async show(p: Principal, name: string): Promise<ImageView> {
    const db = this.deps.db;
    const row = await visibleImage(db, p, name);
    return {
      name: row.label,
      project: (await labelOf(db, 'project', row.project_id)) ?? ADMIN_OWNER,
      public: Boolean(row.public),
      cmdline: row.cmdline,
      format: row.format,
      kernel: partOf(row, 'kernel'),
      initrd: partOf(row, 'initrd'),
      rootfs: partOf(row, 'rootfs'),
      disk: partOf(row, 'disk'),
      virtual_size: row.virtual_size === null ? null : Number(row.virtual_size),
      state: row.state,
      error: row.error,
      parent: await labelOf(db, 'image', row.parent_id),
      snapshot_of: await labelOf(db, 'disk', row.source_disk_id),
      progress: row.progress === null ? null : Number(row.progress),
    };
  }

  /** Names of the images the caller can see, sorted. */
  async list(p: Principal): Promise<string[]> {
    const rows = await this.deps.db.selectFrom('image').select(['label', 'project_id', 'public']).orderBy('label').execute();
    return rows.filter((r) => canSee(p, r)).map((r) => r.label);
  }

  /** Opens a part for reading. */
  async download(p: Principal, name: string, partName: string): Promise<Download> {
    const part = checkPart(partName);
    const store = this.#blobs;
    const row = await visibleImage(this.deps.db, p, name);
    const view = partOf(row, part);
    if (!view) throw new NotFoundError(`Image "${name}" has no ${part}.`);
    try {
      return { ...view, stream: await store.open(view.sha256) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.deps.log.error({ image: name, part, sha256: view.sha256, dir: store.dir }, 'an image file is missing from the blob store');
      throw new ServerError(`The ${part} of image "${name}" is missing from the image store.`);
    }
  }

  async delete(p: Principal, name: string): Promise<void> {
    const row = await inTx(this.deps, async (tx) => {
      const row = await modifiableImage(tx, p, name);
      if (row.state === 'pending') throw new BlockedError(`Image "${name}" is a snapshot still being taken; delete it once it is ready.`);
      if (await isImageInUse(tx, row.id)) throw await inUseBy(tx, row.id, name);
      try {
        await tx.deleteFrom('image').where('id', '=', row.id).execute();
      } catch (err) {
        if (isForeignKeyViolation(err)) throw inUse(name); // a dependent committed since the check
        throw err;
      }
      return row;
    });
    if (row.storage_key) await this.#dropBase(row.storage_key);
    await this.#collectGarbage(hashesOf(row));
  }

  async #baseNamed(key: string): Promise<boolean> {
    return (await this.deps.db.selectFrom('image').select('id').where('storage_key', '=', key).executeTakeFirst()) !== undefined;
  }

  /** Removes a base nothing names any more; a failure is logged (the orphan sweep retries it), never the caller's problem. */
  async #dropBase(key: string): Promise<void> {
    try {
      await this.#storage.run('delete an image base', (signal) => this.#storage.backend.deleteImage(key, signal));
    } catch (err) {
      this.deps.log.warn({ key, err: (err as Error).message }, 'storage: could not delete an image base; the orphan sweep will');
    }
  }

  /**
   * The blob just stored becomes the image's disk: checked with qemu-img
   * (the format it claims, consistent, no backing or data file), made a
   * base in the storage backend, then recorded. Whatever fails leaves
   * neither a base nor a blob behind.
   */
  async #recordDisk(p: Principal, name: string, stored: StoredBlob): Promise<PartView> {
    let key: string | undefined;
    let committed = false;
    let replaced: { sha256: string | null; key: string | null } | undefined;
    try {
      const row = await visibleImage(this.deps.db, p, name);
      const format = row.format;
      if (!isDiskFormat(format)) throw new ServerError('not a disk image'); // checked before the upload
      let virtualSize: number;
      try {
        virtualSize = (await inspectDiskFile(this.#blobs.path(stored.sha256), format, { timeoutMs: this.#storage.timeoutMs })).virtualSize;
      } catch (err) {
        if (err instanceof BadDiskImageError) throw new BadArgumentError(`The disk is ${err.message}.`);
        throw err;
      }
      if (virtualSize > this.#maxVirtualBytes) throw new BadArgumentError(`The disk is ${virtualSize} bytes as a node sees it, over the limit of ${this.#maxVirtualBytes / 2 ** 30} GiB (images.max_virtual_gib).`);
      key = this.#storage.imageKey(row.id, stored.sha256);
      const base = key;
      const imageId = row.id;
      const source = { path: this.#blobs.path(stored.sha256), format };
      await this.#storage.run('import the disk image', (signal) => this.#storage.backend.importImage(base, source, signal), { bytes: stored.size });
      replaced = await inTx(this.deps, async (tx) => {
        const row = await modifiableImage(tx, p, name);
        // Deleted and made again meanwhile: the base is named after the id that is gone.
        if (row.id !== imageId) throw new BlockedError(`Image "${name}" was deleted and made again during the upload; upload again.`);
        await tx.updateTable('image').set({ disk_sha256: stored.sha256, disk_size: stored.size, virtual_size: virtualSize, storage_key: base }).where('id', '=', row.id).execute();
        if (await isImageInUse(tx, row.id)) throw await inUseBy(tx, row.id, name);
        return { sha256: row.disk_sha256, key: row.storage_key };
      });
      committed = true;
    } finally {
      stored.release();
      if (!committed) {
        // Not a base that an image names: the same content uploaded before (or at once) is that image's base still.
        if (key && !(await this.#baseNamed(key))) await this.#dropBase(key);
        await this.#collectGarbage([stored.sha256]);
      }
    }
    if (replaced.key && replaced.key !== key) await this.#dropBase(replaced.key);
    if (replaced.sha256 && replaced.sha256 !== stored.sha256) await this.#collectGarbage([replaced.sha256]);
    return { sha256: stored.sha256, size: stored.size };
  }

  /** Admins: a disk image file the server can read (a path on it) becomes the image's disk, as if uploaded. */
  async importDisk(p: Principal, name: string, path: string): Promise<PartView> {
    requireAdmin(p);
    const file = await openServerFile(path);
    try {
      return await this.upload(p, name, 'disk', file);
    } finally {
      file.destroy();
    }
  }
}

export const imageService = (deps: CoreDeps, o: ImageServiceOptions) => new ImageService(deps, o);

