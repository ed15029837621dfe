/**
 * Builds the FPBL (fast provisioning boot loader) and an example customer
 * image, from what this Debian host has installed: its newest kernel with
 * modules (linux-image-amd64), static busybox (busybox-static) and kexec with
 * the libraries it links against (kexec-tools). docs/fast-provisioning.md is
 * the contract both run against.
 *
 *   buildFpbl(dir)                   vmlinuz, initrd.img, fpbl.json
 *   buildExampleImage(dir, marker)   vmlinuz, initrd.img, cmdline
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUSYBOX, findKernels, type Kernel } from '../initramfs/kernel.ts';
import { initramfsBase, type InitramfsTree } from '../initramfs/tree.ts';

export const KEXEC = '/usr/sbin/kexec';
export const AGENT_SCRIPT = fileURLToPath(new URL('./agent/hil-agent.sh', import.meta.url));
export const RETURN_SCRIPT = fileURLToPath(new URL('./agent/hil-return.sh', import.meta.url));

/** NIC drivers (virtio-net, e1000) and virtio-blk, for the nodes QEMU makes; real hardware would need more. */
export const MODULES = ['virtio_pci', 'virtio_net', 'virtio_blk', 'e1000'];

/** The command line the example image's kernel gets (HIL appends hil.* to it); the cmdline file holds it without a newline. */
export const EXAMPLE_CMDLINE = 'console=ttyS0,115200 quiet';

/** Markers are baked into a shell script: keep them to characters that need no quoting. */
export const MARKER = /^[A-Za-z0-9._:@+-]{1,64}$/;

export class FpblBuildError extends Error {}

export interface BuiltFile {
  name: string;
  path: string;
  size: number;
  sha256: string;
}

export interface FpblManifest {
  kernel_sha256: string;
  initrd_sha256: string;
  kernel_version: string;
  built_at: string;
}


/**
 * The shared libraries `ldd` lists for `binary` (absolute paths, the dynamic
 * loader included; the vDSO, which the kernel provides, left out).
 */
export function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]);
    else if (/=>\s*not found/.test(line)) throw new FpblBuildError(`${binary} needs a library this host lacks: ${line.trim()}`);
  }
  return libs;
}

/** Adds `binary` at `dest` and every library it needs, each at the path ldd names (the loader looks there). */
function addDynamicBinary(tree: InitramfsTree, binary: string, dest: string): string[] {
  const libs = sharedLibraries(binary);
  tree.file(dest, readFileSync(binary), 0o755);
  for (const lib of libs) tree.file(lib.slice(1), readFileSync(lib), 0o755); // readFileSync follows symlinks
  return libs;
}

/** Every applet of the static busybox, for symlinks in an initramfs. */
export function busyboxApplets(): string[] {
  return execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
}

export function newestKernel(): Kernel {
  const k = findKernels()[0];
  if (!k) throw new FpblBuildError('no kernel in /boot with modules in /lib/modules (apt-get install linux-image-amd64)');
  return k;
}

function requireTools(): void {
  try {
    statSync(KEXEC);
  } catch {
    throw new FpblBuildError(`${KEXEC} is missing (apt-get install kexec-tools)`);
  }
  try {
    statSync(BUSYBOX);
  } catch {
    throw new FpblBuildError(`${BUSYBOX} is missing (apt-get install busybox-static)`);
  }
}

/** Common to both images: busybox with every applet, kexec and its libraries, the modules, and a mount/insmod prologue for /init. */
function baseTree(kernel: Kernel): InitramfsTree {
  const tree = initramfsBase(kernel, MODULES, busyboxApplets());
  tree.mkdirs('usr/bin').mkdirs('usr/sbin');
  addDynamicBinary(tree, KEXEC, 'sbin/kexec');
  return tree;
}

const INIT_PROLOGUE = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run /tmp
for m in $(cat /etc/modules-load); do insmod "/lib/modules/$m" 2>/dev/null; done
ip link set lo up
boot_id=$(cat /proc/sys/kernel/random/boot_id)
`;

const FPBL_INIT = `${INIT_PROLOGUE}hostname hil-fpbl
echo "hil-fpbl: booted boot_id=$boot_id uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)"
# PID 1 must not exit: run the agent forever.
while true; do
  /bin/hil-agent
  echo "hil-fpbl: hil-agent exited with $?; restarting it in 2 s"
  sleep 2
