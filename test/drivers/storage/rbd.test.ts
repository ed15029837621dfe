/**
 * The rbd backend against a real Ceph: the one single-node cluster the
 * global setup started (test/support/ceph.ts), shared by every test file, so
 * each test here works under its own key prefix. Data is checked by reading
 * it back with qemu-io through the backend's own blockdev descriptions.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rbdBackend } from '../../../src/drivers/storage/rbd.ts';
import type { BlockdevOptions, StorageBackend } from '../../../src/drivers/storage/interface.ts';
import { freePort } from '../../../src/lab/system.ts';
import { diskSkipReason } from '../../support/disks.ts';
import { start, until } from '../../support/processes.ts';
import { ioBlockdev } from '../../support/qemu-io.ts';
import { skipUnless } from '../../support/require.ts';
import { storageContract } from '../../support/storage-contract.ts';

const ceph = {
  conf: process.env.HIL_TEST_CEPH_CONF ?? '',
  pool: process.env.HIL_TEST_CEPH_POOL ?? '',
  id: process.env.HIL_TEST_CEPH_ID ?? '',
};
const skip = skipUnless(
  ceph.conf ? diskSkipReason() : (process.env.HIL_TEST_CEPH_SKIP ?? 'HIL_TEST_CEPH_CONF is not set (run through npm test, whose global setup starts Ceph)'),
);

const signal = () => AbortSignal.timeout(60_000);
const backend = (): StorageBackend => rbdBackend({ ...ceph, timeoutMs: 30_000 });
/** A key prefix of its own: the cluster is shared with every other test. */
const newPrefix = () => `rbdt${randomBytes(3).toString('hex')}`;

function io(dev: BlockdevOptions, commands: string[], why?: string): void {
  const r = ioBlockdev(dev, commands);
  assert.ok(r.ok, `${why ?? commands.join('; ')}\n${r.output}`);
}

