/**
 * The base headnode image: what a tenant's headnode VM boots.
 *
 *   <outDir>/<name>/vmlinuz      this host's newest kernel
 *   <outDir>/<name>/initrd.img   loads the virtio and ext4 drivers, mounts /dev/vda, switch_roots
 *   <outDir>/<name>/root.qcow2   the root filesystem (./root-filesystem.ts); the runner boots
 *                                an overlay of it, so host keys and logs stay per headnode
 *   <outDir>/<name>/image.json   {name, cmdline, built}
 *
 * The runner appends console=ttyS0 to `cmdline` and attaches the seed disk
 * (./seed.ts) as the second virtio disk. Everything comes from this Debian
 * host's packages (./host-tools.ts); nothing is downloaded. The image is
 * built in a directory beside its final place and renamed there, so a
 * reader finds the old image or the new one, never half of one (there is a
 * moment, replacing an image, when neither is there).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { newestKernel, writeOut } from '../../fpbl/build.ts';
import { headnodeInitramfs, helloInitramfs } from './guest-initramfs.ts';
import { requireHostTools } from './host-tools.ts';
import { HeadnodeImageError } from './image-error.ts';
import { buildRootDisk } from './root-filesystem.ts';

export { HeadnodeImageError } from './image-error.ts';

export interface HeadnodeImage {
  name: string;
  /** The image's directory. */
  dir: string;
  kernel: string;
  initrd: string;
  /** root.qcow2: boot an overlay of it, never the file itself. */
  disk: string;
  /** The kernel command line, without console= (the runner adds it). */
  cmdline: string;
}

/** What image.json holds. */
interface ImageManifest {
  name: string;
  cmdline: string;
  built: string;
}

export const DEFAULT_HEADNODE_IMAGE = 'base-headnode';

/** The headnode's kernel command line: its root is the first virtio disk, read-write; quiet keeps the console for the ready line. */
export const HEADNODE_CMDLINE = 'root=/dev/vda rw quiet';

const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function imageAt(dir: string, m: ImageManifest): HeadnodeImage {
  return { name: m.name, dir, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img'), disk: join(dir, 'root.qcow2'), cmdline: m.cmdline };
}

/** Puts the finished `built` directory at `final`, replacing an older image there. */
function moveIntoPlace(built: string, final: string): void {
  const old = `${final}.old-${process.pid}-${Date.now()}`;
  let replaced = false;
  try {
    renameSync(final, old);
    replaced = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  renameSync(built, final);
  if (replaced) rmSync(old, { recursive: true, force: true });
}

/** Builds the headnode image `name` (default base-headnode) into `<outDir>/<name>/`. */
export async function buildHeadnodeImage(opts: { outDir: string; name?: string }): Promise<HeadnodeImage> {
  const name = opts.name ?? DEFAULT_HEADNODE_IMAGE;
  if (!IMAGE_NAME.test(name)) throw new HeadnodeImageError(`a headnode image name is 1 to 64 of A-Z a-z 0-9 . _ -, not starting with . _ - (got ${JSON.stringify(name)})`);
  requireHostTools();
  const kernel = newestKernel();
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const building = mkdtempSync(join(outDir, `.${name}.building-`));
  try {
    chmodSync(building, 0o755); // mkdtemp makes it private; the image is for the runner to read
    const work = join(building, '.work');
    mkdirSync(work);
    await buildRootDisk({ work, disk: join(building, 'root.qcow2'), kernel, hello: helloInitramfs(kernel), imageName: name });
    rmSync(work, { recursive: true, force: true });
    const manifest: ImageManifest = { name, cmdline: HEADNODE_CMDLINE, built: new Date().toISOString() };
    writeOut(building, {
      'vmlinuz': readFileSync(kernel.image),
      'initrd.img': headnodeInitramfs(kernel),
      'image.json': JSON.stringify(manifest, null, 2) + '\n',
    });
    const final = join(outDir, name);
    moveIntoPlace(building, final);
    return imageAt(final, manifest);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    throw err;
  }
}

/** The image in `dir`, from its image.json; throws a HeadnodeImageError saying what is missing or wrong. */
export function readHeadnodeImage(dir: string): HeadnodeImage {
  const abs = resolve(dir);
  const file = join(abs, 'image.json');
  let m: Partial<ImageManifest>;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as Partial<ImageManifest>;
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it is missing' : (err as Error).message;
    throw new HeadnodeImageError(`${abs} is not a headnode image: cannot read image.json (${why})`);
  }
  if (typeof m.name !== 'string' || typeof m.cmdline !== 'string' || typeof m.built !== 'string') {
    throw new HeadnodeImageError(`${file} needs string fields name, cmdline and built`);
  }
  const image = imageAt(abs, m as ImageManifest);
  const missing = [image.kernel, image.initrd, image.disk].filter((f) => !existsSync(f));
  if (missing.length) throw new HeadnodeImageError(`headnode image ${m.name} in ${abs} is incomplete: ${missing.join(', ')} missing`);
  return image;
}
