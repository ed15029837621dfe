/**
 * What every storage backend must do (src/drivers/storage/interface.ts),
 * run against each real backend: local qcow2 files and a real Ceph. Data is
 * checked by reading it back with qemu-io, not by asking the backend.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { StorageBackend } from '../../src/drivers/storage/interface.ts';
import { ioBlockdev } from './qemu-io.ts';

export interface ContractRig {
  backend: StorageBackend;
  cleanup?: () => Promise<void> | void;
}

const signal = () => AbortSignal.timeout(60_000);

/** A small golden qcow2: 0x41 in its first MiB, 0x42 in its second. */
export function makeGolden(dir: string, sizeMib = 64): string {
  const path = join(dir, 'golden.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, `${sizeMib}M`]);
  execFileSync('qemu-io', ['-c', 'write -P 0x41 0 1M', '-c', 'write -P 0x42 1M 1M', '-f', 'qcow2', path], { stdio: 'ignore' });
  return path;
}

export function storageContract(name: string, make: () => Promise<ContractRig>, o: { skip?: string | false } = {}): void {
  describe(`storage backend contract: ${name}`, { skip: o.skip }, () => {
    let rig: ContractRig;
    let dir: string;
    const prefix = `t${randomBytes(3).toString('hex')}`;
    const img = (n: number) => `${prefix}.img.${n}`;
    const disk = (n: number) => `${prefix}.disk.${n}`;

    before(async () => {
      rig = await make();
      dir = mkdtempSync(join(tmpdir(), 'hil-contract-'));
      await rig.backend.check(signal());
      await rig.backend.importImage(img(1), { path: makeGolden(dir), format: 'qcow2' }, signal());
    });
    after(async () => {
      rmSync(dir, { recursive: true, force: true });
      await rig?.cleanup?.();
    });

    it('clones two disks that each see only their own writes, the base unchanged', async () => {
      await rig.backend.cloneDisk(img(1), disk(1), signal());
      await rig.backend.cloneDisk(img(1), disk(2), signal());
      assert.ok(ioBlockdev(await rig.backend.diskBlockdev(disk(1)), ['read -P 0x41 0 1M']).ok, 'a clone reads the golden content');
      assert.ok(ioBlockdev(await rig.backend.diskBlockdev(disk(1)), ['write -P 0x11 0 1M']).ok);
      assert.ok(ioBlockdev(await rig.backend.diskBlockdev(disk(2)), ['write -P 0x22 0 1M']).ok);
      assert.ok(ioBlockdev(await rig.backend.diskBlockdev(disk(1)), ['read -P 0x11 0 1M', 'read -P 0x42 1M 1M']).ok);
      assert.ok(ioBlockdev(await rig.backend.diskBlockdev(disk(2)), ['read -P 0x22 0 1M']).ok);
      assert.ok(ioBlockdev(await rig.backend.imageBlockdev(img(1)), ['read -P 0x41 0 1M']).ok, 'the golden image is unchanged');
    });

    it('is idempotent: a clone or import asked twice ends in the same state', async () => {
      await rig.backend.cloneDisk(img(1), disk(1), signal());
      assert.ok(ioBlockdev(await rig.backend.diskBlockdev(disk(1)), ['read -P 0x11 0 1M']).ok, 'the second clone did not reset the disk');
    });

    it('snapshots a disk into a new image that clones read, while the disk keeps its content and stays writable', async () => {
      const outcome = await rig.backend.snapshotDisk(disk(1), img(2), { signal: signal() });
      await rig.backend.cloneDisk(img(2), disk(3), signal());
      assert.ok(ioBlockdev(await rig.backend.diskBlockdev(disk(3)), ['read -P 0x11 0 1M']).ok, "disk 3 reads disk 1's data");
      assert.ok(ioBlockdev(await rig.backend.diskBlockdev(disk(1)), ['write -P 0x33 0 1M']).ok);
      assert.ok(ioBlockdev(await rig.backend.diskBlockdev(disk(3)), ['read -P 0x11 0 1M']).ok, "a write to disk 1 after the snapshot is not in the snapshot's clone");
      assert.ok(ioBlockdev(await rig.backend.imageBlockdev(img(2)), ['read -P 0x11 0 1M']).ok, 'the snapshot holds what disk 1 had');
      if (outcome.imageOnDisk) {
        assert.ok(rig.backend.separate, 'a backend whose snapshots depend on the disk can separate them');
        const seen: number[] = [];
        await rig.backend.separate(img(2), disk(1), { progress: (f) => seen.push(f), signal: signal() });
        assert.ok(seen.length > 0 && seen.at(-1) === 1, `progress ends at 1 (${seen.join(', ')})`);
      }
    });

    it('deletes and lists by prefix; deleting twice is fine', async () => {
      const listed = await rig.backend.list(prefix, signal());
      assert.deepEqual(listed.disks, [disk(1), disk(2), disk(3)]);
      assert.deepEqual(listed.images, [img(1), img(2)]);
      for (const n of [3, 2, 1]) await rig.backend.deleteDisk(disk(n), signal());
      await rig.backend.deleteDisk(disk(1), signal());
      await rig.backend.deleteImage(img(2), signal());
      await rig.backend.deleteImage(img(1), signal());
      await rig.backend.deleteImage(img(1), signal());
      assert.deepEqual(await rig.backend.list(prefix, signal()), { images: [], disks: [] });
    });
  });
}
