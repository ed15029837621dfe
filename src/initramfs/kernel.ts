/**
 * The host's Debian kernels (linux-image-*) and their modules, as the lab's
 * guests and the FPBL boot them: nothing is downloaded.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

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
