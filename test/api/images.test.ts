/**
 * The image registry over HTTP (docs/images.md): create, upload, show, list,
 * download, delete; content addressing and garbage collection in the blob
 * store; limits and validation; "in use" through a real foreign key; and
 * findDeployable for the provisioning service. Real SQLite and PostgreSQL.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { testDatabases, type TestDatabase } from '../support/databases.ts';
import { addUser, withHil, type Credentials, type TestHil, type TestHilOptions } from '../support/hil.ts';
import { assertEmptyOk, assertError, NO_DISK } from '../support/fixtures.ts';
import { findDeployable } from '../../src/images/image-rules.ts';
import { BadArgumentError, NotFoundError } from '../../src/errors.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

/** A HIL whose image store is a fresh directory (removed afterwards). */
async function withImages(database: TestDatabase, o: TestHilOptions, fn: (t: TestHil, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hil-images-'));
  try {
    await withHil(database, { ...o, config: (c) => ((c.images.dir = dir), o.config?.(c)) }, (t) => fn(t, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function authHeader(creds?: Credentials): Record<string, string> {
  return creds ? { authorization: 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } : {};
}

async function upload(t: TestHil, name: string, part: string, data: Buffer | Readable, o: { creds?: Credentials; headers?: Record<string, string> } = {}) {
  const res = await t.hil.app!.inject({
    method: 'PUT',
    url: `/v0/image/${name}/${part}`,
    headers: { 'content-type': 'application/octet-stream', ...authHeader(o.creds), ...o.headers },
    payload: data,
  });
  let body: any = res.body;
  try {
    body = JSON.parse(res.body);
  } catch {
    // not JSON
  }
  return { status: res.statusCode, body, text: res.body, headers: res.headers };
}

async function download(t: TestHil, name: string, part: string) {
  const res = await t.hil.app!.inject({ method: 'GET', url: `/v0/image/${name}/${part}` });
  return { status: res.statusCode, bytes: res.rawPayload, headers: res.headers, text: res.body };
}

/** Blob files in the store, and temporary files left over. */
function storeFiles(dir: string): { blobs: string[]; temporaries: string[] } {
  const d = join(dir, 'sha256');
  const names = existsSync(d) ? readdirSync(d) : [];
  return { blobs: names.filter((n) => /^[0-9a-f]{64}$/.test(n)).sort(), temporaries: names.filter((n) => n.startsWith('.tmp-')) };
}

async function imageRow(t: TestHil, name: string) {
  return t.hil.store.db.selectFrom('image').selectAll().where('label', '=', name).executeTakeFirst();
}

for (const database of testDatabases()) {
  describe(`images on ${database.name}`, { skip: database.skip }, () => {
    it('create, upload, show, list, download and delete', () =>
      withImages(database, {}, async (t, dir) => {
        const api = t.as();
        assertEmptyOk(await api('PUT', '/v0/image/debian-12', { cmdline: 'console=ttyS0 quiet' }));
        assert.deepEqual((await api('GET', '/v0/image/debian-12')).body, {
          name: 'debian-12',
          project: 'admin',
          public: false,
          cmdline: 'console=ttyS0 quiet',
          format: 'kexec',
          kernel: null,
          initrd: null,
          rootfs: null,
          ...NO_DISK,
        });

        const kernel = randomBytes(300 * 1024);
        const initrd = randomBytes(5000);
        const up = await upload(t, 'debian-12', 'kernel', kernel);
        assert.equal(up.status, 200, up.text);
        assert.deepEqual(up.body, { sha256: sha(kernel), size: kernel.length });
        assert.deepEqual((await upload(t, 'debian-12', 'initrd', initrd)).body, { sha256: sha(initrd), size: initrd.length });
        // A stream without Content-Length (chunked) works as well.
        const rootfs = randomBytes(200 * 1024);
        assert.deepEqual((await upload(t, 'debian-12', 'rootfs', Readable.from([rootfs.subarray(0, 1000), rootfs.subarray(1000)]))).body, {
          sha256: sha(rootfs),
          size: rootfs.length,
        });

        const shown = (await api('GET', '/v0/image/debian-12')).body;
        assert.deepEqual(shown.kernel, { sha256: sha(kernel), size: kernel.length });
        assert.deepEqual(shown.initrd, { sha256: sha(initrd), size: initrd.length });
        assert.deepEqual(shown.rootfs, { sha256: sha(rootfs), size: rootfs.length });
        assert.deepEqual(storeFiles(dir), { blobs: [sha(kernel), sha(initrd), sha(rootfs)].sort(), temporaries: [] });

        const got = await download(t, 'debian-12', 'kernel');
        assert.equal(got.status, 200);
        assert.ok(got.bytes.equals(kernel), 'the kernel comes back byte for byte');
        assert.equal(got.headers['content-type'], 'application/octet-stream');
        assert.equal(Number(got.headers['content-length']), kernel.length);
        assert.equal(got.headers.etag, `"${sha(kernel)}"`);
        assert.equal(got.headers['x-hil-sha256'], sha(kernel));

        assertEmptyOk(await api('PUT', '/v0/image/alpine', {}));
        assertError(await download(t, 'alpine', 'initrd').then((r) => ({ ...r, body: JSON.parse(r.text) })), 404, 'NotFoundError', 'Image "alpine" has no initrd.');
        assert.deepEqual((await api('GET', '/v0/images')).body, ['alpine', 'debian-12']);

        assertEmptyOk(await api('DELETE', '/v0/image/debian-12'));
        assertError(await api('GET', '/v0/image/debian-12'), 404, 'NotFoundError', 'Image "debian-12" does not exist.');
        assert.deepEqual((await api('GET', '/v0/images')).body, ['alpine']);
        assert.deepEqual(storeFiles(dir), { blobs: [], temporaries: [] }, 'deleting the image removed its files');
        assertError(await api('DELETE', '/v0/image/debian-12'), 404, 'NotFoundError');
      }));

    it('stores equal files once, and removes a file when the last image naming it lets go', () =>
      withImages(database, {}, async (t, dir) => {
        const api = t.as();
        const a = randomBytes(4096);
        const b = randomBytes(4096);
        for (const name of ['one', 'two']) assertEmptyOk(await api('PUT', `/v0/image/${name}`));
        await upload(t, 'one', 'kernel', a);
        await upload(t, 'two', 'kernel', a);
        assert.deepEqual(storeFiles(dir).blobs, [sha(a)]);

        // Replacing one's kernel keeps a (two still names it) ...
        assert.deepEqual((await upload(t, 'one', 'kernel', b)).body, { sha256: sha(b), size: b.length });
        assert.deepEqual(storeFiles(dir).blobs, [sha(a), sha(b)].sort());
        // ... replacing two's removes it.
        await upload(t, 'two', 'kernel', b);
        assert.deepEqual(storeFiles(dir), { blobs: [sha(b)], temporaries: [] });
        // The same file under two parts of one image: one blob, kept until both parts let go.
        await upload(t, 'one', 'initrd', b);
        assertEmptyOk(await api('DELETE', '/v0/image/two'));
        assert.deepEqual(storeFiles(dir).blobs, [sha(b)]);
        const replacement = randomBytes(10);
        await upload(t, 'one', 'kernel', replacement);
        assert.deepEqual(storeFiles(dir).blobs, [sha(b), sha(replacement)].sort());
        assert.ok((await download(t, 'one', 'initrd')).bytes.equals(b));
      }));

    it('refuses a file over images.max_file_mib with 413, storing nothing and changing nothing', () =>
      withImages(database, { config: (c) => void (c.images.max_file_mib = 1) }, async (t, dir) => {
        const api = t.as();
        assertEmptyOk(await api('PUT', '/v0/image/small'));
        const fits = randomBytes(MiB);
        assert.equal((await upload(t, 'small', 'kernel', fits)).status, 200);
        const before = await imageRow(t, 'small');

        // Declared too large (Content-Length): refused before reading.
        const tooBig = randomBytes(MiB + 1);
        const declared = await upload(t, 'small', 'kernel', tooBig);
        assertError(declared, 413, 'TooLargeError', 'The kernel is larger than the limit of 1 MiB (images.max_file_mib).');
        assert.equal(declared.headers.connection, 'close');
        // Streamed without a length: refused when the limit is passed.
        const streamed = await upload(t, 'small', 'initrd', Readable.from([randomBytes(MiB), randomBytes(10)]));
        assertError(streamed, 413, 'TooLargeError', /The initrd is larger than the limit of 1 MiB/);

        assert.deepEqual(await imageRow(t, 'small'), before, 'the image is as it was');
        assert.deepEqual(storeFiles(dir), { blobs: [sha(fits)], temporaries: [] }, 'no temporary file, no new blob');
      }));

    it('answers 400 with a clear message for bad names, parts, command lines and bodies', () =>
      withImages(database, {}, async (t) => {
        const api = t.as();
        const name = /Invalid image name ".*": use 1 to 64 letters, digits, "\.", "_" or "-", starting with a letter or digit\./;
        for (const bad of ['-dash', '.hidden', 'a b', 'x'.repeat(65), 'ü', 'a%2Fb', '_x']) {
          assertError(await api('PUT', `/v0/image/${encodeURIComponent(bad)}`), 400, 'BadArgumentError', name);
        }
        assertEmptyOk(await api('PUT', `/v0/image/${'x'.repeat(64)}`));
        assertEmptyOk(await api('PUT', '/v0/image/Ubuntu_22.04-lts'));

        assertError(await api('PUT', '/v0/image/nl', { cmdline: 'console=ttyS0\ninit=/bin/sh' }), 400, 'BadArgumentError', 'cmdline must be one line of printable text: no newlines or other control characters.');
        assertError(await api('PUT', '/v0/image/cr', { cmdline: 'a\rb' }), 400, 'BadArgumentError');
        assertError(await api('PUT', '/v0/image/long', { cmdline: 'x'.repeat(4097) }), 400, 'BadArgumentError', 'cmdline is 4097 characters long; at most 4096 are allowed.');
        assertEmptyOk(await api('PUT', '/v0/image/longest', { cmdline: 'x'.repeat(4096) }));
        assertError(await api('PUT', '/v0/image/typed', { cmdline: 5 }), 400, 'ValidationError');
        assertError(await api('PUT', '/v0/image/extra', { owner: 'admin' }), 400, 'ValidationError');
        assertError(await api('PUT', '/v0/image/longest'), 409, 'DuplicateError', 'Image "longest" already exists.');
        assertError(await api('PUT', '/v0/image/nowhere', { project: 'nowhere' }), 404, 'NotFoundError', 'Project "nowhere" does not exist.');

        assertError(await upload(t, 'longest', 'bootloader', randomBytes(10)), 400, 'BadArgumentError', 'Unknown image part "bootloader": use kernel, initrd, rootfs or disk.');
        assertError(await api('GET', '/v0/image/longest/bootloader'), 400, 'BadArgumentError', 'Unknown image part "bootloader": use kernel, initrd, rootfs or disk.');
        assertError(await api('PUT', '/v0/image/longest/kernel', { data: 'x' }), 400, 'ValidationError', 'Send the file as the request body, with Content-Type: application/octet-stream.');
        assertError(await upload(t, 'missing', 'kernel', randomBytes(10)), 404, 'NotFoundError', 'Image "missing" does not exist.');
        assertError(await api('PATCH', '/v0/image/longest'), 405, 'MethodNotAllowedError');
        assert.equal((await api('GET', '/v0/image/longest')).body.cmdline.length, 4096);
      }));

    it('an image another table references is in use: neither deleted nor changed (409) until it lets go', () =>
      withImages(database, {}, async (t, dir) => {
        const api = t.as();
        const db = t.hil.store.db;
        assertEmptyOk(await api('PUT', '/v0/image/busy'));
        const kernel = randomBytes(100);
        await upload(t, 'busy', 'kernel', kernel);
        // Stands in for node_provisioning.image_id (src/provisioning).
        await db.schema.createTable('test_image_user').addColumn('image_id', 'bigint', (c) => c.references('image.id')).execute();
        const { id } = (await imageRow(t, 'busy'))!;
        await (db as any).insertInto('test_image_user').values({ image_id: id }).execute();

        assertError(await api('DELETE', '/v0/image/busy'), 409, 'BlockedError', 'Image "busy" is in use.');
        assertError(await upload(t, 'busy', 'initrd', randomBytes(100)), 409, 'BlockedError', 'Image "busy" is in use.');
        assert.equal((await api('GET', '/v0/image/busy')).body.initrd, null);
        assert.deepEqual(storeFiles(dir), { blobs: [sha(kernel)], temporaries: [] });

        await (db as any).deleteFrom('test_image_user').execute();
        assert.equal((await upload(t, 'busy', 'initrd', randomBytes(100))).status, 200);
        assertEmptyOk(await api('DELETE', '/v0/image/busy'));
        assert.deepEqual(storeFiles(dir).blobs, []);
      }));

    it('a project that owns images cannot be deleted', () =>
      withImages(database, {}, async (t) => {
        const api = t.as();
        assertEmptyOk(await api('PUT', '/v0/project/runway'));
        assertEmptyOk(await api('PUT', '/v0/image/runway-os', { project: 'runway' }));
        assert.equal((await api('GET', '/v0/image/runway-os')).body.project, 'runway');
        assertError(await api('DELETE', '/v0/project/runway'), 409, 'BlockedError', 'Project still has images');
        assertEmptyOk(await api('DELETE', '/v0/image/runway-os'));
        assertEmptyOk(await api('DELETE', '/v0/project/runway'));
      }));

    it('without required authentication, anonymous callers see public images only and change nothing', () =>
      withImages(database, { auth: 'database', config: (c) => void (c.auth.require_authentication = false) }, async (t) => {
        const root = await addUser(t, 'root', 'root-pw', true);
        const admin = t.as(root);
        const anon = t.as();
        assertEmptyOk(await admin('PUT', '/v0/image/pub', { public: true }));
        assertEmptyOk(await admin('PUT', '/v0/image/priv'));
        await upload(t, 'pub', 'kernel', randomBytes(10), { creds: root });
        assert.deepEqual((await anon('GET', '/v0/images')).body, ['pub']);
        assert.equal((await anon('GET', '/v0/image/pub')).status, 200);
        assert.equal((await download(t, 'pub', 'kernel')).status, 200);
        assertError(await anon('GET', '/v0/image/priv'), 404, 'NotFoundError', 'Image "priv" does not exist.');
        assertError(await anon('PUT', '/v0/image/mine'), 401, 'AuthorizationError');
        assertError(await upload(t, 'pub', 'kernel', randomBytes(10)), 401, 'AuthorizationError');
        assertError(await anon('DELETE', '/v0/image/pub'), 401, 'AuthorizationError');
      }));

    it('tenants: another project\'s private image answers exactly as a missing one; refusals say why', () =>
      withImages(database, { auth: 'database' }, async (t) => {
        const root = await addUser(t, 'root', 'root-pw', true);
        const admin = t.as(root);
        for (const p of ['runway', 'manhattan']) assertEmptyOk(await admin('PUT', `/v0/project/${p}`));
        const alice = await addUser(t, 'alice', 'alice-pw', false, ['runway']);
        const bob = t.as(await addUser(t, 'bob', 'bob-pw', false, ['manhattan']));
        assertEmptyOk(await t.as(alice)('PUT', '/v0/image/secret', { project: 'runway' }));
        await upload(t, 'secret', 'kernel', randomBytes(10), { creds: alice });

        const hidden = [await bob('GET', '/v0/image/secret'), await bob('DELETE', '/v0/image/secret'), await upload(t, 'secret', 'initrd', randomBytes(10), { creds: { username: 'bob', password: 'bob-pw' } })];
        const missing = [await bob('GET', '/v0/image/nothing'), await bob('DELETE', '/v0/image/nothing'), await upload(t, 'nothing', 'initrd', randomBytes(10), { creds: { username: 'bob', password: 'bob-pw' } })];
        for (const [i, r] of hidden.entries()) {
          assertError(r, 404, 'NotFoundError', 'Image "secret" does not exist.');
          assert.equal(missing[i].body.msg.replace('nothing', 'secret'), r.body.msg);
        }
        const dl = await t.hil.app!.inject({ method: 'GET', url: '/v0/image/secret/kernel', headers: authHeader({ username: 'bob', password: 'bob-pw' }) });
        assert.equal(dl.statusCode, 404);

        assertError(await t.as(alice)('PUT', '/v0/image/loud', { project: 'runway', public: true }), 401, 'AuthorizationError', 'Only administrators may make an image public.');
        assertError(await t.as(alice)('PUT', '/v0/image/theirs', { project: 'manhattan' }), 401, 'AuthorizationError', 'You do not have access to the required project.');
        assertError(await t.as(alice)('PUT', '/v0/image/nobody'), 401, 'AuthorizationError', 'Only administrators may create admin-owned images; give "project": one of your projects.');
        assert.deepEqual((await bob('GET', '/v0/images')).body, []);
      }));

    it('findDeployable: the project\'s own and public images with a kernel; null is an admin\'s deploy', () =>
      withImages(database, {}, async (t) => {
        const api = t.as();
        for (const p of ['runway', 'manhattan']) assertEmptyOk(await api('PUT', `/v0/project/${p}`));
        assertEmptyOk(await api('PUT', '/v0/image/runway-os', { project: 'runway', cmdline: 'console=ttyS0' }));
        assertEmptyOk(await api('PUT', '/v0/image/pub-os', { public: true }));
        assertEmptyOk(await api('PUT', '/v0/image/admin-os'));
        assertEmptyOk(await api('PUT', '/v0/image/empty', { project: 'runway' }));
        const kernel = randomBytes(64);
        const initrd = randomBytes(32);
        for (const name of ['runway-os', 'pub-os', 'admin-os']) await upload(t, name, 'kernel', kernel);
        await upload(t, 'runway-os', 'initrd', initrd);

        const db = t.hil.store.db;
        const projectId = async (label: string) => (await db.selectFrom('project').select('id').where('label', '=', label).executeTakeFirstOrThrow()).id;
        const [runway, manhattan] = [await projectId('runway'), await projectId('manhattan')];
        const find = (project: number | null, name: string) => db.transaction().execute((tx) => findDeployable(tx, project, name));

        const img = await find(runway, 'runway-os');
        assert.deepEqual(img, {
          id: (await imageRow(t, 'runway-os'))!.id,
          name: 'runway-os',
          cmdline: 'console=ttyS0',
          kernel: { sha256: sha(kernel), size: 64 },
          initrd: { sha256: sha(initrd), size: 32 },
          rootfs: null,
        });
        assert.equal(t.hil.blobs.path(img.kernel.sha256).endsWith(`/sha256/${sha(kernel)}`), true);
        assert.equal((await find(manhattan, 'pub-os')).name, 'pub-os');
        await assert.rejects(find(manhattan, 'runway-os'), (e: Error) => e instanceof NotFoundError && e.message === 'Image "runway-os" does not exist.');
        await assert.rejects(find(runway, 'admin-os'), NotFoundError);
        await assert.rejects(find(runway, 'nothing'), NotFoundError);
        await assert.rejects(find(runway, 'empty'), (e: Error) => e instanceof BadArgumentError && /has no kernel yet/.test(e.message));
        assert.equal((await find(null, 'admin-os')).name, 'admin-os');
      }));
  });
}
