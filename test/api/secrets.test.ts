/** Passwords and BMC/switch credentials never appear in responses or logs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil } from '../support/hil.ts';

const SWITCH_SECRET = 'sw-pass-5f1e9c';
const BMC_SECRET = 'bmc-pass-77ab01';
const USER_SECRET = 'user-pass-c0ffee';

for (const database of testDatabases()) {
  describe(`secrets on ${database.name}`, { skip: database.skip }, () => {
    it('are stored but never returned or logged', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const admin = t.as(await addUser(t, 'root', 'root-pw-1234', true));
        const texts: string[] = [];
        const call = async (method: string, path: string, body?: unknown) => {
          const r = await admin(method, path, body);
          texts.push(r.text);
          return r;
        };
        await call('PUT', '/v0/project/p');
        await call('PUT', '/v0/switch/sw0', { type: 'mock', hostname: 'h', username: 'u', password: SWITCH_SECRET });
        await call('PUT', '/v0/switch/sw1', { type: 'mock', hostname: 'h', username: 'u', password: SWITCH_SECRET, bogus: 1 });
        await call('PUT', '/v0/switch/sw0/port/gi1/0/1');
        await call('PUT', '/v0/node/n1', { obm: { type: 'mock', host: 'bmc1', user: 'root', password: BMC_SECRET } });
        await call('PUT', '/v0/node/n2', { obm: { type: 'mock', password: BMC_SECRET, colour: 'red' } });
        await call('PUT', '/v0/node/n1/nic/eth0', { macaddr: 'aa' });
        await call('POST', '/v0/switch/sw0/port/gi1/0/1/connect_nic', { node: 'n1', nic: 'eth0' });
        await call('PUT', '/v0/auth/basic/user/alice', { password: USER_SECRET });
        await call('PUT', '/v0/auth/basic/user/alice', { password: USER_SECRET });
        await call('POST', '/v0/auth/basic/user/alice/add_project', { project: 'p' });
        for (const path of ['/v0/switches', '/v0/switch/sw0', '/v0/switch/sw0/port/gi1/0/1', '/v0/node/n1', '/v0/nodes/all', '/v0/auth/basic/users', '/openapi.json']) {
          assert.equal((await call('GET', path)).status, 200, path);
        }
        const stored = await t.hil.store.db.selectFrom('switch').select('params').executeTakeFirstOrThrow();
        assert.ok(stored.params.includes(SWITCH_SECRET), 'the driver still gets its password');
        const users = await t.hil.store.db.selectFrom('user').select('password_hash').execute();
        assert.ok(users.every((u) => u.password_hash.startsWith('scrypt$') && !u.password_hash.includes(USER_SECRET)));

        const everything = texts.join('\n') + JSON.stringify(t.logs);
        for (const secret of [SWITCH_SECRET, BMC_SECRET, USER_SECRET, 'root-pw-1234']) {
          assert.ok(!everything.includes(secret), `${secret} leaked`);
        }
        assert.ok(t.logs.some((l) => l.audit === true && l.route === '/v0/auth/basic/user/:user' && l.user === 'root'), 'mutations are audited');
      }));
  });
}
