/**
 * An example customer image that boots diskless from its network disk
 * (docs/images.md): a qcow2 disk image holding an ext4 root filesystem, and
 * the kernel and initramfs that find it (hil-netroot.sh: iSCSI with CHAP, in
 * dracut's netroot= syntax). The root filesystem is a busybox system that
 * says which boot it is, prints what earlier boots left in /var/hil-state,
 * and adds a line of its own, so a test can tell one disk from another and
 * see state survive a reboot or a snapshot.
 *
 *   buildExampleDiskImage(dir, marker)   vmlinuz, initrd.img, cmdline, disk.qcow2
 *
 * Made from this Debian host's packages: its kernel and modules, static
 * busybox, iscsistart (open-iscsi) with its libraries, mke2fs (e2fsprogs) and
 * qemu-img (qemu-utils). Nothing is downloaded.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUSYBOX, type Kernel } from '../initramfs/kernel.ts';
import { initramfsBase } from '../initramfs/tree.ts';
import { busyboxApplets, EXAMPLE_CMDLINE, FpblBuildError, KEXEC, MARKER, MODULES, newestKernel, RETURN_SCRIPT, sharedLibraries, writeOut, type BuiltFile } from './build.ts';

export const ISCSISTART = '/usr/sbin/iscsistart';
export const NETROOT_SCRIPT = fileURLToPath(new URL('./agent/hil-netroot.sh', import.meta.url));

/** What the initramfs loads besides the NIC drivers: the iSCSI initiator, SCSI disks, ext4. */
export const NETROOT_MODULES = [...MODULES, 'iscsi_tcp', 'sd_mod', 'ext4', 'crc32c_generic'];

/** The root filesystem's size: room for busybox and what the example writes. */
const ROOT_MIB = 32;

/** The busybox applets the root filesystem's init uses (symlinks to /bin/busybox). */
const ROOT_APPLETS = ['sh', 'mount', 'umount', 'cat', 'echo', 'grep', 'cut', 'tr', 'sync', 'sleep', 'setsid', 'cttyhack', 'ls', 'uname', 'hostname', 'ip', 'dd', 'sed', 'poweroff', 'reboot', 'wget', 'timeout', 'sha256sum', 'head', 'rm', 'mkdir'];

function rootInit(marker: string): string {
  return `#!/bin/sh
# The example's init, on the node's network disk.
export PATH=/bin:/sbin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
hostname hil-example
boot_id=$(cat /proc/sys/kernel/random/boot_id)
root=$(grep ' / ' /proc/mounts | cut -d' ' -f1 | tail -n 1)
echo "hil-example: ${marker} booted from its network disk boot_id=$boot_id root=$root kernel=$(uname -r)"
echo "hil-example: state before: $(cat /var/hil-state 2>/dev/null | tr '\\n' ' ')"
echo "${marker}:$boot_id" >> /var/hil-state
sync
echo "hil-example: wrote its state"
# What this boot read of its network disk so far (sectors of 512 bytes): bench:diskless sets it against the image's size.
set -- $(cat /sys/block/\${root##*/}/stat 2>/dev/null)
echo "hil-example: read $((\${3:-0} / 2)) KiB of its disk"
# Deployed by kexec, the command line names HIL (on the boot network): the node can be reclaimed by kexec.
/bin/hil-return &
echo "hil-example: ready"
while true; do setsid cttyhack sh -l; done
`;
}

function requireTools(): void {
  for (const [tool, pkg] of [
    [BUSYBOX, 'busybox-static'],
    [ISCSISTART, 'open-iscsi'],
    ['/usr/sbin/mke2fs', 'e2fsprogs'],
  ]) {
    try {
      statSync(tool);
    } catch {
      throw new FpblBuildError(`${tool} is missing (apt-get install ${pkg})`);
    }
  }
}

/** The initramfs that mounts the root from the network disk (gzip newc cpio). */
export function netrootInitramfs(kernel: Kernel): { archive: Buffer; paths: string[] } {
  requireTools();
  const tree = initramfsBase(kernel, NETROOT_MODULES, busyboxApplets());
  tree.mkdirs('usr/sbin').mkdirs('etc/iscsi');
  tree.file('sbin/iscsistart', readFileSync(ISCSISTART), 0o755);
  for (const lib of sharedLibraries(ISCSISTART)) tree.file(lib.slice(1), readFileSync(lib), 0o755);
  tree.file('init', readFileSync(NETROOT_SCRIPT), 0o755);
  return { archive: tree.archive(9), paths: tree.paths() };
}

/** A raw ext4 image of the example's root filesystem, `marker` baked into its init. */
function rootFilesystem(work: string, marker: string): string {
  const root = join(work, 'root');
  for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'var', 'tmp', 'root', 'etc']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'bin', 'busybox'), readFileSync(BUSYBOX));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const a of ROOT_APPLETS) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'sbin', 'init'), rootInit(marker));
  chmodSync(join(root, 'sbin', 'init'), 0o755);
  // The return agent, and kexec with the libraries it loads (at the paths ldd names).
  writeFileSync(join(root, 'bin', 'hil-return'), readFileSync(RETURN_SCRIPT), { mode: 0o755 });
  for (const [from, to] of [[KEXEC, KEXEC], ...sharedLibraries(KEXEC).map((l) => [l, l])] as const) {
    mkdirSync(join(root, dirname(to)), { recursive: true });
    writeFileSync(join(root, to), readFileSync(from), { mode: 0o755 });
  }
  writeFileSync(join(root, 'etc', 'hil-example-marker'), `${marker}\n`);
  const raw = join(work, 'root.raw');
  execFileSync('/usr/sbin/mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'hil-root', '-d', root, raw, `${ROOT_MIB}M`], { stdio: ['ignore', 'ignore', 'pipe'] });
  return raw;
}

/** Writes vmlinuz, initrd.img, cmdline and disk.qcow2 of the diskless example into `outDir`. */
export function buildExampleDiskImage(outDir: string, marker: string, o: { kernel?: Kernel } = {}): { files: BuiltFile[] } {
  if (!MARKER.test(marker)) throw new FpblBuildError(`the marker must be 1 to 64 of A-Z a-z 0-9 . _ : @ + - (got ${JSON.stringify(marker)})`);
  const kernel = o.kernel ?? newestKernel();
  const { archive } = netrootInitramfs(kernel);
  const work = mkdtempSync(join(tmpdir(), 'hil-disk-image-'));
  let disk: Buffer;
  try {
    const qcow2 = join(work, 'disk.qcow2');
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', rootFilesystem(work, marker), qcow2], { stdio: ['ignore', 'ignore', 'pipe'] });
    disk = readFileSync(qcow2); // a few MiB: the root filesystem is mostly empty
  } catch (err) {
    throw new FpblBuildError(`cannot build the root filesystem: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { files: writeOut(outDir, { 'vmlinuz': readFileSync(kernel.image), 'initrd.img': archive, 'cmdline': EXAMPLE_CMDLINE, 'disk.qcow2': disk }) };
}
