/** hil image …: the image registry (kernels, initrds, root filesystems and command lines to deploy). */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { HilApiError, type HilClient, type ImageFile, type ImagePart } from '../../client/index.ts';
import { CliError, type JsonOption } from '../context.ts';
import { define, defineChange, group } from '../define.ts';
import { printJson, printList, printTable, progress } from '../output.ts';

const PARTS: ImagePart[] = ['kernel', 'initrd', 'rootfs', 'disk'];
const FORMATS = ['qcow2', 'raw'] as const;

interface UploadOptions extends JsonOption {
  kernel?: string;
  initrd?: string;
  rootfs?: string;
  disk?: string;
  format?: string;
  cmdline?: string;
  project?: string;
  public?: boolean;
}

/** Passes bytes through, hashing them (and telling `onBytes`, if set, how many went by). */
class Hasher extends Transform {
  readonly hash = createHash('sha256');
  onBytes?: (n: number) => void;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.onBytes?.(chunk.length);
    done(null, chunk);
  }
}

export function imageCommands(program: Command, client: () => HilClient): void {
  const image = group(program, 'image', 'Images to deploy: kernel, initrd, root filesystem and command line', 'hil image upload debian --kernel vmlinuz --initrd initrd.img');

  define(image, 'list', "List the images you can see (your projects' and public ones; admins: all)", 'hil image list', async (o: JsonOption) => {
    const names = await client().image.list();
    o.json ? printJson(names) : printList(names);
  }).option('--json', 'print JSON');

  define(image, 'show <image>', 'Show an image: owner, visibility, command line and files', 'hil image show debian', async (name: string, o: JsonOption) => {
    const img = await client().image.show(name);
    if (o.json) return printJson(img);
    process.stdout.write(`image: ${img.name}\nproject: ${img.project}\npublic: ${img.public ? 'yes' : 'no'}\nformat: ${img.format}\ncmdline: ${img.cmdline}\n`);
    if (img.virtual_size !== null) process.stdout.write(`disk size: ${img.virtual_size} bytes\n`);
    if (img.state !== 'ready' || img.error) process.stdout.write(`state: ${img.state}${img.error ? `: ${img.error}` : ''}\n`);
    if (img.parent) process.stdout.write(`parent: ${img.parent}\n`);
    if (img.snapshot_of) process.stdout.write(`snapshot of: ${img.snapshot_of} (separated: ${Math.round((img.progress ?? 0) * 100)} %)\n`);
    printTable(
      ['part', 'sha256', 'bytes'],
      PARTS.filter((p) => p !== 'disk' || img.format !== 'kexec').map((p) => [p, img[p]?.sha256 ?? '(none)', img[p]?.size]),
    );
  }).option('--json', 'print JSON');

  defineChange(image, 'delete <image>', 'Delete an image no node uses', 'hil image delete debian', (name: string) => `Deleted image ${name}.`, (name: string) => client().image.delete(name));
  uploadCommand(image, client);

  define(
    image,
    'download <image> <kernel|initrd|rootfs|disk>',
    'Download a file of an image (kernel, initrd, rootfs or disk), checking its SHA-256',
    'hil image download debian kernel --out vmlinuz',
    async (name: string, part: string, o: { out?: string }) => {
      if (!o.out) throw new CliError('give --out FILE');
      const file = await client().image.download(name, part as ImagePart);
      const hasher = new Hasher();
      try {
        await pipeline(Readable.fromWeb(file.body as NodeReadableStream<Uint8Array>), hasher, createWriteStream(o.out, { mode: 0o644 }));
      } catch (err) {
        await rm(o.out, { force: true });
        throw err;
      }
      const got = hasher.hash.digest('hex');
      if (file.sha256 && got !== file.sha256) {
        await rm(o.out, { force: true });
        throw new CliError(`the download's SHA-256 is ${got}, not ${file.sha256} as the server says: try again`);
      }
      process.stdout.write(`${got}  ${o.out}\n`);
    },
  ).option('--out <file>', 'where to write it');
}

