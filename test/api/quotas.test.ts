/**
 * Per-project quotas ([quotas], docs/operations.md): a project past its limit
 * gets a 409 that names the limit, others are not held up, and concurrent
 * requests of one project are counted one after the other.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil, type Caller, type TestHil } from '../support/hil.ts';

const net = (project: string) => ({ owner: project, access: project, net_id: '' });

async function world(t: TestHil): Promise<{ root: Caller; alice: Caller; bob: Caller }> {
  const root = t.as(await addUser(t, 'root', 'root-pw', true));
  for (const p of ['runway', 'manhattan']) await root('PUT', `/v0/project/${p}`);
  for (let i = 1; i <= 4; i++) await root('PUT', `/v0/node/n${i}`, { obm: { type: 'mock' } });
  return { root, alice: t.as(await addUser(t, 'alice', 'alice-pw', false, ['runway'])), bob: t.as(await addUser(t, 'bob', 'bob-pw', false, ['manhattan'])) };
}

for (const database of testDatabases()) {
  describe(`quotas on ${database.name}`, { skip: database.skip }, () => {
    const quotas = { auth: 'database' as const, config: (c: { quotas: { networks_per_project: number; nodes_per_project: number } }) => ((c.quotas.networks_per_project = 2), (c.quotas.nodes_per_project = 1)) };

    it('refuses a project its third network and its second node with 409 naming the limit; other projects go on', () =>
      withHil(database, quotas, async (t) => {
        const { root, alice, bob } = await world(t);
        for (const name of ['r1', 'r2']) assert.equal((await alice('PUT', `/v0/network/${name}`, net('runway'))).status, 200);
        const third = await alice('PUT', '/v0/network/r3', net('runway'));
        assert.deepEqual([third.status, third.body.type], [409, 'BlockedError'], third.text);
        assert.equal(third.body.msg, 'Project "runway" has 2 networks, its limit (quotas.networks_per_project = 2).');
        assert.equal((await root('PUT', '/v0/network/r3', net('runway'))).status, 409, 'an admin creating it for the project counts too');
        assert.equal((await root('PUT', '/v0/network/pub', { owner: 'admin', access: '', net_id: '' })).status, 200, "admin networks are nobody's quota");
        assert.equal((await bob('PUT', '/v0/network/m1', net('manhattan'))).status, 200);

        assert.equal((await alice('POST', '/v0/project/runway/connect_node', { node: 'n1' })).status, 200);
        const second = await alice('POST', '/v0/project/runway/connect_node', { node: 'n2' });
        assert.deepEqual([second.status, second.body.type], [409, 'BlockedError'], second.text);
        assert.match(second.body.msg, /quotas\.nodes_per_project = 1/);
        assert.equal((await bob('POST', '/v0/project/manhattan/connect_node', { node: 'n2' })).status, 200);
        // A network deleted (or a node released) makes room again.
        assert.equal((await alice('DELETE', '/v0/network/r1')).status, 200);
        assert.equal((await alice('PUT', '/v0/network/r3', net('runway'))).status, 200);
      }));

    it('counts concurrent requests of one project one after the other: exactly the limit succeeds', () =>
      withHil(database, { ...quotas, config: (c: { quotas: { networks_per_project: number; nodes_per_project: number } }) => ((c.quotas.networks_per_project = 3), (c.quotas.nodes_per_project = 2)) }, async (t) => {
        const { alice } = await world(t);
        const nets = await Promise.all(Array.from({ length: 10 }, (_, i) => alice('PUT', `/v0/network/c${i}`, net('runway'))));
        assert.equal(nets.filter((r) => r.status === 200).length, 3, nets.map((r) => r.status).join(' '));
        for (const r of nets.filter((x) => x.status !== 200)) assert.deepEqual([r.status, r.body.type], [409, 'BlockedError'], r.text);
        const nodes = await Promise.all(['n1', 'n2', 'n3', 'n4'].map((node) => alice('POST', '/v0/project/runway/connect_node', { node })));
        assert.equal(nodes.filter((r) => r.status === 200).length, 2, nodes.map((r) => r.text).join(' '));
        assert.equal((await alice('GET', '/v0/project/runway/nodes')).body.length, 2);
      }));

    it('has no limit unless one is configured', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const { alice } = await world(t);
        for (let i = 0; i < 5; i++) assert.equal((await alice('PUT', `/v0/network/u${i}`, net('runway'))).status, 200);
      }));
  });
}
