/**
 * What the lab needs from the host, where each part comes from (a Debian
 * package), and whether it is here. `hil-lab doctor` prints this; `up` refuses
 * to start without it; the lab tests skip (locally) with its summary.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { findKernels, BUSYBOX } from '../initramfs/kernel.ts';
import { findBinary } from './system.ts';

export interface Check {
  what: string;
  ok: boolean;
  /** The Debian package that provides it, when a package can fix it. */
  pkg?: string;
  detail?: string;
}

const IPXE_ROMS = ['/usr/lib/ipxe/qemu/pxe-virtio.rom', '/usr/share/qemu/pxe-virtio.rom'];

const BINARIES: [string, string][] = [
  ['qemu-system-x86_64', 'qemu-system-x86'],
  ['ovsdb-tool', 'openvswitch-switch'],
  ['ovsdb-server', 'openvswitch-switch'],
  ['ovs-vswitchd', 'openvswitch-switch'],
  ['ovs-vsctl', 'openvswitch-switch'],
  ['ipmi_sim', 'openipmi'],
  ['ipmitool', 'ipmitool'],
  ['dnsmasq', 'dnsmasq-base'],
  ['ip', 'iproute2'],
  ['ethtool', 'ethtool'],
];

/** True if the ELF file has no program interpreter (PT_INTERP), i.e. runs without a dynamic loader. */
export function isStaticElf(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(64);
    readSync(fd, h, 0, 64, 0);
    if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2) return false; // ELF64 only
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    closeSync(fd);
  }
}

export function labChecks(): Check[] {
  const checks: Check[] = BINARIES.map(([bin, pkg]) => ({ what: bin, ok: findBinary(bin) !== null, pkg }));
  const rom = IPXE_ROMS.find((r) => existsSync(r));
  checks.push({ what: 'iPXE ROM for virtio-net', ok: rom !== undefined, pkg: 'ipxe-qemu', detail: rom });
  const busyboxStatic = existsSync(BUSYBOX) && isStaticElf(BUSYBOX);
  checks.push({ what: `static ${BUSYBOX}`, ok: busyboxStatic, pkg: 'busybox-static', detail: existsSync(BUSYBOX) && !busyboxStatic ? 'it is dynamically linked' : undefined });
  const kernel = findKernels()[0];
  checks.push({ what: 'a guest kernel (/boot/vmlinuz-* with its modules)', ok: kernel !== undefined, pkg: 'linux-image-amd64', detail: kernel?.image });
  // The FPBL (hil-admin fpbl build) copies kexec and its libraries into its initramfs.
  checks.push({ what: '/usr/sbin/kexec', ok: existsSync('/usr/sbin/kexec'), pkg: 'kexec-tools' });
  checks.push({ what: '/dev/net/tun', ok: existsSync('/dev/net/tun'), detail: 'the kernel needs TUN/TAP support' });
  checks.push({ what: 'root', ok: process.getuid?.() === 0, detail: 'the lab makes network namespaces, taps and veths' });
  return checks;
}

/** The Debian packages that provide what is missing. */
export function missingPackages(checks: Check[]): string[] {
  return [...new Set(checks.filter((c) => !c.ok && c.pkg).map((c) => c.pkg!))];
}

/** The apt-get line that installs what is missing, or null when nothing a package provides is. */
export function installLine(checks: Check[]): string | null {
  const pkgs = missingPackages(checks);
  return pkgs.length ? `apt-get install --no-install-recommends ${pkgs.join(' ')}` : null;
}

/** One line saying what is missing, or undefined when the lab can run here. */
export function missingSummary(checks: Check[] = labChecks()): string | undefined {
  const missing = checks.filter((c) => !c.ok);
  if (!missing.length) return undefined;
  const line = installLine(checks);
  return `the lab needs ${missing.map((c) => c.what).join(', ')}${line ? ` (${line})` : ''}`;
}
