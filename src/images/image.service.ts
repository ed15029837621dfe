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
import type { ReadStream } from 'node:fs';
import { sql, type Updateable } from 'kysely';
import { AuthorizationError, BadArgumentError, BlockedError, NotFoundError, ServerError, TooLargeError } from '../errors.ts';
import { inTx, type CoreDeps, type Tx } from '../core/context.ts';
import { getProject, insertUnique } from '../core/lookup.ts';
import { requireProjectAccess, type Principal } from '../core/principal.ts';
import { dialectOf, isForeignKeyViolation } from '../store/db.ts';
import type { ImageRow, ImageTable } from '../store/schema.ts';
import { BlobTooLargeError, type BlobStore, type StoredBlob } from './blob-store.ts';

export const IMAGE_PARTS = ['kernel', 'initrd', 'rootfs'] as const;
export type ImagePart = (typeof IMAGE_PARTS)[number];

/** The owner name of admin-owned images, as for networks. */
export const ADMIN_OWNER = 'admin';
export const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const MAX_CMDLINE = 4096;

export interface PartView {
  sha256: string;
  /** Bytes. */
  size: number;
}

export interface ImageView {
  name: string;
  /** The owner project, or "admin". */
  project: string;
  public: boolean;
  cmdline: string;
  kernel: PartView | null;
  initrd: PartView | null;
  rootfs: PartView | null;
}

/** What a deploy needs of an image (for src/provisioning). */
export interface DeployableImage {
  id: number;
  name: string;
  cmdline: string;
  kernel: PartView;
  initrd: PartView | null;
  rootfs: PartView | null;
}

export interface CreateImage {
  /** A project of the caller's, or "admin" / absent for an admin-owned image (admins only). */
  project?: string;
  /** Visible to everyone (admins only). */
  public?: boolean;
  cmdline?: string;
}

export interface Download extends PartView {
  stream: ReadStream;
}

const notFound = (name: string) => new NotFoundError(`Image "${name}" does not exist.`);
const inUse = (name: string) => new BlockedError(`Image "${name}" is in use.`);

function columns(part: ImagePart) {
  return { sha256: `${part}_sha256`, size: `${part}_size` } as const;
}

function partOf(row: ImageRow, part: ImagePart): PartView | null {
  const c = columns(part);
  const sha256 = row[c.sha256];
  return sha256 === null ? null : { sha256, size: Number(row[c.size]) };
}

function hashesOf(row: ImageRow): string[] {
  return IMAGE_PARTS.map((p) => row[columns(p).sha256]).filter((h): h is string => h !== null);
}

export function checkPart(part: string): ImagePart {
  if (!(IMAGE_PARTS as readonly string[]).includes(part)) throw new BadArgumentError(`Unknown image part "${part}": use kernel, initrd or rootfs.`);
  return part as ImagePart;
}

export function checkName(name: string): void {
  if (!IMAGE_NAME.test(name)) {
    throw new BadArgumentError(`Invalid image name "${name}": use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit.`);
  }
}

export function checkCmdline(cmdline: string): void {
  if (cmdline.length > MAX_CMDLINE) throw new BadArgumentError(`cmdline is ${cmdline.length} characters long; at most ${MAX_CMDLINE} are allowed.`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(cmdline)) throw new BadArgumentError('cmdline must be one line of printable text: no newlines or other control characters.');
}

function canSee(p: Principal, row: Pick<ImageRow, 'project_id' | 'public'>): boolean {
  return p.isAdmin || Boolean(row.public) || (row.project_id !== null && p.projectIds.has(row.project_id));
}

/** The image if the caller may see it; otherwise it does not exist. */
async function visibleImage(tx: Tx, p: Principal, name: string): Promise<ImageRow> {
  const row = await tx.selectFrom('image').selectAll().where('label', '=', name).executeTakeFirst();
  if (!row || !canSee(p, row)) throw notFound(name);
  return row;
}

/** The image if the caller may change it: visible (else 404) and the caller's project's or an admin (else 401). */
async function modifiableImage(tx: Tx, p: Principal, name: string): Promise<ImageRow> {
  const row = await visibleImage(tx, p, name);
  requireProjectAccess(p, row.project_id);
  return row;
}

/**
 * Whether any row elsewhere references the image: deleting it would break a
 * foreign key. Tried, and undone, inside a savepoint, so every table that
 * will ever reference image.id counts without this code knowing it.
 */
export async function isImageInUse(tx: Tx, imageId: number): Promise<boolean> {
  await sql`savepoint image_in_use`.execute(tx);
  try {
    await tx.deleteFrom('image').where('id', '=', imageId).execute();
    return false;
  } catch (err) {
    if (isForeignKeyViolation(err)) return true;
    throw err;
  } finally {
    await sql`rollback to savepoint image_in_use`.execute(tx);
    await sql`release savepoint image_in_use`.execute(tx);
  }
}

/**
 * The image `name` as the project `projectId` may deploy it: its own or a
 * public one (null: an admin's deploy, any image). NotFoundError when it may
 * not see it, BadArgumentError when it has no kernel yet. On PostgreSQL the
 * row stays share-locked until `tx` ends, so it cannot change under a deploy
 * that is being recorded.
 */