function uploadCommand(image: Command, client: () => HilClient): void {
  define(
    image,
    'upload <image>',
    'Upload files of an image, creating the image first if it does not exist (with --cmdline, --project, --public); prints the SHA-256 of each file',
    'hil image upload debian --kernel vmlinuz --initrd initrd.img --cmdline "console=ttyS0" --project runway',
    async (name: string, o: UploadOptions) => {
      const files = PARTS.filter((p) => o[p] !== undefined).map((p) => ({ part: p, path: o[p]! }));
      if (!files.length) throw new CliError('give at least one file: --kernel, --initrd, --rootfs or --disk');
      if (o.format !== undefined && !(FORMATS as readonly string[]).includes(o.format)) throw new CliError(`unknown --format "${o.format}": use qcow2 or raw`);
      if (o.format !== undefined && !o.disk) throw new CliError('--format is the format of --disk FILE: give both');
      // Every file must be readable before anything changes on the server.
      const sizes = await Promise.all(
        files.map(async (f) => {
          const s = await stat(f.path).catch((err: Error) => {
            throw new CliError(`cannot read ${f.path}: ${err.message}`);
          });
          if (!s.isFile()) throw new CliError(`${f.path} is not a file`);
          return s.size;
        }),
      );
      const c = client();
      await ensureImage(c, name, o);
      const out: Record<string, ImageFile> = {};
      for (const [i, f] of files.entries()) {
        if (!o.json) progress(`uploading ${f.path} as the ${f.part} of ${name} (${sizes[i]} bytes)`);
        const hasher = new Hasher();
        const source = createReadStream(f.path).pipe(hasher);
        if (!o.json) reportProgress(hasher, sizes[i]!);
        const stored = await c.image.upload(name, f.part, Readable.toWeb(source) as ReadableStream<Uint8Array>, { length: sizes[i] });
        const local = hasher.hash.digest('hex');
        if (stored.sha256 !== local) throw new CliError(`the server stored ${f.path} as ${stored.sha256}, but the file's SHA-256 is ${local}: upload it again`);
        out[f.part] = stored;
      }
      if (o.json) return printJson(out);
      printTable(['part', 'sha256', 'bytes'], Object.entries(out).map(([part, s]) => [part, s.sha256, s.size]));
    },
  )
    .option('--kernel <file>', 'the kernel')
    .option('--initrd <file>', 'the initial ramdisk')
    .option('--rootfs <file>', 'a root filesystem')
    .option('--disk <file>', 'a disk image (a new image becomes a disk image)')
    .option('--format <format>', 'the disk image\'s format: qcow2 (the default) or raw')
    .option('--cmdline <text>', 'the kernel command line (a new image only)')
    .option('--project <project>', 'the owner project of a new image (default: admin-owned, for admins)')
    .option('--public', 'a new image visible to every project (admins only)')
    .option('--json', 'print JSON');
}

/** Creates the image unless it exists; an existing image must not contradict the options given. */
async function ensureImage(c: HilClient, name: string, o: UploadOptions): Promise<void> {
  try {
    const img = await c.image.show(name);
    const clash = [
      o.disk && img.format === 'kexec' ? 'format kexec (no disk)' : '',
      o.format !== undefined && o.format !== img.format ? `format ${img.format}` : '',
      o.cmdline !== undefined && o.cmdline !== img.cmdline ? `cmdline "${img.cmdline}"` : '',
      o.project !== undefined && o.project !== img.project ? `project ${img.project}` : '',
      o.public && !img.public ? 'public: no' : '',
    ].filter(Boolean);
    if (clash.length) throw new CliError(`image ${name} exists with ${clash.join(', ')}; delete it first to change that`);
    return;
  } catch (err) {
    if (!(err instanceof HilApiError && err.status === 404)) throw err;
  }
  const format = o.disk ? ((o.format ?? 'qcow2') as (typeof FORMATS)[number]) : undefined;
  await c.image.create(name, { project: o.project, public: o.public, cmdline: o.cmdline, format });
  if (!o.json) progress(`created image ${name}${format ? ` (${format} disk image)` : ''}`);
}

/** Long uploads say how far they are, every 10 % (to stderr). */
function reportProgress(hasher: Hasher, total: number): void {
  if (total < 64 * 1024 * 1024) return;
  let sent = 0;
  let next = 0.1;
  hasher.onBytes = (n) => {
    sent += n;
    if (sent / total >= next) {
      progress(`  ${Math.floor((sent / total) * 100)} % (${sent} of ${total} bytes)`);
      next += 0.1;
    }
  };
}
