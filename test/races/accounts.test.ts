/**
 * Races on users, their projects, and images: one user per name, one
 * membership per user and project, one image per name, and no membership or
 * image left pointing at a project deleted under it.
 */
import assert from 'node:assert/strict';
import { mkProject } from '../support/fixtures.ts';
import { BLOCKED, del, DUP, GONE, patch, post, put, raceSuite, times, winners, type RaceServer, type Scenario } from './harness.ts';
import { basicAuth } from '../support/hil.ts';
import { exists, type Fresh } from './worlds.ts';

/** Users as the API lists them: name → projects. */
async function users(s: RaceServer): Promise<Record<string, string[]>> {
  const r = await s.api('GET', '/v0/auth/basic/users');
  assert.equal(r.status, 200, r.text);
  return Object.fromEntries(Object.entries(r.body as Record<string, { projects: string[] }>).map(([u, v]) => [u, v.projects]));
}

/** A project and a user (a member of it if asked). */
async function userAndProject(s: RaceServer, fresh: Fresh, member = false) {
  const project = fresh('p');
  await mkProject(s.api, project);
  const { username } = member ? await s.user({ projects: [project] }) : await s.user();
  return { user: username, project };
}

/** Memberships of projects that no longer exist (the foreign key should make this impossible). */
async function danglingMemberships(s: RaceServer) {
  return s.db.selectFrom('user_project').leftJoin('project', 'project.id', 'user_project.project_id').select('user_project.user_id').where('project.id', 'is', null).execute();
}

