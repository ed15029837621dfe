/**
 * The image registry (docs/images.md): per image a kernel, an optional initrd
 * and root filesystem, and a kernel command line; owned by a project or by
 * the admins, private or public. Files live in the blob store, named by
 * SHA-256; rows name them.
 *
 * Who may do what: a caller sees its projects' images and the public ones
 * (admins see all), and anything else is answered as if it did not exist
 * (404). Only the owner project's members and admins change or delete an
 * image (others who can see it: 401). An image that another table still
 * references (a node deployed from it) is "in use": it can be neither
 * deleted nor changed (409).
 */
import type { Readable } from 'node:stream';
import type { Updateable } from 'kysely';
import { AuthorizationError, NotFoundError, ServerError, TooLargeError } from '../errors.ts';
import { inTx, type CoreDeps } from '../core/context.ts';
import { getProject, insertUnique } from '../core/lookup.ts';
import { requireProjectAccess, type Principal } from '../core/principal.ts';
import { isForeignKeyViolation } from '../store/db.ts';
import type { ImageTable } from '../store/schema.ts';
import {
  ADMIN_OWNER,
  canSee,
  checkCmdline,
  checkName,
  checkPart,
  columns,
  hashesOf,
  IMAGE_PARTS,
  inUse,
  isImageInUse,
  modifiableImage,
  partOf,
  visibleImage,
  type CreateImage,
  type Download,
  type ImagePart,
  type ImageView,
  type PartView,
} from './image-rules.ts';
import { BlobTooLargeError, type BlobStore, type StoredBlob } from './blob-store.ts';
import { Service } from '../core/service.ts';

function tooLarge(part: ImagePart, limitBytes: number): TooLargeError {
  return new TooLargeError(`The ${part} is larger than the limit of ${limitBytes / (1024 * 1024)} MiB (images.max_file_mib).`);
}

export class ImageService extends Service {
  readonly #blobs: BlobStore;

  constructor(deps: CoreDeps, blobs: BlobStore) {
    super(deps);
    this.#blobs = blobs;
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
        tx.insertInto('image').values({ label: name, project_id: projectId, public: o.public ?? false, cmdline, created_at: Date.now() }).execute(),
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
    await inTx(this.deps, async (tx) => {
      const row = await modifiableImage(tx, p, name);
      if (await isImageInUse(tx, row.id)) throw inUse(name);
    });
    if (declaredBytes !== undefined && declaredBytes > store.maxFileBytes) throw tooLarge(part, store.maxFileBytes);
    let stored: StoredBlob;
    try {
      stored = await store.put(body, store.maxFileBytes);
    } catch (err) {
      if (err instanceof BlobTooLargeError) throw tooLarge(part, err.limitBytes);
      throw err;
    }
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
        if (await isImageInUse(tx, row.id)) throw inUse(name);
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
    const row = await visibleImage(this.deps.db, p, name);
    const project = row.project_id === null ? ADMIN_OWNER : (await this.deps.db.selectFrom('project').select('label').where('id', '=', row.project_id).executeTakeFirstOrThrow()).label;
    return {
      name: row.label,
      project,
      public: Boolean(row.public),
      cmdline: row.cmdline,
      kernel: partOf(row, 'kernel'),
      initrd: partOf(row, 'initrd'),
      rootfs: partOf(row, 'rootfs'),
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
      try {
        await tx.deleteFrom('image').where('id', '=', row.id).execute();
      } catch (err) {
        if (isForeignKeyViolation(err)) throw inUse(name);
        throw err;
      }
      return row;
    });
    await this.#collectGarbage(hashesOf(row));
  }
}

export const imageService = (deps: CoreDeps, blobs: BlobStore) => new ImageService(deps, blobs);

