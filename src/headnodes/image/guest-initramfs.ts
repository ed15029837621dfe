/**
 * The two initramfs archives a headnode image holds: the headnode's own,
 * which mounts its root disk and switches to it, and the PXE payload's
 * (hello.img), which the headnode serves to the tenant's nodes. Both are the
 * shared initramfs base (static busybox, the modules with their
 * dependencies) plus an /init from ./guest/.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { busyboxApplets, MODULES } from '../../fpbl/build.ts';
import type { Kernel } from '../../initramfs/kernel.ts';
import { initramfsBase } from '../../initramfs/tree.ts';

/** A file of ./guest/ (the scripts the image runs), as a path. */
export function guestFile(name: string): string {
  return fileURLToPath(new URL(`./guest/${name}`, import.meta.url));
}

/**
 * The headnode's drivers: virtio disks and NICs (MODULES), ext4 for its root
 * and its seed (ext4 also mounts ext2; crc32c_generic is ext4's checksum, a
 * soft dependency that modules.dep does not list), and the ACPI button with
 * evdev, where acpid sees QEMU's system_powerdown.
 */
export const HEADNODE_MODULES = [...MODULES, 'ext4', 'crc32c_generic', 'button', 'evdev'];

/** The PXE payload's drivers: the NICs a QEMU node has (virtio-net, e1000), as the FPBL has them. */
export const HELLO_MODULES = MODULES;

function withInit(kernel: Kernel, modules: readonly string[], init: string): Buffer {
  const tree = initramfsBase(kernel, modules, busyboxApplets());
  tree.file('init', readFileSync(guestFile(init)), 0o755);
  return tree.archive(9);
}

/** The headnode's initramfs (gzip newc cpio): mounts root= (default /dev/vda) read-write and switch_roots to it. */
export function headnodeInitramfs(kernel: Kernel): Buffer {
  return withInit(kernel, HEADNODE_MODULES, 'initrd-init.sh');
}

/** hello.img: DHCP, a report to the DHCP server's /cgi-bin/report, "hil-pxe-hello mac=… ip=…" on the console. */
export function helloInitramfs(kernel: Kernel): Buffer {
  return withInit(kernel, HELLO_MODULES, 'hello-init.sh');
}