const accounts: Scenario<any>[] = [
  {
    name: 'twenty creations of one user name: one 200, the rest 409',
    // Every round hashes twenty passwords at the server's full cost.
    rounds: 2,
    setup: async (_s, fresh) => ({ user: fresh('u') }),
    contenders: (w) => ({ create: { requests: times(20, (i) => put(`/v0/auth/basic/user/${w.user}`, { password: `pw${i}`, is_admin: false })), wins: 1, losers: [DUP] } }),
    check: async (s, w, a) => {
      assert.ok(w.user in (await users(s)));
      // The password that works is the winner's.
      const password = winners(a.create)[0]?.request.body.password;
      const r = await s.t.as({ username: w.user, password })('GET', `/v0/nodes/free`);
      assert.equal(r.status, 200, `the winner's password: ${r.text}`);
    },
  },
  {
    name: 'twenty deletions of one user: one 200, the rest 404',
    setup: async (s, fresh) => userAndProject(s, fresh, true),
    contenders: (w) => ({ delete: { requests: times(20, () => del(`/v0/auth/basic/user/${w.user}`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.equal(w.user in (await users(s)), false),
  },
  {
    name: 'twenty additions of one user to one project: one 200, the rest 409',
    setup: async (s, fresh) => userAndProject(s, fresh),
    contenders: (w) => ({ add: { requests: times(20, () => post(`/v0/auth/basic/user/${w.user}/add_project`, { project: w.project })), wins: 1, losers: [DUP] } }),
    check: async (s, w) => assert.deepEqual((await users(s))[w.user], [w.project]),
  },
  {
    name: 'twenty removals of one user from one project: one 200, the rest 404',
    setup: async (s, fresh) => userAndProject(s, fresh, true),
    contenders: (w) => ({ remove: { requests: times(20, () => post(`/v0/auth/basic/user/${w.user}/remove_project`, { project: w.project })), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.deepEqual((await users(s))[w.user], []),
  },
  {
    name: 'adding a user to a project while the project is deleted: the delete succeeds, no membership is left',
    rounds: 10,
    setup: async (s, fresh) => userAndProject(s, fresh),
    contenders: (w) => ({
      delete: { requests: [del(`/v0/project/${w.project}`)], wins: 1, losers: [] },
      add: { requests: [post(`/v0/auth/basic/user/${w.user}/add_project`, { project: w.project })], wins: [0, 1], losers: [GONE] },
    }),
    check: async (s, w) => {
      assert.deepEqual((await users(s))[w.user], []);
      assert.deepEqual(await danglingMemberships(s), []);
    },
  },
  {
    name: 'deleting a user while it is added to a project: the delete succeeds, no membership is left',
    rounds: 10,
    setup: async (s, fresh) => userAndProject(s, fresh),
    contenders: (w) => ({
      delete: { requests: [del(`/v0/auth/basic/user/${w.user}`)], wins: 1, losers: [] },
      add: { requests: [post(`/v0/auth/basic/user/${w.user}/add_project`, { project: w.project })], wins: [0, 1], losers: [GONE] },
    }),
    check: async (s, w) => {
      assert.equal(w.user in (await users(s)), false);
      const left = await s.db.selectFrom('user_project').leftJoin('user', 'user.id', 'user_project.user_id').select('user_project.project_id').where('user.id', 'is', null).execute();
      assert.deepEqual(left, [], 'memberships of no user');
    },
  },
  {
    name: 'two admins demoting each other at once: exactly one succeeds, one stays an admin',
    rounds: 10,
    setup: async (s) => ({ a: await s.user({ admin: true }), b: await s.user({ admin: true }) }),
    contenders: (w) => ({
      either: {
        requests: [patch(`/v0/auth/basic/user/${w.b.username}`, { is_admin: false }, w.a), patch(`/v0/auth/basic/user/${w.a.username}`, { is_admin: false }, w.b)],
        wins: 1,
        losers: ['401 AuthorizationError'],
      },
    }),
    check: async (s, w) => {
      const rows = await s.db.selectFrom('user').select(['label', 'is_admin']).where('label', 'in', [w.a.username, w.b.username]).execute();
      assert.equal(rows.filter((r) => Boolean(r.is_admin)).length, 1, JSON.stringify(rows));
    },
  },
  {
    name: 'two admins deleting each other at once: exactly one succeeds, one stays',
    rounds: 10,
    setup: async (s) => ({ a: await s.user({ admin: true }), b: await s.user({ admin: true }) }),
    contenders: (w) => ({
      either: { requests: [del(`/v0/auth/basic/user/${w.b.username}`, w.a), del(`/v0/auth/basic/user/${w.a.username}`, w.b)], wins: 1, losers: ['401 AuthorizationError'] },
    }),
    check: async (s, w) => {
      const left = Object.keys(await users(s)).filter((u) => u === w.a.username || u === w.b.username);
      assert.equal(left.length, 1, `left: ${left.join(', ')}`);
    },
  },
];

const KERNEL_A = Buffer.from('kernel A '.repeat(1000));
const KERNEL_B = Buffer.from('kernel B '.repeat(1000));

/** The image's kernel as downloaded, or the status when there is none. */
async function kernelOf(s: RaceServer, image: string): Promise<Buffer | number> {
  const r = await fetch(`${s.url}/v0/image/${image}/kernel`, { headers: { authorization: basicAuth(s.admin.username, s.admin.password) } });
  return r.status === 200 ? Buffer.from(await r.arrayBuffer()) : r.status;
}

const images: Scenario<any>[] = [
  {
    name: 'twenty creations of one image name: one 200, the rest 409',
    setup: async (_s, fresh) => ({ image: fresh('img') }),
    contenders: (w) => ({ create: { requests: times(20, (i) => put(`/v0/image/${w.image}`, { cmdline: `console=ttyS${i}` })), wins: 1, losers: [DUP] } }),
    check: async (s, w, a) => {
      const r = await s.api('GET', `/v0/image/${w.image}`);
      assert.equal(r.body.cmdline, winners(a.create)[0]?.request.body.cmdline);
    },
  },
  {
    name: 'twenty deletions of one image: one 200, the rest 404',
    setup: async (s, fresh) => {
      const image = fresh('img');
      assert.equal((await s.api('PUT', `/v0/image/${image}`)).status, 200);
      return { image };
    },
    contenders: (w) => ({ delete: { requests: times(20, () => del(`/v0/image/${w.image}`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.equal(await exists(s, `/v0/image/${w.image}`), false),
  },
  {
    name: 'deleting a project while an image it owns is created: exactly one succeeds',
    rounds: 10,
    setup: async (s, fresh) => {
      const project = fresh('p');
      await mkProject(s.api, project);
      return { project, image: fresh('img') };
    },
    contenders: (w) => ({ either: { requests: [del(`/v0/project/${w.project}`), put(`/v0/image/${w.image}`, { project: w.project })], wins: 1, losers: [GONE, BLOCKED] } }),
    check: async (s, w, a) => {
      const deleted = winners(a.either).some((x) => x.request.path.startsWith('/v0/project/'));
      assert.equal(await exists(s, `/v0/image/${w.image}`), !deleted);
    },
  },
  {
    name: 'twenty uploads of a kernel (two contents, alternating) to one image: all succeed, the kernel stored is whole',
    setup: async (s, fresh) => {
      const image = fresh('img');
      assert.equal((await s.api('PUT', `/v0/image/${image}`)).status, 200);
      return { image };
    },
    contenders: (w) => ({ upload: { requests: times(20, (i) => ({ method: 'PUT', path: `/v0/image/${w.image}/kernel`, raw: i % 2 ? KERNEL_B : KERNEL_A })), wins: 20, losers: [] } }),
    check: async (s, w) => {
      const kernel = await kernelOf(s, w.image);
      assert.ok(Buffer.isBuffer(kernel), `download answered ${kernel}`);
      assert.ok(kernel.equals(KERNEL_A) || kernel.equals(KERNEL_B), `a kernel of ${kernel.length} bytes that is neither upload`);
    },
  },
  {
    name: 'uploading a kernel while its image is deleted: the delete succeeds, the image is gone',
    rounds: 10,
    setup: async (s, fresh) => {
      const image = fresh('img');
      assert.equal((await s.api('PUT', `/v0/image/${image}`)).status, 200);
      return { image };
    },
    contenders: (w) => ({
      delete: { requests: [del(`/v0/image/${w.image}`)], wins: 1, losers: [] },
      upload: { requests: [{ method: 'PUT', path: `/v0/image/${w.image}/kernel`, raw: KERNEL_A }], wins: [0, 1], losers: [GONE] },
    }),
    check: async (s, w) => assert.equal(await exists(s, `/v0/image/${w.image}`), false),
  },
];

raceSuite('account and image races', [...accounts, ...images]);
