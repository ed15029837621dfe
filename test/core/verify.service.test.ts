/**
 * Reconciliation against the mock switch (whose state is in the database, so
 * the test can make it drift): differences are reported, repaired with fix,
 * and ports with a pending action are left alone. Also through hil-admin.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { testDatabases } from '../support/databases.ts';
import { mockSwitchDb, addUser, withHil, waitAction, type TestHil } from '../support/hil.ts';
import { cabledProject, queueConnect } from '../support/fixtures.ts';
import { HIL_ADMIN } from '../support/processes.ts';

async function drift(t: TestHil, port: string, channel: string, networkId: string | null) {
  const sw = await t.hil.store.db.selectFrom('switch').select('id').executeTakeFirstOrThrow();
  await mockSwitchDb(t).deleteFrom('mock_switch_port').where('switch_id', '=', sw.id).where('port', '=', port).where('channel', '=', channel).execute();
  if (networkId !== null) await mockSwitchDb(t).insertInto('mock_switch_port').values({ switch_id: sw.id, port, channel, network_id: networkId }).execute();
}

for (const database of testDatabases()) {
  describe(`network verify on ${database.name}`, { skip: database.skip }, () => {
    it('reports drift, repairs it with fix, and then reports none', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await cabledProject(api, 3);
        for (const i of [1, 2]) assert.equal((await waitAction(api, await queueConnect(api, `n${i}`, 'eth0', 'net'))).status, 'DONE');
        const clean = await api('GET', '/v0/verify_networks');
        assert.deepEqual([clean.status, clean.body.checked, clean.body.differences], [200, 3, []]);

        await drift(t, 'gi1/0/1', 'vlan/native', null); // the switch lost a VLAN
        await drift(t, 'gi1/0/3', 'vlan/77', '77'); // and grew one HIL never set
        const report = (await api('GET', '/v0/verify_networks', undefined, { query: '?switch=sw0' })).body;
        assert.deepEqual(
          report.differences.map((d: any) => [d.port, d.expected, d.actual]),
          [
            ['gi1/0/1', { 'vlan/native': '40' }, {}],
            ['gi1/0/3', {}, { 'vlan/77': '77' }],
          ],
        );

        const fixed = (await api('POST', '/v0/verify_networks', { fix: true })).body;
        assert.deepEqual(fixed.differences.map((d: any) => [d.port, d.fixed]), [['gi1/0/1', true], ['gi1/0/3', true]]);
        assert.deepEqual((await api('GET', '/v0/verify_networks')).body.differences, []);
        const onSwitch = await mockSwitchDb(t).selectFrom('mock_switch_port').select(['port', 'channel', 'network_id']).orderBy('port').execute();
        assert.deepEqual(onSwitch.map((r) => [r.port, r.channel, r.network_id]), [['gi1/0/1', 'vlan/native', '40'], ['gi1/0/2', 'vlan/native', '40']]);
      }));

    it('is admin-only', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        await addUser(t, 'root', 'root-pw', true);
        await t.as({ username: 'root', password: 'root-pw' })('PUT', '/v0/project/p');
        const alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['p']));
        for (const [method, body] of [['GET', undefined], ['POST', { fix: true }]] as const) {
          assert.equal((await alice(method, '/v0/verify_networks', body)).status, 401);
          assert.equal((await t.as()(method, '/v0/verify_networks', body)).status, 401);
          assert.equal((await t.as({ username: 'root', password: 'root-pw' })(method, '/v0/verify_networks', body)).status, 200);
        }
      }));

    it('leaves ports with a pending action alone', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 2);
        await queueConnect(api, 'n1', 'eth0', 'net');
        await drift(t, 'gi1/0/1', 'vlan/9', '9');
        const r = (await api('POST', '/v0/verify_networks', { fix: true })).body;
        assert.deepEqual([r.checked, r.pending, r.differences], [1, ['sw0 gi1/0/1'], []]);
        const still = await mockSwitchDb(t).selectFrom('mock_switch_port').select('channel').execute();
        assert.deepEqual(still.map((s) => s.channel), ['vlan/9']);
        assert.equal((await api('GET', '/v0/verify_networks', undefined, { query: '?switch=nope' })).status, 404);
      }));

    it('hil-admin network verify prints the differences and exits 1 until fixed', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await cabledProject(api, 1);
        await drift(t, 'gi1/0/1', 'vlan/native', '55');
        const env = { ...process.env, HIL_DATABASE_URL: t.hil.store.url, HIL_VLAN_POOL: '40-80' };
        const run = (...args: string[]) => spawnSync(HIL_ADMIN, ['network', 'verify', ...args], { env, encoding: 'utf8' });
        const first = run();
        assert.equal(first.status, 1, first.stderr);
        assert.match(first.stdout, /DIFFERS {2}sw0 gi1\/0\/1: expected \(none\), switch has vlan\/native=55/);
        const fix = run('--switch', 'sw0', '--fix');
        assert.equal(fix.status, 0, fix.stdout + fix.stderr);
        assert.match(fix.stdout, /FIXED {2}sw0 gi1\/0\/1/);
        const after = run();
        assert.equal(after.status, 0);
        assert.match(after.stdout, /1 ports on 1 switch\(es\) checked: 0 difference\(s\), 0 left/);
      }));
  });
}
