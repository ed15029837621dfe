/**
 * Races decided by the database: concurrent requests that would break an
 * invariant get the answer a sequential request would, never a 500 or a
 * duplicate. (On PostgreSQL these requests really run in parallel.)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { withHil } from '../support/hil.ts';
import { cabledProject } from '../support/fixtures.ts';

function tally(statuses: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

for (const database of testDatabases()) {
  describe(`concurrent requests on ${database.name}`, { skip: database.skip }, () => {
    it('twenty registrations of one node name: one 200, nineteen 409', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const results = await Promise.all(Array.from({ length: 20 }, () => api('PUT', '/v0/node/same', { obm: { type: 'mock' } })));
        assert.deepEqual(tally(results.map((r) => r.status)), { 200: 1, 409: 19 });
        assert.ok(results.filter((r) => r.status === 409).every((r) => r.body.type === 'DuplicateError'));
      }));

    it('ten projects grabbing one free node: exactly one gets it', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await api('PUT', '/v0/node/n', { obm: { type: 'mock' } });
        for (let i = 0; i < 10; i++) await api('PUT', `/v0/project/p${i}`);
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => api('POST', `/v0/project/p${i}/connect_node`, { node: 'n' })));
        assert.deepEqual(tally(results.map((r) => r.status)), { 200: 1, 409: 9 });
        const winner = results.findIndex((r) => r.status === 200);
        assert.equal((await api('GET', '/v0/node/n')).body.project, `p${winner}`);
      }));

    it('twenty networks allocated at once get twenty different VLANs', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await api('PUT', '/v0/project/p');
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => api('PUT', `/v0/network/net${i}`, { owner: 'p', access: 'p', net_id: '' })));
        assert.deepEqual(tally(results.map((r) => r.status)), { 200: 20 }, results.map((r) => r.text).join(' '));
        const list = (await api('GET', '/v0/networks')).body as Record<string, { network_id: string }>;
        const vlans = Object.values(list).map((n) => n.network_id);
        assert.equal(new Set(vlans).size, 20);
        const taken = await t.hil.store.db.selectFrom('vlan').select('vlan_no').where('available', '=', false).execute();
        assert.equal(taken.length, 20);
      }));

    it('five connects on one nic at once: one queued, four refused as busy', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 1);
        for (let i = 0; i < 5; i++) await api('PUT', `/v0/network/extra${i}`, { owner: 'p', access: 'p', net_id: '' });
        const results = await Promise.all(Array.from({ length: 5 }, (_, i) => api('POST', '/v0/node/n1/nic/eth0/connect_network', { network: `extra${i}` })));
        assert.deepEqual(tally(results.map((r) => r.status)), { 202: 1, 409: 4 });
        const actions = await t.hil.store.db.selectFrom('networking_action').select('status').execute();
        assert.deepEqual(actions.map((a) => a.status), ['PENDING']);
      }));
  });
}