/** A qcow2 of `size` with `byte` in its first MiB. */
function makeQcow2(dir: string, name: string, byte: string, size = '64M'): string {
  const path = join(dir, name);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, size]);
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P ${byte} 0 1M`, path], { stdio: 'ignore' });
  return path;
}

/** What the pool holds under `prefix`, straight from rbd (not from the backend under test). */
function rbdNames(prefix: string): string[] {
  const out = execFileSync('rbd', ['-c', ceph.conf, '--id', ceph.id, 'ls', ceph.pool, '--format', 'json']).toString();
  return (JSON.parse(out) as string[]).filter((n) => n.startsWith(prefix));
}

/** A qemu-storage-daemon holding the disk open (as an export would), serving it over NBD on a unix socket. */
async function holdOpen(dev: BlockdevOptions, dir: string) {
  const socket = join(dir, 'nbd.sock');
  const qsd = start(
    'qemu-storage-daemon',
    [
      '--blockdev',
      JSON.stringify({ 'node-name': 'disk', ...dev }),
      '--nbd-server',
      `addr.type=unix,addr.path=${socket}`,
      '--export',
      'type=nbd,id=e0,node-name=disk,name=disk,writable=on',
    ],
    {},
  );
  await until('the NBD socket', async () => existsSync(socket));
  return {
    nbd: { driver: 'nbd', server: { type: 'unix', path: socket }, export: 'disk' } as BlockdevOptions,
    // SIGTERM, never SIGKILL: a client that dies without closing keeps the image's exclusive lock until Ceph times it out (30 s).
    stop: () => qsd.kill('SIGTERM'),
  };
}

storageContract('rbd', async () => ({ backend: backend() }), { skip });

describe('rbd backend', { skip }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hil-rbd-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('clones, snapshots a disk an export holds open, separates the snapshot, and deletes it all', async () => {
    const b = backend();
    const p = newPrefix();
    const img = (n: number) => `${p}.img.${n}`;
    const disk = (n: number) => `${p}.disk.${n}`;
    await b.check(signal());
    await b.importImage(img(1), { path: makeQcow2(dir, 'golden.qcow2', '0x41'), format: 'qcow2' }, signal());
    await b.cloneDisk(img(1), disk(1), signal());
    await b.cloneDisk(img(1), disk(2), signal());
    io(await b.diskBlockdev(disk(1)), ['read -P 0x41 0 1M', 'write -P 0x11 0 1M'], 'disk 1 reads the base and takes a write');
    io(await b.diskBlockdev(disk(2)), ['write -P 0x22 0 1M']);
    io(await b.diskBlockdev(disk(1)), ['read -P 0x11 0 1M'], 'disk 1 sees only its own write');
    io(await b.diskBlockdev(disk(2)), ['read -P 0x22 0 1M'], 'disk 2 sees only its own write');
    io(await b.imageBlockdev(img(1)), ['read -P 0x41 0 1M'], 'the base is unchanged');

    const held = await holdOpen(await b.diskBlockdev(disk(1)), dir);
    try {
      io(held.nbd, ['write -P 0x12 1M 1M'], 'a write through the export before the snapshot');
      const outcome = await b.snapshotDisk(disk(1), img(2), { signal: signal() });
      assert.deepEqual(outcome, { diskOnImage: false, imageOnDisk: true });
      io(held.nbd, ['write -P 0x13 0 512k', 'read -P 0x12 1M 1M'], 'the export keeps serving, writable, after the snapshot');
    } finally {
      await held.stop();
    }
    await b.cloneDisk(img(2), disk(3), signal());
    io(await b.diskBlockdev(disk(3)), ['read -P 0x11 0 1M', 'read -P 0x12 1M 1M'], "disk 3 has disk 1's content at the snapshot, not the later write");
    await assert.rejects(b.deleteDisk(disk(1), signal()), /still has clones/, 'a disk a snapshot still hangs from is not removed');

    const seen: number[] = [];
    await b.separate!(img(2), disk(1), { progress: (f) => seen.push(f), signal: signal() });
    assert.equal(seen.at(-1), 1, `progress ends at 1 (${seen.join(', ')})`);
    assert.ok(seen.every((f, i) => i === 0 || f >= seen[i - 1]), `progress only grows (${seen.join(', ')})`);
    // Deep flatten: the image's own base no longer needs disk 1, so disk 1 can go while disk 3 hangs from that base.
    await b.deleteDisk(disk(1), signal());
    io(await b.diskBlockdev(disk(3)), ['read -P 0x11 0 1M', 'read -P 0x12 1M 1M'], 'disk 3 reads the same after disk 1 is gone');
    io(await b.imageBlockdev(img(2)), ['read -P 0x11 0 1M'], 'the separated image reads the snapshot');

    await assert.rejects(b.deleteImage(img(2), signal()), /still has clones \(.*\.disk\.3\)/, 'an image with a clone is not removed');
    io(await b.diskBlockdev(disk(3)), ['read -P 0x11 0 1M'], 'the refused delete left the clone intact');
    for (const n of [3, 2]) await b.deleteDisk(disk(n), signal());
    for (const n of [2, 1]) await b.deleteImage(img(n), signal());
    await b.deleteImage(img(1), signal());
    assert.deepEqual(await b.list(p, signal()), { images: [], disks: [] });
    assert.deepEqual(rbdNames(p), []);
  });

  it('deletes a snapshot never separated together with the disk snapshot it hangs from', async () => {
    const b = backend();
    const p = newPrefix();
    await b.importImage(`${p}.img.1`, { path: makeQcow2(dir, 'golden2.qcow2', '0x41'), format: 'qcow2' }, signal());
    await b.cloneDisk(`${p}.img.1`, `${p}.disk.1`, signal());
    await b.snapshotDisk(`${p}.disk.1`, `${p}.img.2`, { signal: signal() });
    await b.deleteImage(`${p}.img.2`, signal());
    const snaps = execFileSync('rbd', ['-c', ceph.conf, '--id', ceph.id, 'snap', 'ls', '--all', '--format', 'json', `${ceph.pool}/${p}.disk.1`]).toString();
    assert.deepEqual(JSON.parse(snaps), [], 'no snapshot is left on the disk');
    await b.deleteDisk(`${p}.disk.1`, signal());
    await b.deleteImage(`${p}.img.1`, signal());
    assert.deepEqual(rbdNames(p), []);
  });

  it('imports again over what an interrupted import left, and a repeat changes nothing', async () => {
    const b = backend();
    const p = newPrefix();
    const key = `${p}.img.1`;
    // An import that died before its base snapshot: other content, no `base`.
    execFileSync('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', makeQcow2(dir, 'stale.qcow2', '0x5a'), `rbd:${ceph.pool}/${key}:id=${ceph.id}:conf=${ceph.conf}`]);
    const golden = makeQcow2(dir, 'golden3.qcow2', '0x41');
    await b.importImage(key, { path: golden, format: 'qcow2' }, signal());
    io(await b.imageBlockdev(key), ['read -P 0x41 0 1M'], 'the import replaced the half-made image');
    await b.cloneDisk(key, `${p}.disk.1`, signal());
    await b.importImage(key, { path: golden, format: 'qcow2' }, signal());
    io(await b.diskBlockdev(`${p}.disk.1`), ['read -P 0x41 0 1M'], 'a repeated import left the clone alone');
    await b.deleteDisk(`${p}.disk.1`, signal());
    await b.deleteImage(key, signal());
    assert.deepEqual(rbdNames(p), []);
  });

  it('clones over a half-made disk, and refuses a disk key that is a clone of another image', async () => {
    const b = backend();
    const p = newPrefix();
    await b.importImage(`${p}.img.1`, { path: makeQcow2(dir, 'golden4.qcow2', '0x41'), format: 'qcow2' }, signal());
    await b.importImage(`${p}.img.2`, { path: makeQcow2(dir, 'other.qcow2', '0x42'), format: 'qcow2' }, signal());
    // A clone interrupted before its parent was attached: an image without one.
    execFileSync('rbd', ['-c', ceph.conf, '--id', ceph.id, 'create', `${ceph.pool}/${p}.disk.1`, '--size', '64M']);
    await b.cloneDisk(`${p}.img.1`, `${p}.disk.1`, signal());
    io(await b.diskBlockdev(`${p}.disk.1`), ['read -P 0x41 0 1M']);
    await assert.rejects(b.cloneDisk(`${p}.img.2`, `${p}.disk.1`, signal()), /exists as a clone of .*\.img\.1@base/);
    await assert.rejects(b.cloneDisk(`${p}.img.9`, `${p}.disk.2`, signal()), /has no base snapshot/);
    await b.deleteDisk(`${p}.disk.1`, signal());
    await b.deleteDisk(`${p}.disk.2`, signal());
    for (const n of [1, 2]) await b.deleteImage(`${p}.img.${n}`, signal());
    assert.deepEqual(rbdNames(p), []);
  });

  it('fails within its timeout, saying what it could not reach, when Ceph does not answer', async () => {
    const port = await freePort(); // nothing listens there
    const conf = join(dir, 'dead.conf');
    writeFileSync(conf, readFileSync(ceph.conf, 'utf8').replace(/^mon host = .*$/m, `mon host = [v2:127.0.0.1:${port}]`));
    const b = rbdBackend({ ...ceph, conf, timeoutMs: 3000 });
    for (const [what, op] of [
      ['check', () => b.check(signal())],
      ['clone', () => b.cloneDisk('x.img.1', 'x.disk.1', signal())],
      ['list', () => b.list('x', signal())],
    ] as const) {
      const t0 = Date.now();
      await assert.rejects(op(), (err: Error) => {
        assert.match(err.message, /couldn't connect to the cluster|timed out/i, `${what}: ${err.message}`);
        if (what === 'check') assert.match(err.message, new RegExp(`pool ${ceph.pool} .*${conf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
        return true;
      });
      assert.ok(Date.now() - t0 < 4000, `${what} gave up in ${Date.now() - t0} ms`);
    }
  });
});
