import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { waitAction, withHil } from '../support/hil.ts';
import {
  assertEmptyOk,
  assertError,
  attach,
  connectNode,
  detach,
  mkNetwork,
  mkNode,
  mkProject,
  queueConnect,
  queueDetach,
  wiredNode,
  withWorkerPaused,
} from '../support/fixtures.ts';

for (const database of testDatabases()) {
  describe(`projects on ${database.name}`, { skip: database.skip }, () => {
    it('lists projects sorted and refuses a duplicate with 409', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        for (const p of ['runway', 'manhattan', 'apollo']) assert.equal((await api('PUT', `/v0/project/${p}`)).status, 200);
        assert.deepEqual((await api('GET', '/v0/projects')).body, ['apollo', 'manhattan', 'runway']);
        const dup = await api('PUT', '/v0/project/runway');
        assert.equal(dup.status, 409);
        assert.equal(dup.body.type, 'DuplicateError');
      }));

    it('creates a project with an empty 200 and an empty list before any exists', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assert.deepEqual((await api('GET', '/v0/projects')).body, []);
        assertEmptyOk(await api('PUT', '/v0/project/runway'));
        assert.deepEqual((await api('GET', '/v0/projects')).body, ['runway']);
        assertError(await api('PUT', '/v0/project/runway', { extra: 1 }), 400, 'ValidationError');
      }));

    it('delete: 404, then blocked by nodes, owned networks and network access in that order, then succeeds', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assertError(await api('DELETE', '/v0/project/ghost'), 404, 'NotFoundError');
        await mkProject(api, 'runway');
        await mkProject(api, 'manhattan');
        await mkNode(api, 'node-1');
        await connectNode(api, 'runway', 'node-1');
        await mkNetwork(api, 'rnet', 'runway');
        await mkNetwork(api, 'mnet', 'manhattan');
        assertEmptyOk(await api('PUT', '/v0/network/mnet/access/runway'));

        assertError(await api('DELETE', '/v0/project/runway'), 409, 'BlockedError', 'Project has nodes still');
        assertEmptyOk(await api('POST', '/v0/project/runway/detach_node', { node: 'node-1' }));
        assertError(await api('DELETE', '/v0/project/runway'), 409, 'BlockedError', 'Project still has networks');
        assertEmptyOk(await api('DELETE', '/v0/network/rnet'));
        assertError(await api('DELETE', '/v0/project/runway'), 409, 'BlockedError', 'Project can still access networks');
        assertEmptyOk(await api('DELETE', '/v0/network/mnet/access/runway'));
        assert.deepEqual((await api('GET', '/v0/projects')).body, ['manhattan', 'runway']);

        assertEmptyOk(await api('DELETE', '/v0/project/runway'));
        assert.deepEqual((await api('GET', '/v0/projects')).body, ['manhattan']);
        assertError(await api('GET', '/v0/project/runway/nodes'), 404, 'NotFoundError');
        assertError(await api('DELETE', '/v0/project/runway'), 404, 'NotFoundError');
      }));

    it('delete is blocked by access to an admin-owned network', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProject(api, 'runway');
        await mkNetwork(api, 'provisioning', 'admin', 'runway');
        assertError(await api('DELETE', '/v0/project/runway'), 409, 'BlockedError', 'Project can still access networks');
        assertEmptyOk(await api('DELETE', '/v0/network/provisioning/access/runway'));
        assertEmptyOk(await api('DELETE', '/v0/project/runway'));
      }));

    it('connect_node: 404 project (before node), 404 node, 409 for a node any project owns', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assertError(await api('POST', '/v0/project/ghost-project/connect_node', { node: 'ghost-node' }), 404, 'NotFoundError', /ghost-project/);
        await mkProject(api, 'runway');
        await mkProject(api, 'manhattan');
        assertError(await api('POST', '/v0/project/runway/connect_node', { node: 'ghost-node' }), 404, 'NotFoundError', /ghost-node/);
        assertError(await api('POST', '/v0/project/runway/connect_node', {}), 400, 'ValidationError');

        await mkNode(api, 'node-1');
        assertEmptyOk(await api('POST', '/v0/project/manhattan/connect_node', { node: 'node-1' }));
        assertError(await api('POST', '/v0/project/runway/connect_node', { node: 'node-1' }), 409, 'BlockedError', 'Node is already owned by a project.');
        assertError(await api('POST', '/v0/project/manhattan/connect_node', { node: 'node-1' }), 409, 'BlockedError');
        assert.equal((await api('GET', '/v0/node/node-1')).body.project, 'manhattan');
        assert.deepEqual((await api('GET', '/v0/project/runway/nodes')).body, []);
        assert.deepEqual((await api('GET', '/v0/project/manhattan/nodes')).body, ['node-1']);
        assert.deepEqual((await api('GET', '/v0/nodes/free')).body, []);
      }));

    it('detach_node: 404 project (before node), 404 node, 404 not in project', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assertError(await api('POST', '/v0/project/ghost-project/detach_node', { node: 'ghost-node' }), 404, 'NotFoundError', /ghost-project/);
        await mkProject(api, 'runway');
        await mkProject(api, 'manhattan');
        assertError(await api('POST', '/v0/project/runway/detach_node', { node: 'ghost-node' }), 404, 'NotFoundError', /ghost-node/);
        await mkNode(api, 'node-1');
        assertError(await api('POST', '/v0/project/runway/detach_node', { node: 'node-1' }), 404, 'NotFoundError', 'Node not in project');
        await connectNode(api, 'manhattan', 'node-1');
        assertError(await api('POST', '/v0/project/runway/detach_node', { node: 'node-1' }), 404, 'NotFoundError', 'Node not in project');
        assert.equal((await api('GET', '/v0/node/node-1')).body.project, 'manhattan');

        assertEmptyOk(await api('POST', '/v0/project/manhattan/detach_node', { node: 'node-1' }));
        assert.equal((await api('GET', '/v0/node/node-1')).body.project, null);
        assert.deepEqual((await api('GET', '/v0/nodes/free')).body, ['node-1']);
        assert.deepEqual((await api('GET', '/v0/project/manhattan/nodes')).body, []);
      }));

    it('detach_node: blocked by an enabled OBM, then a network attachment, then a pending action; works once clear', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const w = await wiredNode(api);
        await mkNetwork(api, 'rnet', 'runway');
        await attach(api, w.node, w.nic, 'rnet');
        assertEmptyOk(await api('PUT', `/v0/node/${w.node}/obm`, { enabled: true }));
        const detachNode = () => api('POST', '/v0/project/runway/detach_node', { node: w.node });

        assertError(await detachNode(), 409, 'BlockedError', `Node ${w.node}'s obm is enabled. Disable it first (hil node obm disable ${w.node}).`);
        assertEmptyOk(await api('PUT', `/v0/node/${w.node}/obm`, { enabled: false }));
        assertError(await detachNode(), 409, 'BlockedError', 'Node attached to a network');

        // A pending detach: the attachment is still there, and it wins.
        let statusId = '';
        await withWorkerPaused(t, async () => {
          statusId = await queueDetach(api, w.node, w.nic, 'rnet');
          assertError(await detachNode(), 409, 'BlockedError', 'Node attached to a network');
        });
        assert.equal((await waitAction(api, statusId)).status, 'DONE');

        // A pending connect with no attachment yet.
        await withWorkerPaused(t, async () => {
          statusId = await queueConnect(api, w.node, w.nic, 'rnet');
          assertError(await detachNode(), 409, 'BlockedError', 'Node has pending network actions');
          assert.equal((await api('GET', `/v0/networking_action/${statusId}`)).body.status, 'PENDING');
        });
        assert.equal((await waitAction(api, statusId)).status, 'DONE');
        assertError(await detachNode(), 409, 'BlockedError', 'Node attached to a network');

        await detach(api, w.node, w.nic, 'rnet');
        assertEmptyOk(await detachNode());
        assert.deepEqual((await api('GET', '/v0/project/runway/nodes')).body, []);
        assert.deepEqual((await api('GET', '/v0/nodes/free')).body, [w.node]);
        const row = await t.hil.store.db.selectFrom('node').select('project_id').where('label', '=', w.node).executeTakeFirstOrThrow();
        assert.equal(row.project_id, null);
      }));

    it('nodes lists exactly the project\'s nodes; networks is sorted and includes shared ones; headnodes is []', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        for (const p of ['runway', 'manhattan']) await mkProject(api, p);
        for (const n of ['node-c', 'node-a', 'node-b', 'node-x']) await mkNode(api, n);
        for (const n of ['node-b', 'node-c', 'node-a']) await connectNode(api, 'runway', n);
        await connectNode(api, 'manhattan', 'node-x');
        const nodes = (await api('GET', '/v0/project/runway/nodes')).body;
        // Database order, which upstream leaves unspecified: compare as a set.
        assert.equal(nodes.length, 3);
        assert.deepEqual([...nodes].sort(), ['node-a', 'node-b', 'node-c']);
        assert.deepEqual((await api('GET', '/v0/project/manhattan/nodes')).body, ['node-x']);

        await mkNetwork(api, 'zeta', 'runway');
        await mkNetwork(api, 'alpha', 'runway');
        await mkNetwork(api, 'mid', 'admin', 'runway');
        await mkNetwork(api, 'pub', 'admin', '');
        await mkNetwork(api, 'mnet', 'manhattan');
        await mkNetwork(api, 'private', 'manhattan');
        assertEmptyOk(await api('PUT', '/v0/network/mnet/access/runway'));
        assert.deepEqual((await api('GET', '/v0/project/runway/networks')).body, ['alpha', 'mid', 'mnet', 'zeta']);
        assert.deepEqual((await api('GET', '/v0/project/manhattan/networks')).body, ['mnet', 'private']);

        const hn = await api('GET', '/v0/project/runway/headnodes');
        assert.equal(hn.status, 200);
        assert.deepEqual(hn.body, []);

        for (const what of ['nodes', 'networks', 'headnodes']) {
          assertError(await api('GET', `/v0/project/ghost/${what}`), 404, 'NotFoundError');
        }
      }));
  });
}
