/**
 * What a headnode image is made of on this Debian host, and the package each
 * part comes from: the image is copied from installed files, never
 * downloaded, so a missing part is a package to install.
 */
import { existsSync } from 'node:fs';
import { BUSYBOX, findKernels } from '../../initramfs/kernel.ts';
import { HeadnodeImageError } from './image-error.ts';

export const MKE2FS = '/usr/sbin/mke2fs';
export const QEMU_IMG = '/usr/bin/qemu-img';
export const DROPBEAR = '/usr/sbin/dropbear';
export const DROPBEARKEY = '/usr/bin/dropbearkey';
export const DNSMASQ = '/usr/sbin/dnsmasq';

/** iPXE for nodes whose ROM is plain PXE (BIOS, EFI); the image serves those present over TFTP. */
export const IPXE_FILES = ['/usr/lib/ipxe/undionly.kpxe', '/usr/lib/ipxe/ipxe.efi'];

const REQUIRED: readonly (readonly [string, string])[] = [
  [BUSYBOX, 'busybox-static'],
  [DROPBEAR, 'dropbear-bin'],
  [DROPBEARKEY, 'dropbear-bin'],
  [DNSMASQ, 'dnsmasq-base'],
  [MKE2FS, 'e2fsprogs'],
  [QEMU_IMG, 'qemu-utils'],
];

/** The Debian packages whose files a build needs and this host lacks (a kernel included), each once. */
export function missingPackages(): string[] {
  const missing = REQUIRED.filter(([file]) => !existsSync(file)).map(([, pkg]) => pkg);
  if (!findKernels().length) missing.push('linux-image-amd64');
  return [...new Set(missing)];
}

export function requireHostTools(): void {
  const missing = missingPackages();
  if (missing.length) throw new HeadnodeImageError(`cannot build a headnode image: this host lacks ${missing.join(', ')} (apt-get install ${missing.join(' ')})`);
}
