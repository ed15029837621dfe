/**
 * What an image is and who may see or change it (docs/images.md): names,
 * parts, command lines, visibility (a caller sees its projects' images and
 * the public ones; anything else is answered as if it did not exist), the
 * owner's rights, "in use", and which image a node may be deployed from.
 * Shared by the registry's use-cases and fast provisioning.
 */
import { sql } from 'kysely';
import { createReadStream, type ReadStream } from 'node:fs';
import { isAbsolute } from 'node:path';
import { BadArgumentError, BlockedError, NotFoundError, TooLargeError } from '../errors.ts';
import type { Tx } from '../core/context.ts';
import { held, type Lock } from '../core/lookup.ts';
import { requireProjectAccess, type Principal } from '../core/principal.ts';
import { dialectOf, isForeignKeyViolation } from '../store/db.ts';
import type { ImageRow } from '../store/schema.ts';

export const IMAGE_PARTS = ['kernel', 'initrd', 'rootfs', 'disk'] as const;
export type ImagePart = (typeof IMAGE_PARTS)[number];
export const IMAGE_FORMATS = ['kexec', 'qcow2', 'raw'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export const DISK_FORMATS = ['qcow2', 'raw'] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];

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
  format: ImageFormat;
  kernel: PartView | null;
  initrd: PartView | null;
  rootfs: PartView | null;
  /** An uploaded disk image's file (a snapshot has none: its content is in the storage backend). */
  disk: PartView | null;
  /** A disk image's size as a node sees it, in bytes. */
  virtual_size: number | null;
  /** pending: a snapshot not yet taken (error: why the last try failed). */
  state: 'pending' | 'ready';
  error: string | null;
  /** A snapshot: the image it sits on, while it does. */
  parent: string | null;
  /** A snapshot: the disk it was taken of, while it still depends on it. */
  snapshot_of: string | null;
  /** A snapshot's separation from its disk, 0 to 1 (null: nothing to separate). */
  progress: number | null;
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
  /** kexec (the default): kernel, initrd, rootfs; qcow2 or raw: a disk image. */
  format?: string;
}

export interface Download extends PartView {
  stream: ReadStream;
}

export const notFound = (name: string) => new NotFoundError(`Image "${name}" does not exist.`);
export const inUse = (name: string) => new BlockedError(`Image "${name}" is in use.`);

export function columns(part: ImagePart) {
  return { sha256: `${part}_sha256`, size: `${part}_size` } as const;
}

export function partOf(row: ImageRow, part: ImagePart): PartView | null {
  const c = columns(part);
  const sha256 = row[c.sha256];
  return sha256 === null ? null : { sha256, size: Number(row[c.size]) };
}

export function hashesOf(row: ImageRow): string[] {
  return IMAGE_PARTS.map((p) => row[columns(p).sha256]).filter((h): h is string => h !== null);
}

export function checkPart(part: string): ImagePart {
  if (!(IMAGE_PARTS as readonly string[]).includes(part)) throw new BadArgumentError(`Unknown image part "${part}": use kernel, initrd, rootfs or disk.`);
  return part as ImagePart;
}

export function checkFormat(format: string): ImageFormat {
  if (!(IMAGE_FORMATS as readonly string[]).includes(format)) throw new BadArgumentError(`Unknown image format "${format}": use kexec (kernel, initrd, rootfs), qcow2 or raw (a disk image).`);
  return format as ImageFormat;
}

export function isDiskFormat(format: string): format is DiskFormat {
  return (DISK_FORMATS as readonly string[]).includes(format);
}

/** Image and disk names (they appear in paths and command lines): `what` says which. */
export function checkName(name: string, what: 'image' | 'disk' = 'image'): void {
  if (!IMAGE_NAME.test(name)) {
    throw new BadArgumentError(`Invalid ${what} name "${name}": use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit.`);
  }
}

