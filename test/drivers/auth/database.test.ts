/**
 * What the database auth backend remembers, and for how long: changes made
 * through this server apply at once; changes made behind its back (another
 * API server sharing the database) apply within auth.refresh_ms.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { testDatabases } from '../../support/databases.ts';
import { addUser, withHil, type TestHil } from '../../support/hil.ts';
import { hashPassword } from '../../../src/drivers/auth/password.ts';

async function userId(t: TestHil, label: string) {
  return (await t.hil.store.db.selectFrom('user').select('id').where('label', '=', label).executeTakeFirstOrThrow()).id;
}

for (const database of testDatabases()) {
  describe(`database auth cache on ${database.name}`, { skip: database.skip }, () => {
    it('membership removed through the API applies to the next request', () =>
      withHil(database, { auth: 'database', config: (c) => (c.auth.refresh_ms = 60_000) }, async (t) => {
        const root = t.as(await addUser(t, 'root', 'root-pw', true));
        await root('PUT', '/v0/project/p');
        const alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['p']));
        assert.equal((await alice('GET', '/v0/project/p/nodes')).status, 200);
        assert.equal((await root('POST', '/v0/auth/basic/user/alice/remove_project', { project: 'p' })).status, 200);
        assert.equal((await alice('GET', '/v0/project/p/nodes')).status, 401);
        assert.equal((await root('PATCH', '/v0/auth/basic/user/alice', { is_admin: true })).status, 200);
        assert.equal((await alice('GET', '/v0/projects')).status, 200);
      }));

    it('changes made behind its back apply within refresh_ms', () =>
      withHil(database, { auth: 'database', config: (c) => (c.auth.refresh_ms = 300) }, async (t) => {
        const root = t.as(await addUser(t, 'root', 'root-pw', true));
        await root('PUT', '/v0/project/p');
        const alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['p']));
        assert.equal((await alice('GET', '/v0/project/p/nodes')).status, 200);
        await t.hil.store.db.deleteFrom('user_project').where('user_id', '=', await userId(t, 'alice')).execute();
        await sleep(400);
        assert.equal((await alice('GET', '/v0/project/p/nodes')).status, 401);
      }));

    it('a password changed behind its back stops the cached one within refresh_ms', () =>
      withHil(database, { auth: 'database', config: (c) => (c.auth.refresh_ms = 300) }, async (t) => {
        const alice = t.as(await addUser(t, 'alice', 'old-pw', false));
        assert.equal((await alice('GET', '/v0/nodes/free')).status, 200);
        await t.hil.store.db.updateTable('user').set({ password_hash: await hashPassword('new-pw') }).where('label', '=', 'alice').execute();
        await sleep(400);
        assert.equal((await alice('GET', '/v0/nodes/free')).status, 401);
        assert.equal((await t.as({ username: 'alice', password: 'new-pw' })('GET', '/v0/nodes/free')).status, 200);
      }));

    it('with refresh_ms = 0 every request reads the user again', () =>
      withHil(database, { auth: 'database', config: (c) => (c.auth.refresh_ms = 0) }, async (t) => {
        await addUser(t, 'root', 'root-pw', true);
        const root = t.as({ username: 'root', password: 'root-pw' });
        assert.equal((await root('GET', '/v0/projects')).status, 200);
        await t.hil.store.db.updateTable('user').set({ is_admin: false }).where('label', '=', 'root').execute();
        assert.equal((await root('GET', '/v0/projects')).status, 401);
      }));

    it('takes as long for an unknown user as for a known user with a wrong password (no user enumeration by timing)', (ctx) =>
      withHil(database, { auth: 'database' }, async (t) => {
        await addUser(t, 'alice', 'alice-pw', false);
        const auth = t.hil.auth;
        const basic = (user: string, pw: string) => 'Basic ' + Buffer.from(`${user}:${pw}`).toString('base64');
        const timed = async (header: string) => {
          const started = performance.now();
          assert.equal(await auth.authenticate({ authorization: header }), null);
          return performance.now() - started;
        };
        await timed(basic('nobody', 'x')); // the decoy hash is made once, on first use
        const unknown: number[] = [];
        const wrong: number[] = [];
        for (let i = 0; i < 50; i++) {
          // Interleaved, with fresh passwords: nothing is cached, and load hits both alike.
          unknown.push(await timed(basic(`nobody-${i}`, `guess-${i}`)));
          wrong.push(await timed(basic('alice', `guess-${i}`)));
        }
        const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
        const [mu, mw] = [median(unknown), median(wrong)];
        ctx.diagnostic(`median over 50 tries: unknown user ${mu.toFixed(1)} ms, known user with a wrong password ${mw.toFixed(1)} ms (ratio ${(mu / mw).toFixed(2)})`);
        // Before the decoy: 1.6 ms against ~100 ms, a ratio of 0.02.
        assert.ok(mu / mw > 0.6 && mu / mw < 1.6, `unknown ${mu.toFixed(1)} ms vs wrong password ${mw.toFixed(1)} ms`);
      }));
  });
}
