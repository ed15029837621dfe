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
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUSYBOX, type Kernel } from '../initramfs/kernel.ts';
import { initramfsBase } from '../initramfs/tree.ts';
import { PROVISIONING } from './layout.ts';

/** Drivers for the NICs QEMU gives the nodes (virtio-net-pci; e1000 for experiments), loaded in this order with their dependencies. */
const MODULES = ['virtio_pci', 'virtio_net', 'e1000'];

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
  const applets = ['sh', 'hostname', 'mount', 'insmod', 'cat', 'tr', 'sleep', 'uname', 'ip', 'udhcpc', 'wget', 'cut', 'echo', 'setsid', 'cttyhack'];
  const tree = initramfsBase(kernel, MODULES, applets, busybox);
  tree.file('init', INIT, 0o755);
  tree.file('etc/udhcpc.sh', UDHCPC_SCRIPT, 0o755);
  // A login shell runs this: every applet, not only the ones /init uses.
  tree.file('etc/profile', 'busybox --install -s /bin 2>/dev/null\nexport PS1="\\h# "\n');
  return tree.archive();
}

/** The boot server's base URL, as nodes on the provisioning network see it. */
export function bootServerUrl(): string {
  return `http://${PROVISIONING.address}${PROVISIONING.httpPort === 80 ? '' : `:${PROVISIONING.httpPort}`}`;
}

/**
 * The iPXE script every node on the provisioning network gets (over HTTP,
 * named by DHCP). With `fpbl`, it chains to HIL's provisioning endpoint
 * (which the boot server forwards /fpbl/ to), naming the booting NIC's MAC.
 */
export function ipxeScript(o: { fpbl?: boolean } = {}): string {
  const base = bootServerUrl();
  if (o.fpbl) {
    return `#!ipxe
chain ${base}/fpbl/v1/boot.ipxe?mac=\${netX/mac} || echo hil-lab: HIL has no FPBL boot for \${netX/mac}
`;
  }
  // initrd= lets an EFI-stub kernel find the image iPXE loaded (UEFI nodes); BIOS boots ignore it.
  return `#!ipxe
echo hil-lab: iPXE booting \${netX/mac} from ${base}
kernel ${base}/vmlinuz initrd=initrd.img console=ttyS0,115200 quiet BOOTIF=01-\${netX/mac:hexhyp} hil_lab.report=${base}/report
initrd ${base}/initrd.img
boot
`;
}

/** Writes vmlinuz, initrd.img and boot.ipxe into `dir` (the boot server's root). */
export function writeBootFiles(dir: string, kernel: Kernel, o: { fpbl?: boolean } = {}): void {
  copyFileSync(kernel.image, join(dir, 'vmlinuz'));
  writeFileSync(join(dir, 'initrd.img'), buildInitramfs(kernel));
  writeFileSync(join(dir, 'boot.ipxe'), ipxeScript(o));
}
