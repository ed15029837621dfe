/**
 * client.image against a real server on a socket: typed calls, uploads from
 * buffers and streams, streamed downloads, and the server's errors (413
 * included) as HilApiError.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { testDatabases } from '../support/databases.ts';
import { NO_DISK } from '../support/fixtures.ts';
import { addUser, withHil } from '../support/hil.ts';
import { HilApiError, HilClient } from '../../src/client/index.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

/** The client takes and gives web streams; these tests have Node ones. */
const web = (r: Readable) => Readable.toWeb(r) as ReadableStream<Uint8Array>;

async function bytes(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

for (const database of testDatabases()) {
  describe(`client.image on ${database.name}`, { skip: database.skip }, () => {
    it('creates, uploads (buffer and stream), shows, lists, downloads and deletes; errors are HilApiError', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hil-images-'));
      try {
        await withHil(database, { auth: 'database', config: (c) => ((c.images.dir = dir), (c.images.max_file_mib = 1)) }, async (t) => {
          await addUser(t, 'root', 'root-pw', true);
          const endpoint = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
          const c = new HilClient({ endpoint, username: 'root', password: 'root-pw' });

          await c.image.create('debian', { cmdline: 'console=ttyS0', public: true });
          const kernel = randomBytes(200_000);
          assert.deepEqual(await c.image.upload('debian', 'kernel', kernel), { sha256: sha(kernel), size: kernel.length });
          const initrd = randomBytes(300_000);
          const streamed = await c.image.upload('debian', 'initrd', web(Readable.from([initrd.subarray(0, 100_000), initrd.subarray(100_000)])));
          assert.deepEqual(streamed, { sha256: sha(initrd), size: initrd.length });

          const img = await c.image.show('debian');
          assert.deepEqual(img, {
            name: 'debian',
            project: 'admin',
            public: true,
            cmdline: 'console=ttyS0',
            format: 'kexec',
            kernel: { sha256: sha(kernel), size: kernel.length },
            initrd: streamed,
            rootfs: null,
            ...NO_DISK,
          });
          assert.deepEqual(await c.image.list(), ['debian']);

          const down = await c.image.download('debian', 'initrd');
          assert.equal(down.sha256, sha(initrd));
          assert.equal(down.size, initrd.length);
          assert.ok((await bytes(Readable.fromWeb(down.body as NodeReadableStream<Uint8Array>))).equals(initrd));

          // Too large, with its length known (refused before it is sent) and without (refused on the way).
          const big = randomBytes(MiB + 1);
          for (const data of [randomBytes(32 * MiB), web(Readable.from([big]))]) {
            const err = await c.image.upload('debian', 'rootfs', data).catch((e: unknown) => e);
            assert.ok(err instanceof HilApiError, String(err));
            assert.equal(err.type, 'TooLargeError');
            assert.equal(err.status, 413);
          }
          const withLength = await c.image.upload('debian', 'rootfs', web(Readable.from([big])), { length: big.length }).catch((e: unknown) => e);
          assert.ok(withLength instanceof HilApiError && withLength.status === 413, String(withLength));
          assert.equal((await c.image.show('debian')).rootfs, null);

          const missing = await c.image.download('debian', 'rootfs').catch((e: unknown) => e);
          assert.ok(missing instanceof HilApiError);
          assert.deepEqual([missing.type, missing.status, missing.message], ['NotFoundError', 404, 'Image "debian" has no rootfs.']);

          // A client that hangs up mid-upload leaves nothing behind.
          await new Promise<void>((resolve) => {
            const req = request(`${endpoint}/v0/image/debian/rootfs`, {
              method: 'PUT',
              headers: { 'content-type': 'application/octet-stream', 'content-length': String(500_000), authorization: 'Basic ' + Buffer.from('root:root-pw').toString('base64') },
            });
            req.on('error', () => resolve());
            req.write(randomBytes(100_000), () => setTimeout(() => (req.destroy(), resolve()), 50));
          });
          const deadline = Date.now() + 5000;
          while (readdirSync(join(dir, 'sha256')).some((n) => n.startsWith('.tmp-'))) {
            assert.ok(Date.now() < deadline, 'the temporary file of the aborted upload is still there');
            await new Promise((r) => setTimeout(r, 10));
          }
          assert.equal((await c.image.show('debian')).rootfs, null);

          await c.image.delete('debian');
          assert.deepEqual(await c.image.list(), []);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
