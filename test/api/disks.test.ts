/**
 * Disk images, disks, snapshots and exports through the API, on the local
 * backend and both databases: data is written and read through the real
 * NBD exports (qemu-storage-daemon, TLS-PSK) with qemu-io as the node would,
 * and every refused request is checked to have left nothing in the storage,
 * the blob store or the database.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../support/databases.ts';
import type { Config } from '../../src/config/config.ts';
import { startTestHil, type TestHil } from '../support/hil.ts';
import { assertEmptyOk, assertError, mkNode, mkProject, connectNode } from '../support/fixtures.ts';
import { makeGolden } from '../support/storage-contract.ts';
import { ioBlockdev, ioIscsi, ioNbd } from '../support/qemu-io.ts';
import { skipUnless } from '../support/require.ts';
import { diskConfig, diskDirs, diskSkipReason, freePorts, storageState, uploadDisk, waitFor, waitImageReady, waitServing, type DiskDirs } from '../support/disks.ts';

/** Whether no live process holds the disk's claim (its export stopped, its snapshot done). */
async function claimFree(t: TestHil, disk: string): Promise<boolean> {
  const d = await t.hil.store.db.selectFrom('disk').select('id').where('label', '=', disk).executeTakeFirstOrThrow();
  const c = await t.hil.store.db.selectFrom('claim').select(['holder', 'expires_at']).where('resource', '=', `disk:${d.id}`).executeTakeFirst();
  return !c || c.holder === null || Number(c.expires_at) < Date.now();
}

const skip = skipUnless(diskSkipReason());
const MiB = 1024 * 1024;

function nbd(exp: { host: string; port: number; name: string; identity: string }, key: string) {
  return { host: exp.host, port: exp.port, export: exp.name, identity: exp.identity, key };
}

/** Each storage backend: local qcow2 files, and the test Ceph when the global setup started one. */
const BACKENDS = [
  { name: 'local', skip: undefined as string | undefined, config: (_c: Config) => {} },
  {
    name: 'rbd',
    skip: process.env.HIL_TEST_CEPH_CONF ? undefined : (process.env.HIL_TEST_CEPH_SKIP ?? 'no Ceph cluster (run through npm test)'),
    config: (c: Config) => {
      c.images.backend = 'rbd';
      c.images.rbd = { pool: process.env.HIL_TEST_CEPH_POOL!, conf: process.env.HIL_TEST_CEPH_CONF!, id: process.env.HIL_TEST_CEPH_ID! };
    },
  },
];