done
`;

function exampleInit(marker: string, returnAgent: boolean): string {
  return `${INIT_PROLOGUE}hostname hil-example
MARKER=${marker}
echo "hil-example: $MARKER booted boot_id=$boot_id uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)"
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.5; done
if [ -b /dev/vda ]; then
  # The first 64 bytes as text: zero bytes dropped, anything else unprintable as ".".
  before=$(dd if=/dev/vda bs=64 count=1 2>/dev/null | tr -d '\\000' | sed 's/[^ -~]/./g')
  echo "hil-example: disk before: $before"
  printf 'hil-example-data:%s' "$MARKER" | dd of=/dev/vda conv=notrunc 2>/dev/null
  sync
  echo "hil-example: wrote disk"
else
  echo "hil-example: no disk (/dev/vda)"
fi
${returnAgent ? '/bin/hil-return &' : 'echo "hil-example: no return agent in this image"'}
echo "hil-example: ready"
while true; do setsid cttyhack sh -l; done
`;
}

/** Writes `files` into `outDir` (made if missing), answering each one's size and SHA-256. */
export function writeOut(outDir: string, files: Record<string, Buffer | string>): BuiltFile[] {
  mkdirSync(outDir, { recursive: true });
  return Object.entries(files).map(([name, data]) => {
    const path = join(outDir, name);
    writeFileSync(path, data);
    return { name, path, size: Buffer.byteLength(data), sha256: createHash('sha256').update(data).digest('hex') };
  });
}

/** The FPBL's initramfs for `kernel` (gzip newc cpio), and the paths it holds. */
export function fpblInitramfs(kernel: Kernel): { archive: Buffer; paths: string[] } {
  requireTools();
  const tree = baseTree(kernel);
  tree.file('init', FPBL_INIT, 0o755);
  tree.file('bin/hil-agent', readFileSync(AGENT_SCRIPT), 0o755);
  return { archive: tree.archive(9), paths: tree.paths() };
}

/** Writes vmlinuz, initrd.img and fpbl.json into `outDir`. */
export function buildFpbl(outDir: string, kernel: Kernel = newestKernel()): { files: BuiltFile[]; manifest: FpblManifest } {
  const { archive } = fpblInitramfs(kernel);
  const files = writeOut(outDir, { 'vmlinuz': readFileSync(kernel.image), 'initrd.img': archive });
  const manifest: FpblManifest = {
    kernel_sha256: files[0].sha256,
    initrd_sha256: files[1].sha256,
    kernel_version: kernel.version,
    built_at: new Date().toISOString(),
  };
  files.push(...writeOut(outDir, { 'fpbl.json': JSON.stringify(manifest, null, 2) + '\n' }));
  return { files, manifest };
}

/** The example image's initramfs, with `marker` baked in. */
export function exampleInitramfs(kernel: Kernel, marker: string, o: { returnAgent?: boolean } = {}): { archive: Buffer; paths: string[] } {
  if (!MARKER.test(marker)) throw new FpblBuildError(`the marker must be 1 to 64 of A-Z a-z 0-9 . _ : @ + - (got ${JSON.stringify(marker)})`);
  requireTools();
  const tree = baseTree(kernel);
  const returnAgent = o.returnAgent ?? true;
  tree.file('init', exampleInit(marker, returnAgent), 0o755);
  if (returnAgent) tree.file('bin/hil-return', readFileSync(RETURN_SCRIPT), 0o755);
  tree.file('etc/hil-example-marker', `${marker}\n`);
  return { archive: tree.archive(9), paths: tree.paths() };
}

/** Writes vmlinuz, initrd.img and cmdline of an example customer OS into `outDir`. */
export function buildExampleImage(outDir: string, marker: string, o: { returnAgent?: boolean; kernel?: Kernel } = {}): { files: BuiltFile[] } {
  const kernel = o.kernel ?? newestKernel();
  const { archive } = exampleInitramfs(kernel, marker, o);
  return { files: writeOut(outDir, { 'vmlinuz': readFileSync(kernel.image), 'initrd.img': archive, 'cmdline': EXAMPLE_CMDLINE }) };
}
