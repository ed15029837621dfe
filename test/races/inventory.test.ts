/**
 * Races on the inventory: projects, nodes, their nics and metadata (the
 * switches and cabling: ./switches.test.ts). Identical requests: one wins,
 * the rest are told it exists (409) or is gone (404). Conflicting requests
 * (delete vs use): exactly one wins, whichever it is, and the state says which.
 */
import assert from 'node:assert/strict';
import { mkNic, mkProject } from '../support/fixtures.ts';
import { BLOCKED, del, DUP, GONE, post, put, raceSuite, times, winners, type Scenario } from './harness.ts';
import { exists, freeNode, listed, projectAndFreeNode, projectOf } from './worlds.ts';

const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;

const projects: Scenario<any>[] = [
  {
    name: 'twenty creations of one project name: one 200, the rest 409',
    setup: async (_s, fresh) => ({ project: fresh('p') }),
    contenders: (w) => ({ create: { requests: times(20, () => put(`/v0/project/${w.project}`)), wins: 1, losers: [DUP] } }),
    check: async (s, w) => assert.equal(count(await listed(s, '/v0/projects'), w.project), 1),
  },
  {
    name: 'twenty deletions of one project: one 200, the rest 404',
    setup: async (s, fresh) => {
      const project = fresh('p');
      await mkProject(s.api, project);
      return { project };
    },
    contenders: (w) => ({ delete: { requests: times(20, () => del(`/v0/project/${w.project}`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.equal(count(await listed(s, '/v0/projects'), w.project), 0),
  },
  {
    name: 'deleting a project while a free node joins it: exactly one succeeds',
    rounds: 10,
    setup: projectAndFreeNode,
    contenders: (w) => ({
      either: { requests: [del(`/v0/project/${w.project}`), post(`/v0/project/${w.project}/connect_node`, { node: w.node })], wins: 1, losers: [GONE, BLOCKED] },
    }),
    check: async (s, w, a) => {
      const deleted = winners(a.either).some((x) => x.request.method === 'DELETE');
      assert.equal(count(await listed(s, '/v0/projects'), w.project), deleted ? 0 : 1);
      assert.equal(await projectOf(s, w.node), deleted ? null : w.project);
    },
  },
];

const nodes: Scenario<any>[] = [
  {
    name: 'twenty registrations of one node name: one 200, the rest 409',
    setup: async (_s, fresh) => ({ node: fresh('n') }),
    contenders: (w) => ({ register: { requests: times(20, () => put(`/v0/node/${w.node}`, { obm: { type: 'mock' } })), wins: 1, losers: [DUP] } }),
    check: async (s, w) => assert.equal(count(await listed(s, '/v0/nodes/all'), w.node), 1),
  },
  {
    name: 'twenty deletions of one node: one 200, the rest 404',
    setup: async (s, fresh) => ({ node: await freeNode(s, fresh) }),
    contenders: (w) => ({ delete: { requests: times(20, () => del(`/v0/node/${w.node}`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.equal(await exists(s, `/v0/node/${w.node}`), false),
  },
  {
    name: 'deleting a node while a nic is added to it: exactly one succeeds',
    rounds: 10,
    setup: async (s, fresh) => ({ node: await freeNode(s, fresh) }),
    contenders: (w) => ({
      either: { requests: [del(`/v0/node/${w.node}`), put(`/v0/node/${w.node}/nic/eth0`, { macaddr: 'de:ad:be:ef:00:01' })], wins: 1, losers: [GONE, BLOCKED] },
    }),
    check: async (s, w, a) => {
      const deleted = winners(a.either).some((x) => x.request.method === 'DELETE');
      assert.equal(await exists(s, `/v0/node/${w.node}`), !deleted);
      const orphans = await s.db.selectFrom('nic').leftJoin('node', 'node.id', 'nic.node_id').select('nic.id').where('node.id', 'is', null).execute();
      assert.deepEqual(orphans, [], 'nics of no node');
    },
  },
  {
    name: 'deleting a node while a project takes it: exactly one succeeds',
    rounds: 10,
    setup: projectAndFreeNode,
    contenders: (w) => ({
      either: { requests: [del(`/v0/node/${w.node}`), post(`/v0/project/${w.project}/connect_node`, { node: w.node })], wins: 1, losers: [GONE, BLOCKED] },
    }),
    check: async (s, w, a) => {
      const deleted = winners(a.either).some((x) => x.request.method === 'DELETE');
      assert.equal(await exists(s, `/v0/node/${w.node}`), !deleted);
      assert.deepEqual(await listed(s, `/v0/project/${w.project}/nodes`), deleted ? [] : [w.node]);
    },
  },
  {
    name: 'twenty additions of one nic: one 200, the rest 409',
    setup: async (s, fresh) => ({ node: await freeNode(s, fresh) }),
    contenders: (w) => ({ add: { requests: times(20, (i) => put(`/v0/node/${w.node}/nic/eth0`, { macaddr: `de:ad:be:ef:00:${i.toString(16).padStart(2, '0')}` })), wins: 1, losers: [DUP] } }),
    check: async (s, w, a) => {
      const node = (await s.api('GET', `/v0/node/${w.node}`)).body;
      assert.deepEqual(node.nics.map((n: { label: string }) => n.label), ['eth0']);
      assert.equal(node.nics[0].macaddr, winners(a.add)[0]?.request.body.macaddr);
    },
  },
  {
    name: 'twenty removals of one nic: one 200, the rest 404',
    setup: async (s, fresh) => {
      const node = await freeNode(s, fresh);
      await mkNic(s.api, node, 'eth0');
      return { node };
    },
    contenders: (w) => ({ remove: { requests: times(20, () => del(`/v0/node/${w.node}/nic/eth0`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.deepEqual((await s.api('GET', `/v0/node/${w.node}`)).body.nics, []),
  },
  {
    name: 'twenty deletions of one metadata entry: one 200, the rest 404',
    setup: async (s, fresh) => {
      const node = await freeNode(s, fresh);
      assert.equal((await s.api('PUT', `/v0/node/${node}/metadata/k`, { value: 'v' })).status, 200);
      return { node };
    },
    contenders: (w) => ({ delete: { requests: times(20, () => del(`/v0/node/${w.node}/metadata/k`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.deepEqual((await s.api('GET', `/v0/node/${w.node}`)).body.metadata, {}),
  },
  {
    name: 'twenty writes of one metadata entry: all succeed, one value stays',
    setup: async (s, fresh) => ({ node: await freeNode(s, fresh) }),
    contenders: (w) => ({ set: { requests: times(20, (i) => put(`/v0/node/${w.node}/metadata/k`, { value: i })), wins: 20, losers: [] } }),
    check: async (s, w) => {
      const { metadata } = (await s.api('GET', `/v0/node/${w.node}`)).body;
      assert.deepEqual(Object.keys(metadata), ['k']);
      assert.ok(Number(metadata.k) >= 0 && Number(metadata.k) < 20, metadata.k);
    },
  },
  {
    name: 'deleting a node while its metadata is written: the delete succeeds, no metadata is left',
    rounds: 10,
    setup: async (s, fresh) => ({ node: await freeNode(s, fresh) }),
    contenders: (w) => ({
      delete: { requests: [del(`/v0/node/${w.node}`)], wins: 1, losers: [] },
      write: { requests: [put(`/v0/node/${w.node}/metadata/k`, { value: 'v' })], wins: [0, 1], losers: [GONE] },
    }),
    check: async (s, w) => {
      assert.equal(await exists(s, `/v0/node/${w.node}`), false);
      const orphans = await s.db.selectFrom('node_metadata').leftJoin('node', 'node.id', 'node_metadata.node_id').select('node_metadata.label').where('node.id', 'is', null).execute();
      assert.deepEqual(orphans, [], 'metadata of no node');
    },
  },
];

raceSuite('inventory races', [...projects, ...nodes]);
