/**
 * Disks on each storage backend, in one run (docs/benchmarks.md "Disks"):
 *
 *  1. clone: a disk from a golden image of 100 MiB and of 2 GiB (virtual
 *     size; the first min(size, 256 MiB) written with a pattern), p50/p90
 *     over the rounds: copy-on-write should not care about the size;
 *  2. snapshot: a disk with 1 MiB of its own writes frozen into an image;
 *  3. export start: an NBD export server (qemu-storage-daemon, TLS-PSK) and
 *     an iSCSI one (qemu-storage-daemon's FUSE view and tgtd, CHAP), from
 *     spawn to listening;
 *  4. sequential throughput through each export (qemu-io as the client, on
 *     loopback) against the same disk opened locally by qemu-io, in the
 *     same run: the ratio is what the network path costs.
 *
 *   npm run bench:disks [-- --rounds 20 --throughput-mib 256 --write-docs]
 *
 * Ceph (the rbd backend) runs when ceph-mon and ceph-osd are installed: a
 * single-node cluster is started for the run (test/support/ceph.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { StorageBackend } from '../src/drivers/storage/interface.ts';
import { localBackend } from '../src/drivers/storage/local.ts';
import { rbdBackend } from '../src/drivers/storage/rbd.ts';
import { NbdServer } from '../src/exports/nbd-server.ts';
import { IscsiServer } from '../src/exports/iscsi-server.ts';
import { targetIqn } from '../src/disks/export-names.ts';
import { findCephBins, startCeph } from '../test/support/ceph.ts';
import { ioBlockdev } from '../test/support/qemu-io.ts';
import { percentiles, type Percentiles } from './lib/measure.ts';
import { replaceDocsBlock, revision } from './lib/report.ts';
import { machineLine } from './lib/scale-report.ts';
import { ROOT } from './lib/servers.ts';
import { freePort } from '../src/lab/system.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    'throughput-mib': { type: 'string', default: '256' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
const IO_MIB = Number(values['throughput-mib']);
const SIZES_MIB = [100, 2048];
const log = (m: string) => process.stderr.write(`[disks bench] ${m}\n`);
const signal = () => AbortSignal.timeout(300_000);

/** MiB/s through an export, and on the same disk opened locally. */
interface Throughput {
  exported: number;
  local: number;
}

interface ExportResult {
  start: Percentiles;
  write: Throughput;
  read: Throughput;
}

interface BackendResult {
  backend: string;
  clone: Record<number, Percentiles>;
  snapshot: Percentiles;
  nbd: ExportResult;
  iscsi: ExportResult;
}

