/** The content-addressed blob store on a real directory: hashing, limits, holds and collection. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { BlobStore, BlobTooLargeError } from '../../src/images/blob-store.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function withStore(fn: (s: BlobStore, dir: string) => Promise<void>, maxFileBytes?: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hil-blobs-'));
  try {
    await fn(new BlobStore(dir, { maxFileBytes }), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('blob store', () => {
  it('stores a stream under its SHA-256, once, privately', () =>
    withStore(async (s, dir) => {
      const data = randomBytes(100_000);
      const a = await s.put(Readable.from([data.subarray(0, 7), data.subarray(7)]));
      assert.deepEqual([a.sha256, a.size], [sha(data), data.length]);
      assert.equal(s.path(a.sha256), join(dir, 'sha256', sha(data)));
      assert.ok(readFileSync(s.path(a.sha256)).equals(data));
      assert.equal(statSync(s.path(a.sha256)).mode & 0o777, 0o600);
      assert.equal(await s.has(a.sha256), true);
      assert.equal(await s.has('0'.repeat(64)), false);
      const again = await s.put(Readable.from([data]));
      assert.equal(again.sha256, a.sha256);
      assert.deepEqual(await s.list(), [sha(data)]);
      assert.throws(() => s.path('../../etc/passwd'), /not a SHA-256/);
      assert.throws(() => s.path('A'.repeat(64)), /not a SHA-256/);
    }));

  it('over the limit: BlobTooLargeError, no file left, and the source is not destroyed', () =>
    withStore(async (s) => {
      const source = new PassThrough();
      source.write(randomBytes(600));
      source.write(randomBytes(600));
      await assert.rejects(s.put(source, 1000), (e: Error) => e instanceof BlobTooLargeError && e.limitBytes === 1000);
      assert.equal(source.destroyed, false);
      assert.deepEqual(await s.list(), []);
      assert.deepEqual(await s.temporaries(), []);
      // A source that fails midway leaves nothing either.
      const failing = new Readable({ read() {} });
      failing.push(Buffer.from('partial'));
      setImmediate(() => failing.destroy(new Error('client went away')));
      await assert.rejects(s.put(failing), /client went away/);
      assert.deepEqual(await s.temporaries(), []);
    }, 1000));

  it('collects unreferenced blobs, never one an upload holds, nor one a racing upload took meanwhile', () =>
    withStore(async (s) => {
      const x = randomBytes(10);
      const held = await s.put(Readable.from([x]));
      assert.deepEqual(await s.collect([held.sha256], async () => false), [], 'held');
      held.release();
      held.release(); // twice is harmless
      assert.deepEqual(await s.collect([held.sha256], async () => true), [], 'referenced');

      // While collection asks whether it is referenced, another upload of the same bytes completes.
      let racing: Awaited<ReturnType<BlobStore['put']>> | undefined;
      const removed = await s.collect([held.sha256], async () => {
        racing = await s.put(Readable.from([x]));
        racing.release();
        return false;
      });
      assert.deepEqual(removed, [], 'the racing upload keeps it');
      assert.equal(await s.has(held.sha256), true);

      assert.deepEqual(await s.collect([held.sha256, held.sha256], async () => false), [held.sha256]);
      assert.equal(await s.has(held.sha256), false);
      assert.deepEqual(await s.collect([held.sha256], async () => false), [], 'already gone');
    }));

  it('removes temporary files older than asked, only', () =>
    withStore(async (s, dir) => {
      await s.put(Readable.from([Buffer.from('x')]));
      const old = join(dir, 'sha256', '.tmp-old');
      const fresh = join(dir, 'sha256', '.tmp-fresh');
      writeFileSync(old, 'a');
      writeFileSync(fresh, 'b');
      utimesSync(old, new Date(Date.now() - 7200_000), new Date(Date.now() - 7200_000));
      assert.equal(await s.removeStaleTemporaries(3600_000), 1);
      assert.deepEqual(await s.temporaries(), ['.tmp-fresh']);
      assert.equal((await s.list()).length, 1);
    }));
});
