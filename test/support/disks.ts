/**
 * For tests of disk images, disks and exports through the API: a HIL with
 * its own blob, disk and export directories, uploads of disk files, waiting
 * for an export to serve or a snapshot to be taken, and what the storage
 * backend and blob store hold (to check a failure left nothing behind).
 */
import { readFileSync, mkdtempSync, rmSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { spawnSync } from 'node:child_process';
import type { TestDatabase } from './databases.ts';
import { withHil, type Caller, type TestHil, type TestHilOptions } from './hil.ts';
import type { Config } from '../../src/config/config.ts';
import { qemuIoSkipReason } from './qemu-io.ts';

export function diskSkipReason(): string | undefined {
  return qemuIoSkipReason() ?? (spawnSync('qemu-storage-daemon', ['--version']).status === 0 ? undefined : 'qemu-storage-daemon is not installed (apt-get install qemu-system-common)');
}

/** Why an iSCSI export server (qemu-storage-daemon's FUSE view, tgtd) cannot run here, or undefined. */
export function iscsiExportSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'FUSE mounts and tgtd need root';
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  const has = (cmd: string, arg: string) => spawnSync(cmd, [arg]).status === 0;
  if (!has('qemu-storage-daemon', '--version')) return 'qemu-storage-daemon is not installed (apt-get install qemu-system-common)';
  if (!has('tgtd', '--version')) return 'tgtd is not installed (apt-get install tgt)';
  return undefined;
}

/**
 * A port range for exports.ports that nobody uses now: below the kernel's
 * ephemeral range (ip_local_port_range starts at 32768 here), where no
 * outgoing connection (an NBD client, a database) is given a local port,
 * each port checked by binding it.
 */
export async function freePorts(count: number): Promise<string> {
  for (;;) {
    const first = 20000 + Math.floor(Math.random() * (12000 - count));
    if (await allBindable(first, count)) return `${first}-${first + count - 1}`;
  }
}

async function allBindable(first: number, count: number): Promise<boolean> {
  for (let port = first; port < first + count; port++) {
    const s = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.listen(port, '0.0.0.0', () => resolve(true));
    });
    if (ok) await new Promise((r) => s.close(r));
    if (!ok) return false;
  }
  return true;
}

export interface DiskDirs {
  root: string;
  blobs: string;
  disks: string;
  run: string;
}

export function diskDirs(): DiskDirs {
  const root = mkdtempSync(join(tmpdir(), 'hil-disks-'));
  return { root, blobs: join(root, 'blobs'), disks: join(root, 'disks'), run: join(root, 'run') };
}

/** Points a HIL's images, disks and exports at `dirs` and `ports`. */
export function diskConfig(dirs: DiskDirs, ports: string, more?: (c: Config) => void) {
  return (c: Config) => {
    c.images.dir = dirs.blobs;
    c.images.disks_dir = dirs.disks;
    c.exports.run_dir = dirs.run;
    c.exports.ports = ports;
    c.claims.heartbeat_ms = 200;
    c.claims.ttl_seconds = 2;
    more?.(c);
  };
}

export async function withDiskHil(database: TestDatabase, o: TestHilOptions & { more?: (c: Config) => void } = {}, fn: (t: TestHil, dirs: DiskDirs) => Promise<void>): Promise<void> {
  const dirs = diskDirs();
  const ports = await freePorts(20);
  try {
    await withHil(database, { ...o, config: diskConfig(dirs, ports, o.more) }, (t) => fn(t, dirs));
  } finally {
    rmSync(dirs.root, { recursive: true, force: true });
  }
}

export async function uploadDisk(t: TestHil, image: string, file: string | Buffer, auth?: string) {
  const res = await t.hil.app!.inject({
    method: 'PUT',
    url: `/v0/image/${image}/disk`,
    headers: { 'content-type': 'application/octet-stream', ...(auth ? { authorization: auth } : {}) },
    payload: typeof file === 'string' ? readFileSync(file) : file,
  });
  let body: any = res.body;
  try {
    body = JSON.parse(res.body);
  } catch {
    // not JSON
  }
  return { status: res.statusCode, body, text: res.body };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the disk's export says `serving` (or throws with its error). */
export function waitServing(api: Caller, disk: string, timeoutMs?: number) {
  return waitFor(
    `export of ${disk} serving`,
    async () => {
      const r = await api('GET', `/v0/disk/${disk}`);
      if (r.body?.export?.state === 'failed') throw new Error(`export of ${disk} failed: ${r.body.export.error}`);
      return r.body?.export?.state === 'serving' ? r.body.export : undefined;
    },
    timeoutMs,
  );
}

export function waitImageReady(api: Caller, image: string, timeoutMs?: number) {
  return waitFor(
    `image ${image} ready`,
    async () => {
      const r = await api('GET', `/v0/image/${image}`);
      return r.body?.state === 'ready' ? r.body : undefined;
    },
    timeoutMs,
  );
}

/** What the storage holds for this HIL, the blobs stored, and leftover temporary files: compared before and after a failure. */
export async function storageState(t: TestHil, dirs: DiskDirs) {
  const s = t.hil.storage;
  const listed = await s.backend.list(`${s.prefix}.`, AbortSignal.timeout(10_000));
  const blobDir = join(dirs.blobs, 'sha256');
  const blobs = existsSync(blobDir) ? readdirSync(blobDir).sort() : [];
  const disksTmp = existsSync(dirs.disks) ? readdirSync(dirs.disks).filter((n) => n.startsWith('.tmp-')) : [];
  const rows = await t.hil.store.db.selectFrom('disk').select('label').orderBy('label').execute();
  return { ...listed, blobs, disksTmp, diskRows: rows.map((r) => r.label) };
}

/**
 * `[exports.boot]` on loopback: boot subnets in 127.77.0.0/16, so each boot
 * network's storage address (127.77.<k>.1) is this host's and its exports
 * really serve; the storage node and NIC are whatever the test registers.
 */
export function bootConfig(o: { subnets?: string; node?: string; nic?: string; interface?: string; httpPort?: number; ovs?: { bridge: string; ovsdb: string; netns?: string } } = {}) {
  return (c: Config) => {
    c.exports.boot = {
      subnets: o.subnets ?? '127.77.0.0/16',
      node: o.node ?? 'storage',
      nic: o.nic ?? 'trunk',
      interface: o.interface ?? 'hlboot0',
      http_port: o.httpPort ?? 8080,
      links: o.ovs ? 'ovs' : 'vlan',
      ...(o.ovs && { ovs_bridge: o.ovs.bridge, ovsdb: o.ovs.ovsdb, ovs_netns: o.ovs.netns }),
    };
  };
}
