/**
 * The headnode's root filesystem: a busybox system with busybox init
 * (guest/inittab), dropbear for SSH, dnsmasq and busybox httpd for the
 * tenant's PXE service (guest/hil-pxe.sh), iPXE and the PXE payload to
 * serve. Staged in a directory and made into an ext4 image by mke2fs -d, so
 * nothing is mounted and no root is needed; then converted to qcow2, which
 * stores only the blocks in use.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxApplets, sharedLibraries } from '../../fpbl/build.ts';
import { BUSYBOX, type Kernel } from '../../initramfs/kernel.ts';
import { guestFile } from './guest-initramfs.ts';
import { DNSMASQ, DROPBEAR, DROPBEARKEY, IPXE_FILES, MKE2FS, QEMU_IMG } from './host-tools.ts';
import { HeadnodeImageError } from './image-error.ts';

const run = promisify(execFile);

/** The root filesystem's size: its files take ~25 MiB; the rest is room for logs and what the tenant adds. */
const ROOT_MIB = 256;

/** A directory being filled as the root filesystem: paths are relative to it, parents made on the way. */
class Staging {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  #path(path: string): string {
    const full = join(this.root, path);
    mkdirSync(dirname(full), { recursive: true });
    return full;
  }

  dir(path: string, mode = 0o755): void {
    mkdirSync(join(this.root, path), { recursive: true });
    chmodSync(join(this.root, path), mode);
  }

  file(path: string, data: Buffer | string, mode = 0o644): void {
    const full = this.#path(path);
    writeFileSync(full, data);
    chmodSync(full, mode);
  }

  /** A script of ./guest/, executable. */
  script(path: string, guestName: string): void {
    this.file(path, readFileSync(guestFile(guestName)), 0o755);
  }

  symlink(path: string, target: string): void {
    symlinkSync(target, this.#path(path));
  }

  /** A dynamically linked host binary at its own path, with every library ldd names at the path the loader looks in. */
  binary(path: string): void {
    this.file(path.slice(1), readFileSync(path), 0o755);
    for (const lib of sharedLibraries(path)) if (!existsSync(join(this.root, lib))) this.file(lib.slice(1), readFileSync(lib), 0o755);
  }
}

/** Root alone, with no password (locked with "*": dropbear takes keys only anyway). */
const ACCOUNTS: Record<string, string> = {
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
  'etc/shadow': 'root:*:19000:0:99999:7:::\n',
  'etc/group': 'root:x:0:\ntty:x:5:\n',
  'etc/shells': '/bin/sh\n',
  'etc/profile': 'export PATH=/bin:/sbin:/usr/bin:/usr/sbin\nexport PS1="\\u@\\h:\\w# "\n',
  'etc/hostname': 'headnode\n',
  'etc/hosts': '127.0.0.1 localhost\n',
};

function addSystem(s: Staging): void {
  for (const d of ['dev', 'proc', 'sys', 'run', 'var/log/hil-pxe', 'var/lib', 'etc/dropbear', 'srv/tftp']) s.dir(d);
  s.dir('root', 0o700);
  s.dir('tmp', 0o1777);
  s.file('bin/busybox', readFileSync(BUSYBOX), 0o755);
  for (const applet of busyboxApplets()) s.symlink(`bin/${applet}`, 'busybox');
  s.symlink('sbin/init', '../bin/busybox');
  for (const [path, text] of Object.entries(ACCOUNTS)) s.file(path, text, path === 'etc/shadow' ? 0o600 : 0o644);
  s.file('etc/inittab', readFileSync(guestFile('inittab')));
  s.script('etc/hil/rc.boot', 'rc.boot.sh');
  s.script('etc/hil/rc.shutdown', 'rc.shutdown.sh');
  s.script('etc/hil/sshd', 'sshd.sh');
  s.script('etc/hil/announce', 'announce.sh');
  s.script('etc/hil/udhcpc', 'udhcpc.sh');
  s.script('usr/sbin/hil-seed', 'hil-seed.sh');
  // busybox acpid runs <conf dir>/<event>/<code> for an event: PWRF 00000080 is the power button.
  s.script('etc/acpi/PWRF/00000080', 'acpi-power.sh');
  s.binary(DROPBEAR);
  s.binary(DROPBEARKEY);
}

/** hil-pxe, dnsmasq, iPXE for TFTP, and the payload over HTTP: boot.ipxe, the kernel, hello.img, the report CGI. */
function addPxeService(s: Staging, kernel: Kernel, hello: Buffer): string[] {
  s.binary(DNSMASQ);
  s.script('usr/sbin/hil-pxe', 'hil-pxe.sh');
  const ipxe = IPXE_FILES.filter((f) => existsSync(f));
  for (const f of ipxe) s.file(`srv/tftp/${f.slice(f.lastIndexOf('/') + 1)}`, readFileSync(f));
  s.file('srv/http/boot.ipxe', readFileSync(guestFile('boot.ipxe')));
  s.file('srv/http/vmlinuz', readFileSync(kernel.image));
  s.file('srv/http/hello.img', hello);
  s.script('srv/http/cgi-bin/report', 'report.cgi.sh');
  return ipxe;
}

function commandError(what: string, err: unknown): HeadnodeImageError {
  const stderr = (err as { stderr?: string | Buffer }).stderr?.toString().trim();
  return new HeadnodeImageError(`${what}: ${stderr || (err as Error).message}`);
}

/**
 * Writes the root filesystem as the qcow2 `disk`, staging it under `work`
 * (which the caller removes). Answers the iPXE files it serves over TFTP
 * (none when the ipxe package is missing: nodes whose ROM is iPXE still boot).
 */
export async function buildRootDisk(o: { work: string; disk: string; kernel: Kernel; hello: Buffer; imageName: string }): Promise<{ ipxe: string[] }> {
  const s = new Staging(join(o.work, 'root'));
  addSystem(s);
  const ipxe = addPxeService(s, o.kernel, o.hello);
  s.file('etc/hil/image', `${o.imageName}\n`);
  const raw = join(o.work, 'root.raw');
  try {
    await run(MKE2FS, ['-q', '-F', '-t', 'ext4', '-L', 'hil-headnode', '-E', 'root_owner=0:0', '-d', s.root, raw, `${ROOT_MIB}M`]);
  } catch (err) {
    throw commandError('cannot make the root filesystem (mke2fs)', err);
  }
  try {
    await run(QEMU_IMG, ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, o.disk]);
  } catch (err) {
    throw commandError('cannot convert the root filesystem to qcow2 (qemu-img)', err);
  }
  return { ipxe };
}