export function checkCmdline(cmdline: string): void {
  if (cmdline.length > MAX_CMDLINE) throw new BadArgumentError(`cmdline is ${cmdline.length} characters long; at most ${MAX_CMDLINE} are allowed.`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(cmdline)) throw new BadArgumentError('cmdline must be one line of printable text: no newlines or other control characters.');
}

export function canSee(p: Principal, row: Pick<ImageRow, 'project_id' | 'public'>): boolean {
  return p.isAdmin || Boolean(row.public) || (row.project_id !== null && p.projectIds.has(row.project_id));
}

/** The image if the caller may see it; otherwise it does not exist. */
export async function visibleImage(tx: Tx, p: Principal, name: string, lock?: Lock): Promise<ImageRow> {
  const row = await held(tx, tx.selectFrom('image').selectAll().where('label', '=', name), lock).executeTakeFirst();
  if (!row || !canSee(p, row)) throw notFound(name);
  return row;
}

/**
 * The image if the caller may change it: visible (else 404) and the caller's
 * project's or an admin (else 401). Locked until the transaction ends, so a
 * concurrent change or delete waits and then sees this one's outcome.
 */
export async function modifiableImage(tx: Tx, p: Principal, name: string): Promise<ImageRow> {
  const row = await visibleImage(tx, p, name, 'update');
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

/** The disks and snapshots whose storage needs the image (their names, sorted). */
async function dependentsOf(tx: Tx, imageId: number): Promise<{ disks: string[]; snapshots: string[] }> {
  const disks = await tx.selectFrom('disk').select('label').where('image_id', '=', imageId).orderBy('label').execute();
  const snapshots = await tx.selectFrom('image').select('label').where('parent_id', '=', imageId).orderBy('label').execute();
  return { disks: disks.map((d) => d.label), snapshots: snapshots.map((s) => s.label) };
}

/** "In use", saying by what: the disks and snapshots that need the image, or (none of those) a node deployed from it. */
export async function inUseBy(tx: Tx, imageId: number, name: string): Promise<BlockedError> {
  const d = await dependentsOf(tx, imageId);
  const parts = [d.disks.length ? `disks ${d.disks.join(', ')}` : '', d.snapshots.length ? `snapshots ${d.snapshots.join(', ')}` : ''].filter(Boolean);
  if (!parts.length) return inUse(name);
  return new BlockedError(`Image "${name}" is in use: ${parts.join(' and ')} depend on it; delete them first.`);
}

/** The parts an image of each format takes: a disk only into a disk image, and nothing into a snapshot. */
export function checkPartFits(row: ImageRow, part: ImagePart): void {
  if (row.state !== 'ready' || (row.storage_key !== null && row.disk_sha256 === null)) throw new BadArgumentError(`Image "${row.label}" is a snapshot: its content comes from a disk, not an upload.`);
  if (part === 'disk' && !isDiskFormat(row.format)) throw new BadArgumentError(`Image "${row.label}" is a ${row.format} image; a disk goes into a qcow2 or raw image (hil image upload NAME --disk FILE --format qcow2).`);
}

/** An upload over its limit, naming the setting that sets it. */
export function tooLarge(part: ImagePart, limitBytes: number): TooLargeError {
  const setting = part === 'disk' ? 'images.max_disk_mib' : 'images.max_file_mib';
  return new TooLargeError(`The ${part} is larger than the limit of ${limitBytes / (1024 * 1024)} MiB (${setting}).`);
}

/** A file of the server's for an admin's import, open for reading; a clear 400 when it is not an absolute path or cannot be read. */
export async function openServerFile(path: string): Promise<ReadStream> {
  if (!isAbsolute(path)) throw new BadArgumentError(`"${path}" is not an absolute path on the server.`);
  const file = createReadStream(path);
  const failed = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    file.once('open', () => resolve(undefined));
    file.once('error', (err) => resolve(err));
  });
  if (failed) throw new BadArgumentError(`The server cannot read "${path}": ${failed.code ?? failed.message}.`);
  return file;
}
