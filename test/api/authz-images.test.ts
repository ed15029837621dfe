/**
 * Authorization matrix for the image registry: every image route as admin,
 * alice (runway), bob (manhattan), anonymous and alice with a wrong password,
 * on the real database auth backend. Another project's private image is a
 * 404 (its existence is not revealed), a visible image one may not change is
 * a 401, public images are readable by all and writable by their owners only.
 */
import { after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../support/databases.ts';
import { NO_PROJECT, matrix, must, type Case, type Fixture } from '../support/authz.ts';

const A = { admin: 200, alice: 401, bob: 401 };
const RUNWAY = { admin: 200, alice: 200, bob: 401 };
const ANY = { admin: 200, alice: 200, bob: 200 };
/** Visible to runway only (a runway-private image). */
const RUNWAY_ONLY = { admin: 200, alice: 200, bob: 404 };
const MANHATTAN_ONLY = { admin: 200, alice: 404, bob: 200 };
const ADMINS_ONLY = { admin: 200, alice: 404, bob: 404 };

const KERNEL = 'kernel bytes';
const NEW = 'new kernel bytes';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const octets = { 'content-type': 'application/octet-stream' };

/** [name, owner ("admin" or a project), public] — each mutating case has a target of its own. */
const IMAGES: Array<[string, string, boolean]> = [
  ['runway_img', 'runway', false],
  ['manhattan_img', 'manhattan', false],
  ['admin_img', 'admin', false],
  ['pub_img', 'admin', true],
  ['manhattan_pub', 'manhattan', true],
  ['runway_up', 'runway', false],
  ['manhattan_up', 'manhattan', false],
  ['admin_up', 'admin', false],
  ['pub_up', 'admin', true],
  ['manhattan_pub_up', 'manhattan', true],
  ['runway_del', 'runway', false],
  ['admin_del', 'admin', false],
  ['pub_del', 'admin', true],
  ['manhattan_pub_del', 'manhattan', true],
];

async function setup(fx: Fixture): Promise<void> {
  for (const [name, owner, pub] of IMAGES) {
    await must(fx.admin('PUT', `/v0/image/${name}`, { project: owner, public: pub, cmdline: 'console=ttyS0' }), `PUT image ${name}`);
    await must(fx.admin('PUT', `/v0/image/${name}/kernel`, undefined, { rawBody: KERNEL, headers: octets }), `upload ${name}`);
  }
}

/** The image's row as a call may change it (gone: null). */
async function imageState(fx: Fixture, name: string) {
  const row = await fx.t.hil.store.db.selectFrom('image').select(['kernel_sha256', 'initrd_sha256', 'public', 'project_id']).where('label', '=', name).executeTakeFirst();
  return row ? { ...row, public: Boolean(row.public) } : null;
}

const state = (name: string, after: Case['after']): Pick<Case, 'state' | 'after'> => ({ state: (fx) => imageState(fx, name), after });
const created = (name: string, pub: boolean) => state(name, (now: any) => assert.equal(now?.public, pub));
const uploaded = (name: string) => state(name, (now: any) => assert.equal(now?.kernel_sha256, sha(NEW)));
const deleted = (name: string) => state(name, null);

const upload = (name: string, expect: Case['expect'], msg?: string): Case => ({
  method: 'PUT',
  path: `/v0/image/${name}/kernel`,
  rawBody: NEW,
  headers: octets,
  expect,
  msg,
  ...uploaded(name),
  view: (res) => assert.deepEqual(res.body, { sha256: sha(NEW), size: NEW.length }),
});

const kernelView = (res: { text: string; headers: Record<string, unknown> }) => {
  assert.equal(res.text, KERNEL);
  assert.equal(res.headers['x-hil-sha256'], sha(KERNEL));
};

const cases: Case[] = [
  // list: everyone, each seeing what is theirs or public
  {
    method: 'GET',
    path: '/v0/images',
    expect: ANY,
    view: (res, role) => {
      const pub = ['manhattan_pub', 'manhattan_pub_del', 'manhattan_pub_up', 'pub_del', 'pub_img', 'pub_up'];
      const names = (res.body as string[]).filter((n) => !n.startsWith('new_'));
      if (role === 'admin') assert.deepEqual(names, IMAGES.map(([n]) => n).sort());
      else if (role === 'alice') assert.deepEqual(names, [...pub, 'runway_del', 'runway_img', 'runway_up'].sort());
      else assert.deepEqual(names, [...pub, 'manhattan_img', 'manhattan_up'].sort());
    },
  },

  // show: another project's private image, or the admins' private one, does not exist for you
  { method: 'GET', path: '/v0/image/runway_img', expect: RUNWAY_ONLY, view: (res) => assert.equal(res.body.project, 'runway') },
  { method: 'GET', path: '/v0/image/manhattan_img', expect: MANHATTAN_ONLY },
  { method: 'GET', path: '/v0/image/admin_img', expect: ADMINS_ONLY },
  { method: 'GET', path: '/v0/image/pub_img', expect: ANY, view: (res) => assert.deepEqual([res.body.project, res.body.public], ['admin', true]) },
  { method: 'GET', path: '/v0/image/manhattan_pub', expect: ANY },
  { method: 'GET', path: '/v0/image/no_such_img', expect: { admin: 404, alice: 404, bob: 404 } },

  // download: as show
  { method: 'GET', path: '/v0/image/runway_img/kernel', expect: RUNWAY_ONLY, view: kernelView },
  { method: 'GET', path: '/v0/image/admin_img/kernel', expect: ADMINS_ONLY, view: kernelView },
  { method: 'GET', path: '/v0/image/pub_img/kernel', expect: ANY, view: kernelView },
  { method: 'GET', path: '/v0/image/manhattan_pub/kernel', expect: ANY, view: kernelView },

  // create: admin-owned and public images are the admins'; a project's image its members'
  { method: 'PUT', path: '/v0/image/new_admin', body: {}, expect: A, msg: 'Only administrators may create admin-owned images; give "project": one of your projects.', ...created('new_admin', false) },
  { method: 'PUT', path: '/v0/image/new_admin2', body: { project: 'admin' }, expect: A, ...created('new_admin2', false) },
  { method: 'PUT', path: '/v0/image/new_pub', body: { public: true }, expect: A, ...created('new_pub', true) },
  { method: 'PUT', path: '/v0/image/new_runway', body: { project: 'runway' }, expect: RUNWAY, msg: NO_PROJECT, ...created('new_runway', false) },
  // (alice is told only admins make images public; bob, that runway is not his: test/api/images.test.ts)
  { method: 'PUT', path: '/v0/image/new_runway_pub', body: { project: 'runway', public: true }, expect: A, ...created('new_runway_pub', true) },
  { method: 'PUT', path: '/v0/image/new_doomed', body: { project: 'doomed' }, expect: A, msg: NO_PROJECT, ...created('new_doomed', false) },

  // upload: owners and admins; visible-but-not-yours is 401, invisible 404
  upload('runway_up', { admin: 200, alice: 200, bob: 404 }),
  upload('manhattan_up', { admin: 200, alice: 404, bob: 200 }),
  upload('admin_up', ADMINS_ONLY),
  upload('pub_up', A, NO_PROJECT),
  upload('manhattan_pub_up', { admin: 200, alice: 401, bob: 200 }, NO_PROJECT),

  // delete: likewise
  { method: 'DELETE', path: '/v0/image/runway_del', expect: { admin: 200, alice: 200, bob: 404 }, ...deleted('runway_del') },
  { method: 'DELETE', path: '/v0/image/admin_del', expect: ADMINS_ONLY, ...deleted('admin_del') },
  { method: 'DELETE', path: '/v0/image/pub_del', expect: A, msg: NO_PROJECT, ...deleted('pub_del') },
  { method: 'DELETE', path: '/v0/image/manhattan_pub_del', expect: { admin: 200, alice: 401, bob: 200 }, msg: NO_PROJECT, ...deleted('manhattan_pub_del') },
];

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

for (const database of testDatabases()) {
  describe(`authz: images on ${database.name}`, { skip: database.skip }, () =>
    matrix(database, cases, {
      setup,
      hil: {
        config: (c) => {
          const dir = mkdtempSync(join(tmpdir(), 'hil-authz-images-'));
          dirs.push(dir);
          c.images.dir = dir;
        },
      },
    }),
  );
}