function golden(dir: string, sizeMib: number): string {
  const path = join(dir, `golden-${sizeMib}.qcow2`);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, `${sizeMib}M`]);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x41 0 ${Math.min(sizeMib, 256)}M`, path], { stdio: 'ignore' });
  return path;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** The qemu-io arguments that open an NBD export with the node's TLS-PSK key (the key in a file, as a node has it). */
function nbdTarget(t: { host: string; port: number; export: string; identity: string; key: string }, dir: string): string[] {
  const pskDir = mkdtempSync(join(dir, 'psk-'));
  writeFileSync(join(pskDir, 'keys.psk'), `${t.identity}:${t.key}\n`, { mode: 0o600 });
  return [
    '--object',
    `tls-creds-psk,id=tls0,endpoint=client,dir=${pskDir},username=${t.identity}`,
    '--image-opts',
    `driver=nbd,server.type=inet,server.host=${t.host},server.port=${t.port},export=${t.export},tls-creds=tls0`,
  ];
}

/**
 * MiB/s of one sequential IO_MIB write or read from `offsetMib` (qemu-io's
 * own timing of the operation; the NBD client splits it into 32 MiB
 * requests), median of three.
 */
function throughput(target: string[], op: 'read' | 'write', offsetMib: number): number {
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const cmd = op === 'write' ? `write -P 0x5a ${offsetMib}M ${IO_MIB}M` : `read -P 0x5a ${offsetMib}M ${IO_MIB}M`;
    const out = execFileSync('qemu-io', ['-c', cmd, ...target], { encoding: 'utf8' });
    if (/verification failed/.test(out)) throw new Error(`qemu-io: ${out}`);
    const m = /\(([0-9.]+) (KiB|MiB|GiB)\/sec/.exec(out);
    if (!m) throw new Error(`qemu-io said: ${out}`);
    rates.push(Number(m[1]) * (m[2] === 'GiB' ? 1024 : m[2] === 'KiB' ? 1 / 1024 : 1));
  }
  return rates.sort((a, b) => a - b)[1]!;
}

const KEY = randomBytes(32).toString('hex');
const INITIATOR = 'iqn.2026-12.org.hil:bench';

function startNbd(backend: StorageBackend, key: string, port: number, dir: string): Promise<{ stop(): Promise<void> }> {
  return backend.diskBlockdev(key).then((blockdev) => NbdServer.start({ name: key, blockdev, address: '127.0.0.1', port, identity: 'bench', psk: KEY, runDir: join(dir, 'run') }, signal()));
}

function startIscsi(backend: StorageBackend, key: string, port: number, dir: string): Promise<{ stop(): Promise<void> }> {
  return backend
    .diskBlockdev(key)
    .then((blockdev) => IscsiServer.start({ name: key, blockdev, address: '127.0.0.1', port, initiator: INITIATOR, user: 'bench', secret: KEY, runDir: join(dir, 'run') }, signal()));
}

/** The qemu-io arguments that log in to the export's target as the node would (the CHAP secret in a file). */
function iscsiTarget(port: number, key: string, dir: string): string[] {
  const secretDir = mkdtempSync(join(dir, 'chap-'));
  writeFileSync(join(secretDir, 'secret'), KEY, { mode: 0o600 });
  const dev = { driver: 'iscsi', transport: 'tcp', portal: `127.0.0.1:${port}`, target: targetIqn(key), lun: 1, 'initiator-name': INITIATOR, user: 'bench', 'password-secret': 'chap0' };
  return ['--object', `secret,id=chap0,file=${join(secretDir, 'secret')}`, `json:${JSON.stringify(dev)}`];
}

/** Start time (5 starts) and throughput of one kind of export, against the disk opened locally afterwards. */
async function measureExport(
  name: string,
  kind: string,
  start: (port: number) => Promise<{ stop(): Promise<void> }>,
  client: (port: number) => string[],
  local: () => Promise<string[]>,
): Promise<ExportResult> {
  const starts: number[] = [];
  let server: { stop(): Promise<void> } | undefined;
  let port = 0;
  for (let i = 0; i < 5; i++) {
    port = await freePort();
    const t0 = performance.now();
    server = await start(port);
    starts.push(performance.now() - t0);
    if (i < 4) await server.stop();
  }
  log(`${name}: ${kind} throughput over ${IO_MIB} MiB`);
  const write = { exported: throughput(client(port), 'write', 0), local: 0 };
  const read = { exported: throughput(client(port), 'read', 0), local: 0 };
  await server!.stop();
  // The same disk, opened by qemu-io itself: a fresh range for the write, the one the export wrote for the read.
  write.local = throughput(await local(), 'write', IO_MIB);
  read.local = throughput(await local(), 'read', 0);
  return { start: percentiles(starts), write, read };
}

async function measure(name: string, backend: StorageBackend, dir: string, prefix: string): Promise<BackendResult> {
  const img = (n: string) => `${prefix}.img.${n}`;
  const disk = (n: string) => `${prefix}.disk.${n}`;
  await backend.check(signal());
  const clone: Record<number, Percentiles> = {};
  for (const size of SIZES_MIB) {
    log(`${name}: importing a ${size} MiB golden image`);
    await backend.importImage(img(`${size}`), { path: golden(dir, size), format: 'qcow2' }, signal());
    const samples: number[] = [];
    for (let i = 0; i < ROUNDS; i++) samples.push(await timed(() => backend.cloneDisk(img(`${size}`), disk(`${size}${i}`), signal())));
    clone[size] = percentiles(samples);
    log(`${name}: clone of ${size} MiB: p50 ${clone[size]!.p50.toFixed(1)} ms`);
  }
  const snaps: number[] = [];
  for (let i = 0; i < Math.min(ROUNDS, 10); i++) {
    const d = disk(`100${i}`);
    if (!ioBlockdev(await backend.diskBlockdev(d), ['write -P 0x11 0 1M']).ok) throw new Error('write before snapshot failed');
    snaps.push(await timed(() => backend.snapshotDisk(d, img(`s${i}`), { signal: signal() })));
  }
  const snapshot = percentiles(snaps);
  log(`${name}: snapshot p50 ${snapshot.p50.toFixed(1)} ms`);

  const target = disk('999999'); // keys carry numeric ids
  await backend.cloneDisk(img('2048'), target, signal());
  const local = async () => [`json:${JSON.stringify(await backend.diskBlockdev(target))}`];
  const nbd = await measureExport(name, 'nbd', (port) => startNbd(backend, target, port, dir), (port) => nbdTarget({ host: '127.0.0.1', port, export: target, identity: 'bench', key: KEY }, dir), local);
  const iscsi = await measureExport(name, 'iscsi', (port) => startIscsi(backend, target, port, dir), (port) => iscsiTarget(port, target, dir), local);
  const listed = await backend.list(`${prefix}.`, signal());
  // Snapshots first (on rbd they hang from their disks), then the disks, then the golden bases.
  const snapshotsFirst = [...listed.images].sort((a, b) => Number(b.includes('.img.s')) - Number(a.includes('.img.s')));
  for (const i of snapshotsFirst.filter((k) => k.includes('.img.s'))) await backend.deleteImage(i, signal());
  for (const d of listed.disks) await backend.deleteDisk(d, signal());
  for (const i of snapshotsFirst.filter((k) => !k.includes('.img.s'))) await backend.deleteImage(i, signal());
  return { backend: name, clone, snapshot, nbd, iscsi };
}

const f1 = (x: number) => (x < 10 ? x.toFixed(1) : x.toFixed(0));

function table(results: BackendResult[]): string {
  const ratio = (x: Throughput) => `${f1(x.exported)} vs ${f1(x.local)} (${(x.exported / x.local).toFixed(2)})`;
  const clones = results.map((r) => {
    const c = (s: number) => `${f1(r.clone[s]!.p50)} / ${f1(r.clone[s]!.p90)}`;
    return `| ${r.backend} | ${c(100)} | ${c(2048)} | ${f1(r.snapshot.p50)} / ${f1(r.snapshot.p90)} |`;
  });
  const exports = results.flatMap((r) =>
    (['nbd', 'iscsi'] as const).map((k) => `| ${r.backend} | ${k === 'nbd' ? 'NBD, TLS-PSK' : 'iSCSI, CHAP'} | ${f1(r[k].start.p50)} | ${ratio(r[k].write)} | ${ratio(r[k].read)} |`),
  );
  return [
    '| backend | clone 100 MiB p50 / p90 ms | clone 2 GiB p50 / p90 ms | snapshot p50 / p90 ms |',
    '|---|---|---|---|',
    ...clones,
    '',
    '| backend | export | start p50 ms | sequential write MiB/s: export vs local (ratio) | sequential read MiB/s: export vs local (ratio) |',
    '|---|---|---|---|---|',
    ...exports,
  ].join('\n');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hil-bench-disks-'));
  const results: BackendResult[] = [];
  const skipped: string[] = [];
  const started = machineLine();
  try {
    results.push(await measure('local (qcow2 files)', localBackend({ dir: join(dir, 'local'), timeoutMs: 300_000 }), dir, 'bench'));
    if (findCephBins() && spawnSync('rbd', ['--version']).status === 0) {
      log('starting a single-node Ceph');
      const ceph = await startCeph();
      try {
        results.push(await measure('rbd (Ceph, 1 OSD)', rbdBackend({ pool: ceph.pool, conf: ceph.conf, id: ceph.clientId, timeoutMs: 300_000 }), dir, `bench${randomBytes(2).toString('hex')}`));
      } finally {
        ceph.stop();
      }
    } else skipped.push('rbd: Ceph is not installed here');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const body = [
    `Machine: ${started}. Revision ${revision(ROOT)}. ${ROUNDS} rounds; sequential throughput: one ${IO_MIB} MiB write and read (\`qemu-io\`, median of 3), through each export on loopback and on the same disk opened locally afterwards.`,
    '',
    table(results),
    ...(skipped.length ? ['', `Not run: ${skipped.join('; ')}.`] : []),
  ].join('\n');
  process.stdout.write(`${body}\n`);
  if (values['write-docs']) replaceDocsBlock(join(ROOT, 'docs', 'benchmarks.md'), { name: 'disks', command: 'npm run bench:disks -- --write-docs', heading: 'Disks: clones, snapshots, exports', body });
}

await main();