export async function findDeployable(tx: Tx, projectId: number | null, name: string): Promise<DeployableImage> {
  let q = tx.selectFrom('image').selectAll().where('label', '=', name);
  if (dialectOf(tx) === 'postgres') q = q.forShare();
  const row = await q.executeTakeFirst();
  if (!row || !(projectId === null || row.project_id === projectId || Boolean(row.public))) throw notFound(name);
  const kernel = partOf(row, 'kernel');
  if (!kernel) throw new BadArgumentError(`Image "${name}" has no kernel yet: upload one first (hil image upload ${name} --kernel FILE).`);
  return { id: row.id, name: row.label, cmdline: row.cmdline, kernel, initrd: partOf(row, 'initrd'), rootfs: partOf(row, 'rootfs') };
}

export function imageService(deps: CoreDeps, store: BlobStore) {
  const { db } = deps;

  const blobs = () => store;

  async function isReferenced(sha256: string): Promise<boolean> {
    const row = await db
      .selectFrom('image')
      .select('id')
      .where((eb) => eb.or(IMAGE_PARTS.map((p) => eb(columns(p).sha256, '=', sha256))))
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Removes the blobs no image names any more; a failure is logged, never the caller's problem. */
  async function collectGarbage(candidates: string[]): Promise<void> {
    if (!candidates.length) return;
    try {
      const removed = await store.collect(candidates, isReferenced);
      if (removed.length) deps.log.info({ removed }, 'image blobs collected');
    } catch (err) {
      deps.log.warn({ err: (err as Error).message, candidates }, 'could not collect image blobs');
    }
  }

  function tooLarge(part: ImagePart, limitBytes: number): TooLargeError {
    return new TooLargeError(`The ${part} is larger than the limit of ${limitBytes / (1024 * 1024)} MiB (images.max_file_mib).`);
  }

  return {
    async create(p: Principal, name: string, o: CreateImage = {}): Promise<void> {
      checkName(name);
      const cmdline = o.cmdline ?? '';
      checkCmdline(cmdline);
      await inTx(deps, async (tx) => {
        let projectId: number | null = null;
        if (o.project === undefined || o.project === ADMIN_OWNER) {
          if (!p.isAdmin) throw new AuthorizationError('Only administrators may create admin-owned images; give "project": one of your projects.');
        } else {
          const project = await getProject(tx, o.project);
          requireProjectAccess(p, project.id);
          projectId = project.id;
        }
        if (o.public && !p.isAdmin) throw new AuthorizationError('Only administrators may make an image public.');
        await insertUnique(
          tx.insertInto('image').values({ label: name, project_id: projectId, public: o.public ?? false, cmdline, created_at: Date.now() }).execute(),
          `Image "${name}" already exists.`,
        );
      });
    },

    /**
     * Stores `body` as the image's `part`, replacing what was there (unless
     * the image is in use). `declaredBytes` (Content-Length) lets an
     * oversized upload be refused before a byte is read.
     */
    async upload(p: Principal, name: string, partName: string, body: Readable, declaredBytes?: number): Promise<PartView> {
      const part = checkPart(partName);
      const store = blobs();
      await inTx(deps, async (tx) => {
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
        replaced = await inTx(deps, async (tx) => {
          const row = await modifiableImage(tx, p, name);
          // The update first: on PostgreSQL it waits for a deploy that share-locked the row, whose reference the check then sees.
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
        if (!committed) await collectGarbage([stored.sha256]);
        else if (replaced !== null && replaced !== stored.sha256) await collectGarbage([replaced]);
      }
      return { sha256: stored.sha256, size: stored.size };
    },

    async show(p: Principal, name: string): Promise<ImageView> {
      const row = await visibleImage(db, p, name);
      const project = row.project_id === null ? ADMIN_OWNER : (await db.selectFrom('project').select('label').where('id', '=', row.project_id).executeTakeFirstOrThrow()).label;
      return {
        name: row.label,
        project,
        public: Boolean(row.public),
        cmdline: row.cmdline,
        kernel: partOf(row, 'kernel'),
        initrd: partOf(row, 'initrd'),
        rootfs: partOf(row, 'rootfs'),
      };
    },

    /** Names of the images the caller can see, sorted. */
    async list(p: Principal): Promise<string[]> {
      const rows = await db.selectFrom('image').select(['label', 'project_id', 'public']).orderBy('label').execute();
      return rows.filter((r) => canSee(p, r)).map((r) => r.label);
    },

    /** Opens a part for reading. */
    async download(p: Principal, name: string, partName: string): Promise<Download> {
      const part = checkPart(partName);
      const store = blobs();
      const row = await visibleImage(db, p, name);
      const view = partOf(row, part);
      if (!view) throw new NotFoundError(`Image "${name}" has no ${part}.`);
      try {
        return { ...view, stream: await store.open(view.sha256) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        deps.log.error({ image: name, part, sha256: view.sha256, dir: store.dir }, 'an image file is missing from the blob store');
        throw new ServerError(`The ${part} of image "${name}" is missing from the image store.`);
      }
    },

    async delete(p: Principal, name: string): Promise<void> {
      const row = await inTx(deps, async (tx) => {
        const row = await modifiableImage(tx, p, name);
        try {
          await tx.deleteFrom('image').where('id', '=', row.id).execute();
        } catch (err) {
          if (isForeignKeyViolation(err)) throw inUse(name);
          throw err;
        }
        return row;
      });
      await collectGarbage(hashesOf(row));
    },
  };
}

export type ImageService = ReturnType<typeof imageService>;
