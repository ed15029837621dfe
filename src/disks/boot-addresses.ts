/**
 * Addresses on the boot networks (`[exports.boot] subnets`, cut into /24s):
 * project k's boot network is the k-th /24; the storage host is .1 on each,
 * and a node that boots from a disk has a fixed address from .2 to .254.
 */
/** The boot range: its first /24 as a 32-bit number, and how many /24s it holds (BootSettings.subnets). */
export interface BootSubnets {
  first: number;
  count: number;
}

export const STORAGE_HOST = 1;
export const FIRST_NODE_HOST = 2;
export const LAST_NODE_HOST = 254;
export const BOOT_PREFIX_LENGTH = 24;
export const BOOT_NETMASK = '255.255.255.0';

/** The dotted address of `host` (1-254) in boot subnet `subnet`. */
export function bootAddress(subnets: BootSubnets, subnet: number, host: number): string {
  const n = subnets.first + subnet * 256 + host;
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** The storage host's address on boot subnet `subnet`: where its exports, DHCP and boot scripts are. */
export const storageAddress = (subnets: BootSubnets, subnet: number) => bootAddress(subnets, subnet, STORAGE_HOST);

/**
 * The boot server's URL for a node (src/exports/boot-http.ts): its iPXE
 * script, kernel and initrd, and `deployed`, which a deploy's FPBL asks
 * until it answers "jump" (docs/fast-provisioning.md, "Told to jump").
 */
export const bootServerUrl = (server: string, httpPort: number, mac: string, file: 'script.ipxe' | 'vmlinuz' | 'initrd.img' | 'deployed') => `http://${server}:${httpPort}/boot/${mac}/${file}`;