for (const [backend, database] of BACKENDS.flatMap((b) => testDatabases().map((d) => [b, d] as const))) {
  describe(`disks on ${backend.name} storage and ${database.name}`, { skip: database.skip ?? skip ?? skipUnless(backend.skip) }, () => {
    let dirs: DiskDirs;
    let files: string;
    let golden: string;
    let db: Awaited<ReturnType<typeof database.create>>;
    let ports: string;
    let t: TestHil;
    const keys = new Map<string, string>();

    before(async () => {
      dirs = diskDirs();
      files = mkdtempSync(join(tmpdir(), 'hil-disk-files-'));
      golden = makeGolden(files);
      ports = await freePorts(20);
      db = await database.create();
      t = await startTestHil(db, { config: diskConfig(dirs, ports, backend.config) });
      const api = t.as();
      await mkProject(api, 'runway');
      for (const n of ['n1', 'n2', 'n3']) {
        await mkNode(api, n);
        await connectNode(api, 'runway', n);
      }
    });
    after(async () => {
      await t?.close();
      await db?.drop();
      rmSync(dirs.root, { recursive: true, force: true });
      rmSync(files, { recursive: true, force: true });
    });

    it('a golden image uploaded, two disks cloned and exported: each node sees only its own writes, the golden image unchanged', async () => {
      const api = t.as();
      assertEmptyOk(await api('PUT', '/v0/image/golden', { project: 'runway', format: 'qcow2' }));
      const up = await uploadDisk(t, 'golden', golden);
      assert.equal(up.status, 200, up.text);
      const shown = (await api('GET', '/v0/image/golden')).body;
      assert.equal(shown.format, 'qcow2');
      assert.equal(shown.virtual_size, 64 * MiB);
      assert.equal(shown.disk.sha256, up.body.sha256);

      for (const d of ['d1', 'd2']) assertEmptyOk(await api('PUT', `/v0/disk/${d}`, { image: 'golden', project: 'runway' }));
      assert.deepEqual((await api('GET', '/v0/project/runway/disks')).body, ['d1', 'd2']);
      const d1 = (await api('GET', '/v0/disk/d1')).body;
      assert.deepEqual({ ...d1, export: null }, { name: 'd1', project: 'runway', image: 'golden', size: 64 * MiB, state: 'ready', node: null, export: null });

      for (const [d, n] of [['d1', 'n1'], ['d2', 'n2']] as const) {
        const a = await api('POST', `/v0/disk/${d}/attach`, { node: n });
        assert.equal(a.status, 200, a.text);
        assert.match(a.body.key, /^[0-9a-f]{64}$/);
        keys.set(d, a.body.key);
        const shownExport = (await api('GET', `/v0/disk/${d}`)).body.export;
        assert.equal(shownExport.key, undefined, 'the key is answered by attach only');
        assert.ok(!JSON.stringify((await api('GET', `/v0/disk/${d}`)).body).includes(a.body.key));
      }
      const e1 = await waitServing(api, 'd1');
      const e2 = await waitServing(api, 'd2');
      assert.notEqual(e1.port, e2.port);
      assert.match(e1.name, /^hil-[0-9a-f]{8}\.disk\.[0-9]+$/, 'the export name is made of the instance prefix and ids');

      let r = ioNbd(nbd(e1, keys.get('d1')!), ['read -P 0x41 0 1M', 'write -P 0x11 0 1M']);
      assert.ok(r.ok, r.output);
      r = ioNbd(nbd(e2, keys.get('d2')!), ['write -P 0x22 0 1M']);
      assert.ok(r.ok, r.output);
      r = ioNbd(nbd(e1, keys.get('d1')!), ['read -P 0x11 0 1M', 'read -P 0x42 1M 1M']);
      assert.ok(r.ok, r.output);
      r = ioNbd(nbd(e2, keys.get('d2')!), ['read -P 0x22 0 1M']);
      assert.ok(r.ok, r.output);
      const base = (await t.hil.store.db.selectFrom('image').select('storage_key').where('label', '=', 'golden').executeTakeFirstOrThrow()).storage_key!;
      assert.ok(ioBlockdev(await t.hil.storage.backend.imageBlockdev(base), ['read -P 0x41 0 1M']).ok, 'the golden image is unchanged');
      assert.ok(ioNbd(nbd(e1, keys.get('d1')!), ['read -P 0x11 0 1M']).ok);
    });

    it("the second node's credentials cannot open the first node's disk", async () => {
      const api = t.as();
      const e1 = (await api('GET', '/v0/disk/d1')).body.export;
      const e2 = (await api('GET', '/v0/disk/d2')).body.export;
      assert.ok(ioNbd(nbd(e1, keys.get('d1')!), ['read 0 1M']).ok, "node 1's own key opens its disk (so the refusals below are the key's doing)");
      const asNode2 = ioNbd({ ...nbd(e1, keys.get('d2')!), identity: e2.identity }, ['read 0 1M']);
      assert.ok(!asNode2.ok, asNode2.output);
      const node2KeyAsNode1 = ioNbd(nbd(e1, keys.get('d2')!), ['read 0 1M']);
      assert.ok(!node2KeyAsNode1.ok, node2KeyAsNode1.output);
      const otherExportName = ioNbd({ ...nbd(e2, keys.get('d2')!), export: e1.name }, ['read 0 1M']);
      assert.ok(!otherExportName.ok, otherExportName.output);
    });

    it("a snapshot of disk 1, taken while it is exported, clones into disk 3 with disk 1's data; later writes to disk 1 stay there", async () => {
      const api = t.as();
      const s = await api('POST', '/v0/disk/d1/snapshot', { image: 'd1-saved' });
      assert.equal(s.status, 200, s.text);
      const img = await waitImageReady(api, 'd1-saved');
      assert.equal(img.project, 'runway');
      // local: the snapshot sits on the golden image; rbd: until it is separated from disk 1 (then on nothing).
      if (backend.name === 'local') assert.equal(img.parent, 'golden');
      const e1 = (await api('GET', '/v0/disk/d1')).body.export;
      let r = ioNbd(nbd(e1, keys.get('d1')!), ['read -P 0x11 0 1M', 'write -P 0x33 0 1M']);
      assert.ok(r.ok, `disk 1 keeps serving after its snapshot: ${r.output}`);
      assertEmptyOk(await api('PUT', '/v0/disk/d3', { image: 'd1-saved', project: 'runway' }));
      const a = await api('POST', '/v0/disk/d3/attach', { node: 'n3' });
      const e3 = await waitServing(api, 'd3');
      r = ioNbd(nbd(e3, a.body.key), ['read -P 0x11 0 1M', 'read -P 0x42 1M 1M']);
      assert.ok(r.ok, r.output);
    });

    it('an iSCSI export admits its node (initiator name and CHAP secret) and nobody else', async () => {
      const api = t.as();
      assertEmptyOk(await api('PUT', '/v0/disk/di', { image: 'golden', project: 'runway' }));
      const initiator = 'iqn.2026-12.example:n3';
      const a = await api('POST', '/v0/disk/di/attach', { node: 'n3', protocol: 'iscsi', initiator });
      assert.equal(a.status, 200, a.text);
      assert.equal(a.body.protocol, 'iscsi');
      assert.match(a.body.name, /^iqn\.2026-12\.org\.hil:/);
      const e = await waitServing(api, 'di');
      assert.equal(e.initiator, initiator);
      const target = { portal: `${e.host}:${e.port}`, iqn: e.name, initiator, chap: { user: e.identity, secret: a.body.key } };
      let r = ioIscsi(target, ['read -P 0x41 0 1M', 'write -P 0x77 0 1M', 'read -P 0x77 0 1M']);
      assert.ok(r.ok, r.output);
      r = ioIscsi({ ...target, chap: { user: e.identity, secret: keys.get('d1')! } }, ['read 0 1M']);
      assert.ok(!r.ok, `a wrong secret got in: ${r.output}`);
      r = ioIscsi({ ...target, initiator: 'iqn.2026-12.example:n1' }, ['read 0 1M']);
      assert.ok(!r.ok, `another initiator got in: ${r.output}`);
      r = ioIscsi({ ...target, chap: undefined }, ['read 0 1M']);
      assert.ok(!r.ok, `no CHAP got in: ${r.output}`);
      assertError(await api('POST', '/v0/disk/di/attach', { node: 'n3', protocol: 'iscsi' }), 400, 'BadArgumentError', /needs the node's "initiator" name/);
      assertError(await api('POST', '/v0/disk/di/attach', { node: 'n3', protocol: 'iscsi', initiator: 'not an iqn' }), 400, 'BadArgumentError', /is not an iSCSI initiator name/);
      assertError(await api('POST', '/v0/disk/di/attach', { node: 'n3', protocol: 'fc' }), 400, 'BadArgumentError', /Unknown export protocol "fc"/);
      assertEmptyOk(await api('POST', '/v0/disk/di/detach'));
      await waitFor('the claim of di released', async () => ((await claimFree(t, 'di')) ? true : undefined));
      assertEmptyOk(await api('DELETE', '/v0/disk/di'));
    });

    it('deleting a golden image with disks is refused, naming them', async () => {
      const api = t.as();
      // local: disk 1 sits on its snapshot now, which sits on the golden image; rbd: both disks sit on it.
      const depends = backend.name === 'local' ? 'Image "golden" is in use: disks d2 and snapshots d1-saved depend on it; delete them first.' : /Image "golden" is in use: disks d1, d2( and snapshots d1-saved)? depend on it; delete them first\./;
      assertError(await api('DELETE', '/v0/image/golden'), 409, 'BlockedError', depends);
      assert.ok((await api('GET', '/v0/image/golden')).status === 200);
    });

    it('bad input gets a clear 4xx and leaves nothing behind', async () => {
      const api = t.as();
      const before = await storageState(t, dirs);
      assertError(await api('PUT', '/v0/image/vm', { project: 'runway', format: 'vmdk' }), 400, 'BadArgumentError', /Unknown image format "vmdk"/);
      assertEmptyOk(await api('PUT', '/v0/image/bad', { project: 'runway', format: 'qcow2' }));
      // A qcow2 header and garbage after it.
      const corrupt = Buffer.concat([Buffer.from('QFI\xfb\x00\x00\x00\x03', 'latin1'), Buffer.alloc(4096, 0xee)]);
      let r = await uploadDisk(t, 'bad', corrupt);
      assert.equal(r.status, 400, r.text);
      assert.match(r.body.msg, /The disk is not a readable qcow2 image/);
      assert.ok(!r.body.msg.includes(dirs.root), 'no server path in the message');
      // A qcow2 that names a backing file would read a file of the server's.
      const withBacking = join(files, 'backed.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', golden, withBacking]);
      r = await uploadDisk(t, 'bad', withBacking);
      assert.equal(r.status, 400, r.text);
      assert.match(r.body.msg, /names a backing file/);
      // A qcow2 whose data lives in an external file (any file of the server's).
      const withDataFile = join(files, 'datafile.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${join(files, 'data.raw')}`, withDataFile, '1M']);
      r = await uploadDisk(t, 'bad', withDataFile);
      assert.equal(r.status, 400, r.text);
      assert.match(r.body.msg, /names an external data file/);
      // A vmdk descriptor sent as raw: refused by its first bytes, never opened by qemu-img (it would open the extents it names).
      assertEmptyOk(await api('PUT', '/v0/image/vmdkraw', { project: 'runway', format: 'raw' }));
      r = await uploadDisk(t, 'vmdkraw', Buffer.from('# Disk DescriptorFile\nversion=1\nRW 2048 FLAT "/etc/shadow" 0\n'.padEnd(4096, ' ')));
      assert.equal(r.status, 400, r.text);
      assert.match(r.body.msg, /it is a vmdk image, not raw/);
      // A qcow2 uploaded as raw.
      assertEmptyOk(await api('PUT', '/v0/image/rawbad', { project: 'runway', format: 'raw' }));
      r = await uploadDisk(t, 'rawbad', golden);
      assert.equal(r.status, 400, r.text);
      assert.match(r.body.msg, /it is a qcow2 image, not raw/);
      // A disk into a kexec image.
      assertEmptyOk(await api('PUT', '/v0/image/kx', { project: 'runway' }));
      r = await uploadDisk(t, 'kx', golden);
      assertError({ ...r, headers: {}, text: r.text }, 400, 'BadArgumentError', /is a kexec image; a disk goes into a qcow2 or raw image/);
      // Disks from images that cannot give one, and bad names.
      assertError(await api('PUT', '/v0/disk/dx', { image: 'kx', project: 'runway' }), 400, 'BadArgumentError', /kexec image: it has no disk/);
      assertError(await api('PUT', '/v0/disk/dx', { image: 'bad', project: 'runway' }), 400, 'BadArgumentError', /has no disk yet/);
      assertError(await api('PUT', '/v0/disk/dx', { image: 'nope', project: 'runway' }), 404, 'NotFoundError');
      assertError(await api('PUT', '/v0/disk/-x', { image: 'golden', project: 'runway' }), 400, 'BadArgumentError', /Invalid disk name/);
      assertError(await api('PUT', `/v0/disk/${'a'.repeat(65)}`, { image: 'golden', project: 'runway' }), 400, 'BadArgumentError', /Invalid disk name/);
      assertError(await api('PUT', '/v0/disk/d1', { image: 'golden', project: 'runway' }), 409, 'DuplicateError');
      assertError(await api('PUT', '/v0/disk/dx', { image: 'golden', project: 'runway', size: 3 }), 400, 'ValidationError');
      // A disk in use by another node.
      assertError(await api('POST', '/v0/disk/d1/attach', { node: 'n2' }), 409, 'BlockedError', /in use by node "n1"; detach it first/);
      assertError(await api('DELETE', '/v0/disk/d1'), 409, 'BlockedError', /in use by node "n1"/);
      // The node cannot leave its project with the disk, nor the project go while it has disks.
      assertError(await api('POST', '/v0/project/runway/detach_node', { node: 'n1' }), 409, 'BlockedError', 'Node uses disk d1; detach it first (hil disk detach DISK).');
      assertEmptyOk(await api('PUT', '/v0/project/empty'));
      assertEmptyOk(await api('PUT', '/v0/disk/dempty', { image: 'golden', project: 'empty' }));
      assertError(await api('DELETE', '/v0/project/empty'), 409, 'BlockedError', 'Project still has disks');
      assertEmptyOk(await api('DELETE', '/v0/disk/dempty'));
      assertEmptyOk(await api('DELETE', '/v0/project/empty'));
      // Snapshots into names taken, or bad.
      assertError(await api('POST', '/v0/disk/d1/snapshot', { image: 'golden' }), 409, 'DuplicateError');
      assertError(await api('POST', '/v0/disk/d1/snapshot', { image: 'a b' }), 400, 'BadArgumentError');
      const afterwards = await storageState(t, dirs);
      assert.deepEqual(afterwards, before, 'no clone, file, blob or row was left behind');
    });

    it('an oversized disk is refused with 413 before it is stored', async () => {
      await t.close();
      t = await startTestHil(db, { config: diskConfig(dirs, ports, (c) => (backend.config(c), (c.images.max_disk_mib = 1))) });
      const before = await storageState(t, dirs);
      const big = join(files, 'big.raw');
      writeFileSync(big, Buffer.alloc(2 * MiB, 1));
      assertEmptyOk(await t.as()('PUT', '/v0/image/big', { project: 'runway', format: 'raw' }));
      const r = await uploadDisk(t, 'big', big);
      assert.equal(r.status, 413, r.text);
      assert.match(r.body.msg, /larger than the limit of 1 MiB \(images.max_disk_mib\)/);
      assert.deepEqual(await storageState(t, dirs), before);
    });

    it('a restart of the server brings every export back, with the same data and keys', async () => {
      await t.close();
      t = await startTestHil(db, { config: diskConfig(dirs, ports, backend.config) });
      const api = t.as();
      const e1 = await waitServing(api, 'd1');
      const e2 = await waitServing(api, 'd2');
      assert.ok(ioNbd(nbd(e1, keys.get('d1')!), ['read -P 0x33 0 1M']).ok);
      assert.ok(ioNbd(nbd(e2, keys.get('d2')!), ['read -P 0x22 0 1M']).ok);
    });

    it('detach stops the export; a detached disk can be deleted, and its storage goes with it', async () => {
      const api = t.as();
      const e2 = (await api('GET', '/v0/disk/d2')).body.export;
      assertEmptyOk(await api('POST', '/v0/disk/d2/detach'));
      await t.hil.exports!.settled();
      assert.equal((await api('GET', '/v0/disk/d2')).body.export, null);
      assert.ok(!ioNbd(nbd(e2, keys.get('d2')!), ['read 0 1M']).ok, 'the export is gone');
      const key = (await t.hil.store.db.selectFrom('disk').select('storage_key').where('label', '=', 'd2').executeTakeFirstOrThrow()).storage_key;
      // A detached disk is snapshotted by whichever process takes its claim for that alone.
      assert.equal((await api('POST', '/v0/disk/d2/snapshot', { image: 'd2-saved' })).status, 200);
      await waitImageReady(api, 'd2-saved');
      assertEmptyOk(await api('PUT', '/v0/disk/d4', { image: 'd2-saved', project: 'runway' }));
      assert.ok(ioBlockdev(await t.hil.storage.backend.diskBlockdev((await t.hil.store.db.selectFrom('disk').select('storage_key').where('label', '=', 'd4').executeTakeFirstOrThrow()).storage_key), ['read -P 0x22 0 1M']).ok);
      assertEmptyOk(await api('DELETE', '/v0/disk/d4'));
      await waitFor('the claim of d2 released', async () => ((await claimFree(t, 'd2')) ? true : undefined));
      assertEmptyOk(await api('DELETE', '/v0/disk/d2'));
      assertError(await api('GET', '/v0/disk/d2'), 404, 'NotFoundError');
      const listed = await t.hil.storage.backend.list(`${t.hil.storage.prefix}.`, AbortSignal.timeout(5000));
      assert.ok(!listed.disks.includes(key));
    });
  });
}
