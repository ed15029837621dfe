/**
 * The lab's guest boot environment: a Debian kernel and a small initramfs
 * (static busybox, the NIC drivers, and an /init) that says on the serial
 * console, and over HTTP to the provisioning network's boot server, that the
 * node booted from the network, on which NIC, with which address. Everything
 * comes from Debian packages on the host (linux-image-amd64, busybox-static);
 * nothing is downloaded.
 *
 * The node learns which NIC it booted from through `BOOTIF=`, which the iPXE
 * script fills in from the interface iPXE itself used.
 */
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { cpioNewc, type CpioEntry } from './cpio.ts';
import { PROVISIONING } from './layout.ts';

/** Drivers for the NICs QEMU gives the nodes (virtio-net-pci; e1000 for experiments), loaded in this order with their dependencies. */
const MODULES = ['virtio_pci', 'virtio_net', 'e1000'];

export const BUSYBOX = '/bin/busybox';

export interface Kernel {
  version: string;
  image: string;
  modulesDir: string;
}

/** Kernels that can boot the guest: /boot/vmlinuz-<v> with /lib/modules/<v>/modules.dep, newest first. */
export function findKernels(): Kernel[] {
  let files: string[] = [];
  try {
    files = readdirSync('/boot');
  } catch {
    return [];
  }
  return files
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => ({ version: f.slice('vmlinuz-'.length), image: join('/boot', f), modulesDir: join('/lib/modules', f.slice('vmlinuz-'.length)) }))
    .filter((k) => existsSync(join(k.modulesDir, 'modules.dep')))
    .sort((a, b) => b.version.localeCompare(a.version, undefined, { numeric: true }));
}

/** Module files (relative to the modules dir) for `names` and their dependencies, dependencies first. */
export function resolveModules(modulesDep: string, names: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of modulesDep.split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    deps.set(m[1], m[2].split(/\s+/).filter(Boolean));
    byName.set(moduleName(m[1]), m[1]);
  }
  const order: string[] = [];
  const visit = (file: string) => {
    if (order.includes(file)) return;
    for (const d of deps.get(file) ?? []) visit(d);
    order.push(file);
  };
  for (const n of names) {
    const file = byName.get(n);
    if (file) visit(file); // built into this kernel, or not there: nothing to load
  }
  return order;
}

function moduleName(file: string): string {
  return file.replace(/^.*\//, '').replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');
}

const INIT = `#!/bin/sh
# hil-lab guest: report on the serial console and to the boot server that this
# node booted from the network, then give the console a shell.
export PATH=/bin:/sbin
hostname hil-lab-guest
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/modules-load); do insmod "/lib/modules/$m" 2>/dev/null; done
bootif= report=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    BOOTIF=01-*) bootif=\${arg#BOOTIF=01-} ;;
    hil_lab.report=*) report=\${arg#hil_lab.report=} ;;
  esac
done
mac=$(echo "$bootif" | tr '-' ':')
iface=
for try in 1 2 3 4 5 6 7 8 9 10; do
  for d in /sys/class/net/*; do
    [ -n "$mac" ] && [ "$(cat "$d/address")" = "$mac" ] && iface=\${d##*/}
  done
  [ -n "$iface" ] || [ -z "$mac" ] && break
  sleep 0.5
done
ip link set lo up
if [ -z "$mac" ]; then
  echo "hil-lab: booted $(uname -r), not from the network"
else
  echo "hil-lab: booted $(uname -r) from the network: mac=$mac iface=\${iface:-none}"
fi
if [ -n "$iface" ] && [ -n "$report" ]; then
  ip link set "$iface" up
  if udhcpc -i "$iface" -n -q -t 10 -T 1 -s /etc/udhcpc.sh >/dev/null 2>&1; then
    ip=$(cat /run/ip)
    if wget -q -O /dev/null "$report?mac=$mac&ip=$ip&uptime=$(cut -d' ' -f1 /proc/uptime)"; then
      echo "hil-lab: reported in: mac=$mac ip=$ip"
    else
      echo "hil-lab: could not report to $report"
    fi
  else
    echo "hil-lab: no DHCP lease on $iface"
  fi
fi
echo "hil-lab: ready"
while true; do setsid cttyhack sh -l; done
`;

const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/\${mask:-24}" dev "$interface"; echo "$ip" > /run/ip ;;
  deconfig) ip addr flush dev "$interface" ;;
esac
`;

/** The initramfs (gzip-compressed newc cpio) for `kernel`. */
export function buildInitramfs(kernel: Kernel, busybox = BUSYBOX): Buffer {
  const modules = resolveModules(readFileSync(join(kernel.modulesDir, 'modules.dep'), 'utf8'), MODULES);
  const dirs = new Set<string>();
  const dirEntries: CpioEntry[] = [];
  const mkdirs = (path: string) => {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        dirEntries.push({ kind: 'dir', path: d });
      }
    }
  };
  for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'run', 'tmp', 'etc', 'root']) mkdirs(d);
  const moduleFiles: CpioEntry[] = modules.map((m) => {
    mkdirs(join('lib/modules', m, '..'));
    return { kind: 'file', path: join('lib/modules', m), data: readFileSync(join(kernel.modulesDir, m)) };
  });
  const entries: CpioEntry[] = [
    ...dirEntries,
    // The kernel opens /dev/console for init before devtmpfs is mounted.
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 },
    ...['sh', 'hostname', 'mount', 'insmod', 'cat', 'tr', 'sleep', 'uname', 'ip', 'udhcpc', 'wget', 'cut', 'echo', 'setsid', 'cttyhack'].map(
      (a): CpioEntry => ({ kind: 'symlink', path: `bin/${a}`, target: 'busybox' }),
    ),
    { kind: 'file', path: 'init', data: INIT, mode: 0o755 },
    { kind: 'file', path: 'etc/udhcpc.sh', data: UDHCPC_SCRIPT, mode: 0o755 },
    { kind: 'file', path: 'etc/modules-load', data: modules.join('\n') + '\n' },
    // A login shell runs this: every applet, not only the ones /init uses.
    { kind: 'file', path: 'etc/profile', data: 'busybox --install -s /bin 2>/dev/null\nexport PS1="\\h# "\n' },
    ...moduleFiles,
  ];
  return gzipSync(cpioNewc(entries), { level: 1 });
}

/** The iPXE script every node on the provisioning network gets (over HTTP, named by DHCP). */
export function ipxeScript(): string {
  const base = `http://${PROVISIONING.address}`;
  // initrd= lets an EFI-stub kernel find the image iPXE loaded (UEFI nodes); BIOS boots ignore it.
  return `#!ipxe
echo hil-lab: iPXE booting \${netX/mac} from ${base}
kernel ${base}/vmlinuz initrd=initrd.img console=ttyS0,115200 quiet BOOTIF=01-\${netX/mac:hexhyp} hil_lab.report=${base}/report
initrd ${base}/initrd.img
boot
`;
}

/** Writes vmlinuz, initrd.img and boot.ipxe into `dir` (the boot server's root). */
export function writeBootFiles(dir: string, kernel: Kernel): void {
  copyFileSync(kernel.image, join(dir, 'vmlinuz'));
  writeFileSync(join(dir, 'initrd.img'), buildInitramfs(kernel));
  writeFileSync(join(dir, 'boot.ipxe'), ipxeScript());
}
