import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil, type Caller, type Response, type TestHil } from '../support/hil.ts';
import { assertEmptyOk, assertError, mkProject } from '../support/fixtures.ts';

const USERS = '/v0/auth/basic/users';
const user = (name: string, suffix = '') => `/v0/auth/basic/user/${name}${suffix}`;

/** A caller that remembers every answer, so a test can check none of them leaks a secret. */
function recording(call: Caller, seen: Response[]): Caller {
  return async (...args) => {
    const r = await call(...args);
    seen.push(r);
    return r;
  };
}

async function rootApi(t: TestHil) {
  return t.as(await addUser(t, 'root', 'root-password-1', true));
}

for (const database of testDatabases()) {
  describe(`users on ${database.name}`, { skip: database.skip }, () => {
    it('creates users (is_admin defaults to false) and lists them with sorted keys and sorted projects', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const api = await rootApi(t);
        for (const p of ['runway', 'apollo', 'manhattan']) await mkProject(api, p);
        assertEmptyOk(await api('PUT', user('zed'), { password: 'zed-pw' }));
        assertEmptyOk(await api('PUT', user('alice'), { password: 'alice-pw', is_admin: false }));
        assertEmptyOk(await api('PUT', user('bob'), { password: 'bob-pw', is_admin: true }));
        for (const p of ['runway', 'apollo', 'manhattan']) assertEmptyOk(await api('POST', user('zed', '/add_project'), { project: p }));
        assertEmptyOk(await api('POST', user('alice', '/add_project'), { project: 'runway' }));

        const list = await api('GET', USERS);
        assert.equal(list.status, 200);
        assert.deepEqual(list.body, {
          alice: { is_admin: false, projects: ['runway'] },
          bob: { is_admin: true, projects: [] },
          root: { is_admin: true, projects: [] },
          zed: { is_admin: false, projects: ['apollo', 'manhattan', 'runway'] },
        });
        assert.deepEqual(Object.keys(list.body), ['alice', 'bob', 'root', 'zed']);
        for (const u of Object.values(list.body) as object[]) assert.deepEqual(Object.keys(u), ['is_admin', 'projects']);
        const zed = await t.hil.store.db.selectFrom('user').select('is_admin').where('label', '=', 'zed').executeTakeFirstOrThrow();
        assert.equal(Boolean(zed.is_admin), false);

        assertError(await api('PUT', user('alice'), { password: 'other' }), 409, 'DuplicateError');
        assertError(await api('PUT', user('root'), { password: 'other', is_admin: false }), 409, 'DuplicateError');
        assertError(await api('PUT', user('carol'), {}), 400, 'ValidationError');
        assertError(await api('PUT', user('carol'), { password: 'pw', is_admin: 'yes' }), 400, 'ValidationError');
        assertError(await api('PUT', user('carol'), { password: 'pw', 'is-admin': true }), 400, 'ValidationError');
        assert.deepEqual(Object.keys((await api('GET', USERS)).body), ['alice', 'bob', 'root', 'zed']);
      }));

    it('a user created through the API can authenticate with its own rights; a deleted one gets 401', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const api = await rootApi(t);
        await mkProject(api, 'runway');
        assertEmptyOk(await api('PUT', user('alice'), { password: 'alice-pw' }));
        assertEmptyOk(await api('PUT', user('bob'), { password: 'bob-pw', is_admin: true }));
        const alice = t.as({ username: 'alice', password: 'alice-pw' });
        const bob = t.as({ username: 'bob', password: 'bob-pw' });
        assert.equal((await alice('GET', '/v0/nodes/free')).status, 200);
        assertError(await alice('GET', '/v0/projects'), 401, 'AuthorizationError');
        assert.deepEqual((await bob('GET', '/v0/projects')).body, ['runway']);
        assertError(await t.as({ username: 'alice', password: 'wrong' })('GET', '/v0/nodes/free'), 401, 'AuthorizationError');
        assertError(await t.as()('GET', '/v0/nodes/free'), 401, 'AuthorizationError');

        assertError(await api('DELETE', user('ghost')), 404, 'NotFoundError');
        assertEmptyOk(await api('DELETE', user('alice')));
        assertEmptyOk(await api('DELETE', user('bob')));
        assertError(await alice('GET', '/v0/nodes/free'), 401, 'AuthorizationError');
        assertError(await bob('GET', '/v0/projects'), 401, 'AuthorizationError');
        assert.deepEqual(Object.keys((await api('GET', USERS)).body), ['root']);
        assertError(await api('DELETE', user('alice')), 404, 'NotFoundError');
        // The name is free again; the old password does not come back with it.
        assertEmptyOk(await api('PUT', user('alice'), { password: 'new-pw' }));
        assertError(await alice('GET', '/v0/nodes/free'), 401, 'AuthorizationError');
        assert.equal((await t.as({ username: 'alice', password: 'new-pw' })('GET', '/v0/nodes/free')).status, 200);
      }));

    it('add_project / remove_project: 404 user (first), 404 project, 409 already in, 404 not in; access follows', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const api = await rootApi(t);
        await mkProject(api, 'runway');
        assertEmptyOk(await api('PUT', user('alice'), { password: 'alice-pw' }));
        const alice = t.as({ username: 'alice', password: 'alice-pw' });
        for (const action of ['/add_project', '/remove_project']) {
          assertError(await api('POST', user('ghost-user', action), { project: 'ghost-project' }), 404, 'NotFoundError', /ghost-user/);
          assertError(await api('POST', user('alice', action), { project: 'ghost-project' }), 404, 'NotFoundError', /ghost-project/);
          assertError(await api('POST', user('alice', action), {}), 400, 'ValidationError');
        }
        assertError(await api('POST', user('alice', '/remove_project'), { project: 'runway' }), 404, 'NotFoundError', 'User alice is not in project runway');
        assertError(await alice('GET', '/v0/project/runway/nodes'), 401, 'AuthorizationError');

        assertEmptyOk(await api('POST', user('alice', '/add_project'), { project: 'runway' }));
        assertError(await api('POST', user('alice', '/add_project'), { project: 'runway' }), 409, 'DuplicateError', 'User alice is already in project runway');
        assert.deepEqual((await alice('GET', '/v0/project/runway/nodes')).body, []);
        assert.deepEqual((await api('GET', USERS)).body.alice.projects, ['runway']);

        assertEmptyOk(await api('POST', user('alice', '/remove_project'), { project: 'runway' }));
        assertError(await alice('GET', '/v0/project/runway/nodes'), 401, 'AuthorizationError');
        assert.deepEqual((await api('GET', USERS)).body.alice.projects, []);
        assertError(await api('POST', user('alice', '/remove_project'), { project: 'runway' }), 404, 'NotFoundError');

        // Deleting a project ends its memberships; the user stays.
        assertEmptyOk(await api('POST', user('alice', '/add_project'), { project: 'runway' }));
        assertEmptyOk(await api('DELETE', '/v0/project/runway'));
        assert.deepEqual((await api('GET', USERS)).body.alice, { is_admin: false, projects: [] });
        assert.equal((await alice('GET', '/v0/nodes/free')).status, 200);
      }));

    it('PATCH is_admin: 404, 409 IllegalStateError for your own status, otherwise takes effect at once', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const api = await rootApi(t);
        assertEmptyOk(await api('PUT', user('alice'), { password: 'alice-pw' }));
        const alice = t.as({ username: 'alice', password: 'alice-pw' });
        assertError(await api('PATCH', user('ghost'), { is_admin: true }), 404, 'NotFoundError');
        assertError(await api('PATCH', user('alice'), {}), 400, 'ValidationError');
        assertError(await api('PATCH', user('alice'), { is_admin: 'true' }), 400, 'ValidationError');
        for (const is_admin of [true, false]) {
          assertError(await api('PATCH', user('root'), { is_admin }), 409, 'IllegalStateError', 'Cannot set own admin status');
        }
        assert.equal((await api('GET', USERS)).body.root.is_admin, true);

        assertError(await alice('GET', '/v0/projects'), 401, 'AuthorizationError');
        assertEmptyOk(await api('PATCH', user('alice'), { is_admin: true }));
        assert.equal((await api('GET', USERS)).body.alice.is_admin, true);
        assert.equal((await alice('GET', '/v0/projects')).status, 200);
        assertError(await alice('PATCH', user('alice'), { is_admin: false }), 409, 'IllegalStateError');
        assertEmptyOk(await alice('PATCH', user('root'), { is_admin: false }));
        assert.equal((await api('GET', '/v0/projects')).status, 401);
        assertEmptyOk(await alice('PATCH', user('root'), { is_admin: true }));
        assertEmptyOk(await api('PATCH', user('alice'), { is_admin: false }));
        assertError(await alice('GET', USERS), 401, 'AuthorizationError');
        const row = await t.hil.store.db.selectFrom('user').select('is_admin').where('label', '=', 'alice').executeTakeFirstOrThrow();
        assert.equal(Boolean(row.is_admin), false);
      }));

    it('an administrator cannot delete their own account, and two cannot remove each other to leave none', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const a = t.as(await addUser(t, 'a', 'a-pw', true));
        const self = await a('DELETE', '/v0/auth/basic/user/a');
        assert.deepEqual([self.status, self.body.type], [409, 'IllegalStateError'], self.text);
        const admins = async () => (await t.hil.store.db.selectFrom('user').select('label').where('is_admin', '=', true).execute()).map((r) => r.label);
        for (let round = 0; round < 10; round++) {
          // Exactly two administrators, b and c, and each takes the other's rights away at the same moment.
          await t.hil.store.db.deleteFrom('user').execute();
          t.hil.auth.invalidate();
          const b = t.as(await addUser(t, 'b', 'b-pw', true));
          const c = t.as(await addUser(t, 'c', 'c-pw', true));
          const [byB, byC] = await Promise.all([b('DELETE', '/v0/auth/basic/user/c'), c('PATCH', '/v0/auth/basic/user/b', { is_admin: false })]);
          assert.equal((await admins()).length, 1, `round ${round}: ${byB.status} ${byB.text} / ${byC.status} ${byC.text}`);
          const refused = [byB, byC].filter((r) => r.status !== 200);
          assert.equal(refused.length, 1, `round ${round}: exactly one wins`);
          assert.ok(refused[0]!.status === 409 || refused[0]!.status === 401, refused[0]!.text);
        }
      }));

    it('passwords never appear in any response or log line', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const seen: Response[] = [];
        const api = recording(await rootApi(t), seen);
        await mkProject(api, 'runway');
        const secrets = ['root-password-1', 'alice-Secret-77', 'bob-Secret-88'];
        assertEmptyOk(await api('PUT', user('alice'), { password: secrets[1] }));
        assertEmptyOk(await api('PUT', user('bob'), { password: secrets[2], is_admin: true }));
        assertError(await api('PUT', user('bob'), { password: secrets[2] }), 409, 'DuplicateError');
        assertError(await api('PUT', user('carol'), { password: secrets[2], bogus: 1 }), 400, 'ValidationError');
        await api('POST', user('alice', '/add_project'), { project: 'runway' });
        await api('PATCH', user('alice'), { is_admin: true });
        await api('GET', USERS);
        const alice = recording(t.as({ username: 'alice', password: secrets[1] }), seen);
        await alice('GET', USERS);
        await alice('GET', '/v0/project/runway/nodes');
        await recording(t.as({ username: 'alice', password: 'wrong' }), seen)('GET', USERS);
        await api('DELETE', user('bob'));

        const hashes = (await t.hil.store.db.selectFrom('user').select('password_hash').execute()).map((r) => r.password_hash);
        assert.equal(hashes.length, 2);
        const everything = [...seen.map((r) => r.text + JSON.stringify(r.headers)), ...t.logs.map((l) => JSON.stringify(l))].join('\n');
        assert.ok(seen.length >= 10 && t.logs.length > 0);
        for (const s of [...secrets, ...hashes]) assert.equal(everything.includes(s), false, `found ${s}`);
        assert.doesNotMatch(everything, /password_hash|hashed_password/);
      }));

    it('with auth "null" the /v0/auth/basic routes do not exist', () =>
      withHil(database, { auth: 'null' }, async (t) => {
        const api = t.as();
        await mkProject(api, 'runway');
        const calls: Array<[string, string, unknown]> = [
          ['GET', USERS, undefined],
          ['PUT', user('alice'), { password: 'pw' }],
          ['DELETE', user('alice'), undefined],
          ['PATCH', user('alice'), { is_admin: true }],
          ['POST', user('alice', '/add_project'), { project: 'runway' }],
          ['POST', user('alice', '/remove_project'), { project: 'runway' }],
        ];
        for (const [method, path, body] of calls) {
          assertError(await api(method, path, body), 404, 'NotFoundError');
        }
        assert.deepEqual(await t.hil.store.db.selectFrom('user').select('label').execute(), []);
      }));
  });
}
