/** Builds initramfs archives (gzip-compressed newc cpio) from the host's busybox and kernel modules. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { cpioNewc, type CpioEntry } from './cpio.ts';
import { BUSYBOX, resolveModules, type Kernel } from './kernel.ts';

/**
 * An initramfs being put together: parent directories are added before what
 * they contain, each once. `archive()` is the gzip-compressed newc cpio.
 */
export class InitramfsTree {
  readonly #dirs = new Set<string>();
  readonly #entries: CpioEntry[] = [];

  mkdirs(path: string): this {
    const parts = path.split('/').filter((p) => p && p !== '.');
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!this.#dirs.has(d)) {
        this.#dirs.add(d);
        this.#entries.push({ kind: 'dir', path: d });
      }
    }
    return this;
  }

  #parent(path: string): void {
    const slash = path.replace(/^\/+/, '').lastIndexOf('/');
    if (slash > 0) this.mkdirs(path.replace(/^\/+/, '').slice(0, slash));
  }

  file(path: string, data: Buffer | string, mode?: number): this {
    this.#parent(path);
    this.#entries.push({ kind: 'file', path, data, mode });
    return this;
  }

  symlink(path: string, target: string): this {
    this.#parent(path);
    this.#entries.push({ kind: 'symlink', path, target });
    return this;
  }

  chardev(path: string, major: number, minor: number): this {
    this.#parent(path);
    this.#entries.push({ kind: 'chardev', path, major, minor });
    return this;
  }

  /** Paths of the entries so far, in order. */
  paths(): string[] {
    return this.#entries.map((e) => e.path);
  }

  archive(level = 1): Buffer {
    return gzipSync(cpioNewc(this.#entries), { level });
  }
}

/**
 * The base every initramfs shares (the lab's guests, the FPBL): the usual top-level directories,
 * /dev/console (the kernel opens it for init before devtmpfs is mounted),
 * static busybox with `applets` as symlinks, and the kernel modules `names`
 * with their dependencies under /lib/modules, listed in load order in
 * /etc/modules-load.
 */
export function initramfsBase(kernel: Kernel, modules: readonly string[], applets: readonly string[], busybox = BUSYBOX): InitramfsTree {
  const files = resolveModules(readFileSync(join(kernel.modulesDir, 'modules.dep'), 'utf8'), modules);
  const tree = new InitramfsTree();
  for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'run', 'tmp', 'etc', 'root']) tree.mkdirs(d);
  tree.chardev('dev/console', 5, 1);
  tree.file('bin/busybox', readFileSync(busybox), 0o755);
  for (const a of applets) if (a !== 'busybox') tree.symlink(`bin/${a}`, 'busybox');
  for (const m of files) tree.file(join('lib/modules', m), readFileSync(join(kernel.modulesDir, m)));
  tree.file('etc/modules-load', files.join('\n') + '\n');
  return tree;
}
