/**
 * A writer for the cpio "newc" format, which is what the Linux kernel unpacks
 * as an initramfs (Documentation/driver-api/early-userspace/buffer-format):
 * a 110-byte ASCII header per entry, the name, the data, each padded to four
 * bytes, and a "TRAILER!!!" entry at the end. Written here so that building a
 * guest needs neither cpio(1) nor a temporary tree with the right owners.
 */

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer | string; mode?: number }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

function header(o: { ino: number; mode: number; size: number; nameSize: number; rdevMajor?: number; rdevMinor?: number }): string {
  const fields = [o.ino, o.mode, 0, 0, 1, 0, o.size, 0, 0, o.rdevMajor ?? 0, o.rdevMinor ?? 0, o.nameSize, 0];
  return '070701' + fields.map(hex8).join('');
}

/** The archive for `entries`, in order (a directory must come before what it contains). */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  const entry = (name: string, mode: number, data: Buffer, ino: number, rdev?: [number, number]) => {
    const nameBuf = Buffer.from(`${name}\0`);
    push(Buffer.from(header({ ino, mode, size: data.length, nameSize: nameBuf.length, rdevMajor: rdev?.[0], rdevMinor: rdev?.[1] }), 'ascii'));
    push(nameBuf);
    push(pad4(offset));
    push(data);
    push(pad4(offset));
  };
  entries.forEach((e, i) => {
    const name = e.path.replace(/^\/+/, '');
    const ino = i + 1;
    if (e.kind === 'dir') entry(name, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), ino);
    else if (e.kind === 'file') entry(name, S_IFREG | (e.mode ?? 0o644), Buffer.from(e.data), ino);
    else if (e.kind === 'symlink') entry(name, S_IFLNK | 0o777, Buffer.from(e.target), ino);
    else entry(name, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), ino, [e.major, e.minor]);
  });
  entry('TRAILER!!!', 0, Buffer.alloc(0), 0);
  return Buffer.concat(parts);
}
