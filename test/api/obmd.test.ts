/**
 * Nodes whose OBM is an external obmd (spec §5.2, §12; upstream's
 * tests/integration/obmd.py): tokens are fetched and revoked by HIL, power and
 * console calls are 307 redirects that work when followed, and obmd's
 * secrets never reach the tenant except as the redirect's own token.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil } from '../support/hil.ts';
import { startFakeObmd } from '../support/fake-obmd.ts';

for (const database of testDatabases()) {
  describe(`obmd-managed nodes on ${database.name}`, { skip: database.skip }, () => {
    it('enable gets a token; power calls redirect with it and work when followed; disable revokes it', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const obmd = await startFakeObmd(['n1']);
        try {
          const admin = t.as(await addUser(t, 'root', 'pw', true));
          await admin('PUT', '/v0/project/p');
          const tenant = t.as(await addUser(t, 'alice', 'apw', false, ['p']));
          assert.equal((await admin('PUT', '/v0/node/n1', { obmd: { uri: `${obmd.url}/node/n1`, admin_token: obmd.adminToken } })).status, 200);
          await admin('POST', '/v0/project/p/connect_node', { node: 'n1' });

          const before = await tenant('POST', '/v0/node/n1/power_cycle', { force: true });
          assert.deepEqual([before.status, before.body.type, before.body.msg], [409, 'BlockedError', 'OBM is not enabled']);

          assert.equal((await tenant('PUT', '/v0/node/n1/obm', { enabled: true })).status, 200);
          const token = obmd.nodeToken('n1');
          assert.ok(token);
          assert.equal((await tenant('PUT', '/v0/node/n1/obm', { enabled: true })).status, 200, 'enabling twice is fine');
          const token2 = obmd.nodeToken('n1')!;
          assert.notEqual(token2, token, 'a second enable replaces the token');

          const cycle = await tenant('POST', '/v0/node/n1/power_cycle', { force: true });
          assert.equal(cycle.status, 307);
          assert.equal(cycle.headers.location, `${obmd.url}/node/n1/power_cycle?token=${token2}`);
          // Following the redirect replays method and body at obmd, as a client does.
          const followed = await fetch(String(cycle.headers.location), { method: 'POST', body: JSON.stringify({ force: true }) });
          assert.equal(followed.status, 200);
          assert.ok(obmd.calls.includes('POST power_cycle {"force":true}'));

          const status = await tenant('GET', '/v0/node/n1/power_status');
          assert.equal(status.status, 307);
          assert.deepEqual(await (await fetch(String(status.headers.location))).json(), { power_status: 'Mock Status' });

          const boot = await tenant('PUT', '/v0/node/n1/boot_device', { bootdev: 'A' });
          assert.equal(boot.status, 307);
          assert.match(String(boot.headers.location), /\/node\/n1\/boot_device\?token=/);

          const consoleRedirect = await tenant('GET', '/v0/node/n1/console');
          assert.equal(consoleRedirect.status, 307);
          const ctl = new AbortController();
          const stream = await fetch(String(consoleRedirect.headers.location), { signal: ctl.signal });
          const reader = stream.body!.getReader();
          const { value } = await reader.read();
          assert.match(Buffer.from(value!).toString(), /^0\n/);
          ctl.abort();

          const detach = await tenant('POST', '/v0/project/p/detach_node', { node: 'n1' });
          assert.deepEqual([detach.status, detach.body.msg], [409, "Node n1's obm is enabled. Disable it first (hil node obm disable n1)."]);

          assert.equal((await tenant('PUT', '/v0/node/n1/obm', { enabled: false })).status, 200);
          assert.ok(obmd.calls.includes('DELETE token'));
          assert.notEqual(obmd.nodeToken('n1'), token2, 'obmd no longer honours the old token');
          assert.equal((await tenant('POST', '/v0/node/n1/power_on')).status, 409);
          assert.equal((await tenant('POST', '/v0/project/p/detach_node', { node: 'n1' })).status, 200);

          // Nothing tenants can read carries obmd's admin token.
          const shown = await admin('GET', '/v0/node/n1');
          assert.ok(!shown.text.includes(obmd.adminToken));
          assert.ok(!JSON.stringify(t.logs).includes(obmd.adminToken));
          assert.ok(!JSON.stringify(t.logs).includes(token2));
        } finally {
          await obmd.close();
        }
      }));

    it('an obmd that refuses or is down gives 500 OBMError and leaves the OBM disabled', () =>
      withHil(database, { config: (c) => (c.obm.timeout_seconds = 1) }, async (t) => {
        const obmd = await startFakeObmd(['n1']);
        const api = t.as();
        try {
          await api('PUT', '/v0/node/n1', { obmd: { uri: `${obmd.url}/node/n1`, admin_token: 'wrong-token' } });
          const refused = await api('PUT', '/v0/node/n1/obm', { enabled: true });
          assert.deepEqual([refused.status, refused.body.type], [500, 'OBMError']);
          await api('PUT', '/v0/node/n2', { obmd: { uri: 'http://127.0.0.1:9/node/n2', admin_token: 'x' } });
          const down = await api('PUT', '/v0/node/n2/obm', { enabled: true });
          assert.deepEqual([down.status, down.body.type], [500, 'OBMError']);
          const rows = await t.hil.store.db.selectFrom('node').select(['label', 'obm_enabled']).orderBy('label').execute();
          assert.deepEqual(rows.map((r) => Boolean(r.obm_enabled)), [false, false]);
          assert.equal((await api('GET', '/v0/nodes/all')).status, 200, 'the server stays healthy');
        } finally {
          await obmd.close();
        }
      }));
  });
}
