/**
 * The audit line of a mutating call names everything the call was asked to
 * do — path parameters and every field of its body, secrets censored at any
 * depth — and how it ended: "ok", or the error type it was refused with.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil, type TestHil } from '../support/hil.ts';
import { mkNetwork, wiredNode } from '../support/fixtures.ts';

const audits = (t: TestHil) => t.logs.filter((l) => l.audit === true);
const last = (t: TestHil, route: string) => audits(t).filter((l) => l.route === route).at(-1);

for (const database of testDatabases()) {
  describe(`audit lines on ${database.name}`, { skip: database.skip }, () => {
    it('name every argument of the call and its outcome, never a secret', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const admin = t.as(await addUser(t, 'root', 'root-pw', true));
        const w = await wiredNode(admin);
        await mkNetwork(admin, 'runway-net', 'runway');
        const tenant = t.as(await addUser(t, 'alice', 'alice-pw', false, ['runway']));
        const outsider = t.as(await addUser(t, 'mallory', 'mallory-pw', false));

        assert.equal((await tenant('POST', `/v0/node/${w.node}/nic/eth0/connect_network`, { network: 'runway-net' })).status, 202);
        const connect = last(t, '/v0/node/:node/nic/:nic/connect_network');
        assert.deepEqual(
          { user: connect?.user, params: connect?.params, args: connect?.args, status: connect?.status, outcome: connect?.outcome },
          { user: 'alice', params: { node: w.node, nic: 'eth0' }, args: { network: 'runway-net' }, status: 202, outcome: 'ok' },
        );

        // Refusals carry the error type they were answered with.
        const refused = await outsider('POST', `/v0/node/${w.node}/nic/eth0/detach_network`, { network: 'runway-net' });
        assert.equal(refused.status, 401, refused.text); // upstream's status for AuthorizationError
        assert.deepEqual([last(t, '/v0/node/:node/nic/:nic/detach_network')?.outcome, last(t, '/v0/node/:node/nic/:nic/detach_network')?.user], ['AuthorizationError', 'mallory']);
        assert.equal((await admin('PUT', '/v0/network/bad', { owner: 'runway', access: 'runway', net_id: '', colour: 'red' })).status, 400);
        assert.deepEqual(last(t, '/v0/network/:network')?.outcome, 'ValidationError');
        assert.equal((await admin('DELETE', '/v0/project/nowhere')).status, 404);
        assert.equal(last(t, '/v0/project/:project')?.outcome, 'NotFoundError');

        // Secrets: a user's password, a switch's, a BMC's inside "obm"; the other fields stay.
        await admin('PUT', '/v0/auth/basic/user/bob', { password: 'bob-secret-1', is_admin: false });
        assert.deepEqual(last(t, '/v0/auth/basic/user/:user')?.args, { password: '<<CENSORED>>', is_admin: false });
        await admin('PUT', '/v0/node/n9', { obm: { type: 'mock', host: 'bmc9', password: 'bmc-secret-9' } });
        assert.deepEqual(last(t, '/v0/node/:node')?.args, { obm: { type: 'mock', host: 'bmc9', password: '<<CENSORED>>' } });
        await admin('PUT', '/v0/node/n8', { obmd: { uri: 'http://obmd/n8', admin_token: 'obmd-secret-8' } });
        assert.deepEqual(last(t, '/v0/node/:node')?.args, { obmd: { uri: 'http://obmd/n8', admin_token: '<<CENSORED>>' } });
        const logged = JSON.stringify(t.logs);
        for (const secret of ['bob-secret-1', 'bmc-secret-9', 'obmd-secret-8', 'root-pw', 'alice-pw']) assert.ok(!logged.includes(secret), `${secret} was logged`);
      }));
  });
}
