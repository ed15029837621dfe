/**
 * What HIL asks of `qemu-img`: to say what a file really is before it
 * becomes a golden image, and to make qcow2 overlays. A disk image is
 * accepted only when it is the format it claims, consistent, and
 * self-contained: a qcow2 that names a backing file or an external data file
 * would let its uploader read any file the server can.
 */
import { open } from 'node:fs/promises';
import { runTool, ToolError } from '../../util/run-tool.ts';
import type { DiskFormat } from './interface.ts';

export const QEMU_IMG = 'qemu-img';

/** A file that is not the disk image it was said to be; the message says why. */
export class BadDiskImageError extends Error {}

export interface DiskFileInfo {
  format: DiskFormat;
  /** What a node sees, in bytes. */
  virtualSize: number;
}

interface QemuImgInfo {
  format?: string;
  'virtual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'format-specific'?: { type?: string; data?: { 'data-file'?: string; corrupt?: boolean } };
}

/** Checks a file before it becomes a golden image; BadDiskImageError says what is wrong. */
export async function inspectDiskFile(path: string, claimed: DiskFormat, o: { signal?: AbortSignal; timeoutMs: number }): Promise<DiskFileInfo> {
  let info: QemuImgInfo;
  try {
    // -U: another reader may have the file open; nothing here writes it.
    info = JSON.parse(await runTool(QEMU_IMG, ['info', '-U', '--output=json', '-f', claimed, path], o)) as QemuImgInfo;
  } catch (err) {
    if (err instanceof ToolError && err.exit !== 'ENOENT' && err.exit !== 'timeout') throw new BadDiskImageError(`not a readable ${claimed} image (${stripPath(err.detail, path)})`);
    throw err;
  }
  if (info['backing-filename'] || info['full-backing-filename']) throw new BadDiskImageError('it names a backing file; upload a self-contained image (qemu-img convert -O qcow2 IN OUT)');
  if (info['format-specific']?.data?.['data-file']) throw new BadDiskImageError('it names an external data file; upload a self-contained image');
  if (info['format-specific']?.data?.corrupt) throw new BadDiskImageError('qemu-img marks it corrupt');
  if (claimed === 'raw') {
    // A raw upload that is really another format would give nodes that format's bytes, not its content: almost surely a mistake.
    const sniffed = await sniffFormat(path);
    if (sniffed === 'qcow2') throw new BadDiskImageError('it is a qcow2 image, not raw; give format "qcow2"');
    if (sniffed !== 'raw') throw new BadDiskImageError(`it is a ${sniffed} image, not raw; convert it first (qemu-img convert -O qcow2 IN OUT)`);
  } else {
    try {
      await runTool(QEMU_IMG, ['check', '-U', '-q', '-f', 'qcow2', path], o);
    } catch (err) {
      if (err instanceof ToolError && err.exit !== 'ENOENT' && err.exit !== 'timeout') throw new BadDiskImageError(`qemu-img check finds it inconsistent (${stripPath(err.detail, path)})`);
      throw err;
    }
  }
  const virtualSize = info['virtual-size'];
  if (typeof virtualSize !== 'number' || virtualSize <= 0) throw new BadDiskImageError('it has no size');
  return { format: claimed, virtualSize };
}

/**
 * Image formats by their first bytes. A "raw" upload is checked against
 * these by reading them here, never by letting qemu-img probe it: a probed
 * vmdk descriptor makes qemu-img open the extent files it names (any path
 * on the server).
 */
const MAGIC: Array<[string, Buffer]> = [
  ['qcow2', Buffer.from('QFI\xfb', 'latin1')],
  ['vmdk', Buffer.from('KDMV', 'latin1')],
  ['vmdk', Buffer.from('COWD', 'latin1')],
  ['vmdk', Buffer.from('# Disk DescriptorFile', 'latin1')],
  ['vhdx', Buffer.from('vhdxfile', 'latin1')],
  ['vpc', Buffer.from('conectix', 'latin1')],
  ['qed', Buffer.from('QED\x00', 'latin1')],
  ['vdi', Buffer.from('<<< ', 'latin1')],
  ['luks', Buffer.from('LUKS\xba\xbe', 'latin1')],
  ['parallels', Buffer.from('WithoutFreeSpace', 'latin1')],
  ['parallels', Buffer.from('WithouFreSpacExt', 'latin1')],
  ['bochs', Buffer.from('Bochs Virtual HD Image', 'latin1')],
];

/** The format a file's first bytes say it is, or raw. */
async function sniffFormat(path: string): Promise<string> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    const start = head.subarray(0, bytesRead);
    return MAGIC.find(([, magic]) => start.subarray(0, magic.length).equals(magic))?.[0] ?? 'raw';
  } finally {
    await file.close();
  }
}

/** Server paths stay out of what a tenant reads. */
function stripPath(detail: string, path: string): string {
  return detail.split(path).join('the file').replace(/^qemu-img: /, '');
}

/**
 * Creates a qcow2 overlay of `backing` at `path`. `size` given: the backing
 * file is not opened (it may be held for writing by an export until the
 * overlay takes its place).
 */
export async function createOverlay(path: string, backing: { path: string; format: DiskFormat }, o: { size?: number; signal?: AbortSignal; timeoutMs: number }): Promise<void> {
  const args = ['create', '-q', '-f', 'qcow2', '-F', backing.format, '-b', backing.path];
  if (o.size !== undefined) args.push('-u');
  args.push(path);
  if (o.size !== undefined) args.push(String(o.size));
  await runTool(QEMU_IMG, args, o);
}

/** The backing file qcow2 `path` names, if any. */
export async function backingOf(path: string, o: { signal?: AbortSignal; timeoutMs: number }): Promise<string | undefined> {
  const info = JSON.parse(await runTool(QEMU_IMG, ['info', '-U', '--output=json', '-f', 'qcow2', path], o)) as QemuImgInfo;
  return info['backing-filename'];
}

export async function virtualSizeOf(path: string, format: DiskFormat, o: { signal?: AbortSignal; timeoutMs: number }): Promise<number> {
  const info = JSON.parse(await runTool(QEMU_IMG, ['info', '-U', '--output=json', '-f', format, path], o)) as QemuImgInfo;
  return Number(info['virtual-size']);
}
