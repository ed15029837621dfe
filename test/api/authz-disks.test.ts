/**
 * Authorization matrix for disks and disk images: every disk route, the
 * disk upload and the admin's import, as admin, alice (runway), bob
 * (manhattan), anonymous and alice with a wrong password, on the real
 * database auth backend. Another project's disk does not exist for you
 * (404); a project you are not in is a 401; a refused call changes nothing.
 */
import { after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../support/databases.ts';
import { ADMIN_ONLY, NO_PROJECT, matrix, must, type Case, type Fixture } from '../support/authz.ts';
import { bootConfig, diskConfig, diskDirs, diskSkipReason, freePorts, type DiskDirs } from '../support/disks.ts';
import { skipUnless } from '../support/require.ts';

const skip = skipUnless(diskSkipReason());
const ANY = { admin: 200, alice: 200, bob: 200 };
const RUNWAY = { admin: 200, alice: 200, bob: 401 };
const RUNWAY_ONLY = { admin: 200, alice: 200, bob: 404 };
const MANHATTAN_ONLY = { admin: 200, alice: 404, bob: 200 };
const octets = { 'content-type': 'application/octet-stream' };
/** A raw disk image: 64 KiB of text (qemu-img sees raw). */
const RAW = 'A'.repeat(64 * 1024);

const DISKS: Array<[string, string, string]> = [
  // [disk, project, image]
  ['runway_disk', 'runway', 'runway_gold'],
  ['runway_del', 'runway', 'runway_gold'],
  ['runway_att', 'runway', 'runway_gold'],
  ['runway_wrong_node', 'runway', 'runway_gold'],
  ['runway_det', 'runway', 'runway_gold'],
  ['runway_snap', 'runway', 'pub_gold'],
  ['man_disk', 'manhattan', 'pub_gold'],
  ['runway_boot', 'runway', 'runway_gold'],
  ['runway_booted', 'runway', 'runway_gold'],
  ['man_booted', 'manhattan', 'pub_gold'],
];

async function setup(fx: Fixture, importFile: string): Promise<void> {
  for (const [image, project, pub] of [['runway_gold', 'runway', false], ['pub_gold', 'admin', true], ['runway_up', 'runway', false], ['runway_imp', 'runway', false]] as const) {
    await must(fx.admin('PUT', `/v0/image/${image}`, { project, public: pub, format: 'raw' }), `PUT image ${image}`);
    if (image !== 'runway_up' && image !== 'runway_imp') await must(fx.admin('PUT', `/v0/image/${image}/disk`, undefined, { rawBody: RAW, headers: octets }), `upload ${image}`);
  }
  for (const [disk, project, image] of DISKS) await must(fx.admin('PUT', `/v0/disk/${disk}`, { image, project }), `PUT disk ${disk}`);
  await must(fx.admin('POST', '/v0/disk/runway_det/attach', { node: 'runway_node2' }), 'attach runway_det');
  // runway_node2 boots from runway_booted through boot0 (on the free port gi1/0/8), manhattan_node from man_booted through eth2.
  await must(fx.admin('PUT', '/v0/node/runway_node2/nic/boot0', { macaddr: '52:54:00:b0:07:22' }), 'nic runway_node2/boot0');
  await must(fx.admin('POST', '/v0/switch/sw0/port/gi1/0/8/connect_nic', { node: 'runway_node2', nic: 'boot0' }), 'cable runway_node2/boot0');
  await must(fx.admin('POST', '/v0/node/runway_node2/boot_disk', { disk: 'runway_booted', nic: 'boot0' }), 'boot runway_node2');
  await must(fx.admin('POST', '/v0/node/manhattan_node/boot_disk', { disk: 'man_booted', nic: 'eth2' }), 'boot manhattan_node');
  writeFileSync(importFile, RAW);
}

async function diskState(fx: Fixture, name: string) {
  const row = await fx.t.hil.store.db.selectFrom('disk').select(['project_id', 'node_id', 'image_id']).where('label', '=', name).executeTakeFirst();
  return row ?? null;
}
const disk = (name: string, after: Case['after']): Pick<Case, 'state' | 'after'> => ({ state: (fx) => diskState(fx, name), after });
const nodeBoot = (node: string, after: Case['after']): Pick<Case, 'state' | 'after'> => ({
  state: async (fx) => {
    const n = await fx.t.hil.store.db.selectFrom('node').select('id').where('label', '=', node).executeTakeFirstOrThrow();
    return (await fx.t.hil.store.db.selectFrom('node_boot').select(['disk_id', 'nic_id', 'host']).where('node_id', '=', n.id).executeTakeFirst()) ?? null;
  },
  after,
});
const imageDisk = (name: string) => ({
  state: async (fx: Fixture) => (await fx.t.hil.store.db.selectFrom('image').select(['disk_sha256', 'state']).where('label', '=', name).executeTakeFirst()) ?? null,
});

function cases(importFile: string): Case[] {
  return [
    {
      method: 'GET',
      path: '/v0/disks',
      expect: ANY,
      view: (res, role) => {
        const names = (res.body as string[]).filter((n) => !n.startsWith('new_'));
        const runway = DISKS.filter(([, p]) => p === 'runway').map(([d]) => d);
        if (role === 'admin') assert.deepEqual(names, DISKS.map(([d]) => d).sort());
        else if (role === 'alice') assert.deepEqual(names, runway.sort());
        else assert.deepEqual(names, DISKS.filter(([, p]) => p === 'manhattan').map(([d]) => d).sort());
      },
    },
    { method: 'GET', path: '/v0/disk/runway_disk', expect: RUNWAY_ONLY, view: (res) => assert.equal(res.body.image, 'runway_gold') },
    { method: 'GET', path: '/v0/disk/man_disk', expect: MANHATTAN_ONLY },
    { method: 'GET', path: '/v0/disk/no_such_disk', expect: { admin: 404, alice: 404, bob: 404 } },
    { method: 'GET', path: '/v0/project/runway/disks', expect: RUNWAY, msg: NO_PROJECT, view: (res) => assert.ok((res.body as string[]).includes('runway_disk')) },

    // create: in a project of yours, from an image that project may use
    { method: 'PUT', path: '/v0/disk/new_r', body: { image: 'runway_gold', project: 'runway' }, expect: RUNWAY, msg: NO_PROJECT, ...disk('new_r', (now: any) => assert.ok(now)) },
    { method: 'PUT', path: '/v0/disk/new_p', body: { image: 'pub_gold', project: 'manhattan' }, expect: { admin: 200, alice: 401, bob: 200 }, msg: NO_PROJECT, ...disk('new_p', (now: any) => assert.ok(now)) },
    { method: 'PUT', path: '/v0/disk/new_x', body: { image: 'runway_gold', project: 'manhattan' }, expect: { admin: 200, alice: 401, bob: 404 }, ...disk('new_x', (now: any) => assert.ok(now)) },

    { method: 'DELETE', path: '/v0/disk/runway_del', expect: RUNWAY_ONLY, ...disk('runway_del', null) },
    {
      method: 'POST',
      path: '/v0/disk/runway_att/attach',
      body: { node: 'runway_node' },
      expect: RUNWAY_ONLY,
      ...disk('runway_att', (now: any) => assert.ok(now.node_id !== null)),
      view: (res) => assert.match(res.body.key, /^[0-9a-f]{64}$/),
    },
    { method: 'POST', path: '/v0/disk/runway_wrong_node/attach', body: { node: 'manhattan_node' }, expect: { admin: 409, alice: 409, bob: 404 }, ...disk('runway_wrong_node', (now: any) => assert.equal(now.node_id, null)) },
    { method: 'POST', path: '/v0/disk/runway_det/detach', expect: RUNWAY_ONLY, ...disk('runway_det', (now: any) => assert.equal(now.node_id, null)) },
    {
      method: 'POST',
      path: '/v0/disk/runway_snap/snapshot',
      body: { image: 'new_snap' },
      expect: RUNWAY_ONLY,
      state: async (fx) => (await fx.t.hil.store.db.selectFrom('image').select(['project_id', 'source_disk_id']).where('label', '=', 'new_snap').executeTakeFirst()) ?? null,
      after: (now: any) => assert.ok(now),
    },

    // a node's boot disk: the node's project, with a disk of that project
    {
      method: 'POST',
      path: '/v0/node/runway_node/boot_disk',
      body: { disk: 'runway_boot', nic: 'eth4' },
      expect: RUNWAY,
      msg: NO_PROJECT,
      ...nodeBoot('runway_node', (now: any) => assert.ok(now)),
      view: (res) => assert.deepEqual([res.body.disk, res.body.nic, res.body.network, res.body.export.key], ['runway_boot', 'eth4', 'hil-boot-runway', undefined]),
    },
    { method: 'POST', path: '/v0/node/runway_node/boot_disk', body: { disk: 'man_disk' }, expect: { admin: 409, alice: 404, bob: 401 }, msg: NO_PROJECT, ...nodeBoot('runway_node', null) },
    {
      method: 'GET',
      path: '/v0/node/manhattan_node/boot_disk',
      expect: { admin: 200, alice: 401, bob: 200 },
      msg: NO_PROJECT,
      view: (res) => {
        assert.deepEqual([res.body.disk, res.body.nic, res.body.network], ['man_booted', 'eth2', 'hil-boot-manhattan']);
        assert.ok(!res.text.includes('"key"'), 'no secret in the view');
      },
    },
    { method: 'DELETE', path: '/v0/node/runway_node2/boot_disk', expect: RUNWAY, msg: NO_PROJECT, ...nodeBoot('runway_node2', null) },

    // a disk image's file: uploaded by the owners; imported from a server path by admins only
    { method: 'PUT', path: '/v0/image/runway_up/disk', rawBody: RAW, headers: octets, expect: RUNWAY_ONLY, ...imageDisk('runway_up') },
    { method: 'POST', path: '/v0/image/runway_imp/disk/import', body: { path: importFile }, expect: { admin: 200, alice: 401, bob: 401 }, msg: ADMIN_ONLY, ...imageDisk('runway_imp') },
  ];
}

const roots: DiskDirs[] = [];
after(() => roots.forEach((d) => rmSync(d.root, { recursive: true, force: true })));

for (const database of testDatabases()) {
  describe(`authz: disks on ${database.name}`, { skip: database.skip ?? skip }, async () => {
    const ports = await freePorts(60);
    const files = mkdtempSync(join(tmpdir(), 'hil-authz-disk-files-'));
    roots.push({ root: files, blobs: '', disks: '', run: '' });
    const importFile = join(files, 'import.raw');
    matrix(database, cases(importFile), {
      setup: (fx) => setup(fx, importFile),
      hil: {
        config: (c) => {
          const dirs = diskDirs();
          roots.push(dirs);
          // Fixtures run one after another and share the range; each closes (and stops its exports) before the next starts.
          diskConfig(dirs, ports, bootConfig())(c);
        },
      },
    });
  });
}
