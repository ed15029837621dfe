/**
 * Authorization matrix, part 1 (spec §4, §5.1, §5.2, §5.4, §16 auth.py):
 * projects, nodes, nics, metadata, node networking and networking actions,
 * each route as admin, alice (runway), bob (manhattan), anonymous and alice
 * with a wrong password, on the real database auth backend.
 */
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { ADMIN_ONLY, NO_PROJECT, count, matrix, type Case, type Fixture } from '../support/authz.ts';

const A = { admin: 200, alice: 401, bob: 401 };
const RUNWAY = { admin: 200, alice: 200, bob: 401 };
const MANHATTAN = { admin: 200, alice: 401, bob: 200 };
const ANY = { admin: 200, alice: 200, bob: 200 };

/** The project label of a node (null when free). */
async function projectOf(fx: Fixture, node: string): Promise<string | null> {
  const row = await fx.t.hil.store.db
    .selectFrom('node')
    .leftJoin('project', 'project.id', 'node.project_id')
    .select('project.label')
    .where('node.label', '=', node)
    .executeTakeFirstOrThrow();
  return row.label;
}

/** The nic's networking actions, and the networks it is attached to. */
async function nicState(fx: Fixture, node: string, nic: string) {
  const db = fx.t.hil.store.db;
  const actions = await db
    .selectFrom('networking_action')
    .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
    .innerJoin('node', 'node.id', 'nic.node_id')
    .leftJoin('network', 'network.id', 'networking_action.new_network_id')
    .select(['networking_action.uuid', 'network.label as network'])
    .where('node.label', '=', node)
    .where('nic.label', '=', nic)
    .execute();
  return { actions: actions.map((a) => ({ uuid: a.uuid, network: a.network })), attachments: await attachedTo(fx, node, nic) };
}

async function attachedTo(fx: Fixture, node: string, nic: string): Promise<string[]> {
  const rows = await fx.t.hil.store.db
    .selectFrom('network_attachment')
    .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
    .innerJoin('node', 'node.id', 'nic.node_id')
    .innerJoin('network', 'network.id', 'network_attachment.network_id')
    .select('network.label')
    .where('node.label', '=', node)
    .where('nic.label', '=', nic)
    .execute();
  return rows.map((r) => r.label);
}

/** A successful connect/detach queued exactly the action it answered with. */
const queued = (network: string | null) => (now: Awaited<ReturnType<typeof nicState>>, res: { body: any }) =>
  assert.deepEqual(now.actions, [{ uuid: res.body.status_id, network }]);

const cases: Case[] = [
  // §5.1 projects
  { method: 'GET', path: '/v0/projects', expect: A, msg: ADMIN_ONLY, view: (res) => assert.deepEqual(res.body, ['doomed', 'manhattan', 'runway']) },
  { method: 'PUT', path: '/v0/project/newproj', expect: A, msg: ADMIN_ONLY, state: (fx) => count(fx, 'project', 'newproj'), after: 1 },
  { method: 'DELETE', path: '/v0/project/doomed', expect: A, msg: ADMIN_ONLY, state: (fx) => count(fx, 'project', 'doomed'), after: 0 },
  {
    method: 'POST',
    path: '/v0/project/runway/connect_node',
    body: { node: 'free_node2' },
    expect: RUNWAY,
    msg: NO_PROJECT,
    state: (fx) => projectOf(fx, 'free_node2'),
    after: 'runway',
  },
  {
    method: 'POST',
    path: '/v0/project/runway/detach_node',
    body: { node: 'runway_node2' },
    expect: RUNWAY,
    msg: NO_PROJECT,
    state: (fx) => projectOf(fx, 'runway_node2'),
    after: null,
  },
  // runway's members may not take a node into manhattan
  {
    method: 'POST',
    path: '/v0/project/manhattan/connect_node',
    body: { node: 'free_node3' },
    expect: MANHATTAN,
    msg: NO_PROJECT,
    state: (fx) => projectOf(fx, 'free_node3'),
    after: 'manhattan',
  },
  {
    method: 'GET',
    path: '/v0/project/runway/nodes',
    expect: RUNWAY,
    msg: NO_PROJECT,
    // (the connect_node and detach_node cases may have moved free_node2/3 and runway_node2)
    view: (res) => assert.deepEqual(res.body.filter((n: string) => !['free_node2', 'free_node3', 'runway_node2'].includes(n)).sort(), ['runway_node', 'runway_obm']),
  },
  {
    method: 'GET',
    path: '/v0/project/runway/networks',
    expect: RUNWAY,
    msg: NO_PROJECT,
    view: (res) => assert.deepEqual(res.body, ['man_shared', 'prov_grant', 'prov_rev', 'prov_runway', 'prov_two', 'runway_grant', 'runway_net', 'runway_spare', 'shared_net']),
  },
  { method: 'GET', path: '/v0/project/runway/headnodes', expect: RUNWAY, msg: NO_PROJECT },
  { method: 'GET', path: '/v0/project/manhattan/nodes', expect: MANHATTAN, msg: NO_PROJECT },

  // §5.2 nodes
  {
    method: 'PUT',
    path: '/v0/node/new_node',
    body: { obm: { type: 'mock', host: 'bmc.example', user: 'root', password: 'tapeworm' } },
    expect: A,
    msg: ADMIN_ONLY,
    state: (fx) => count(fx, 'node', 'new_node'),
    after: 1,
  },
  { method: 'DELETE', path: '/v0/node/spare_node', expect: A, msg: ADMIN_ONLY, state: (fx) => count(fx, 'node', 'spare_node'), after: 0 },
  { method: 'GET', path: '/v0/node/free_node', expect: ANY, view: (res) => assert.equal(res.body.project, null) },
  { method: 'GET', path: '/v0/node/runway_node', expect: RUNWAY, msg: NO_PROJECT, view: (res) => assert.equal(res.body.project, 'runway') },
  { method: 'GET', path: '/v0/node/manhattan_node', expect: MANHATTAN, msg: NO_PROJECT },
  { method: 'GET', path: '/v0/nodes/free', expect: ANY, view: (res) => assert.ok(res.body.includes('free_node') && !res.body.includes('runway_node')) },
  { method: 'GET', path: '/v0/nodes/all', expect: ANY, view: (res) => assert.ok(res.body.includes('free_node') && res.body.includes('manhattan_node')) },

  // §5.2 nics: admin only, also on a project's own node
  {
    method: 'PUT',
    path: '/v0/node/free_node/nic/eth_new',
    body: { macaddr: 'de:ad:be:ef:20:16' },
    expect: A,
    msg: ADMIN_ONLY,
    state: (fx) => count(fx, 'nic', 'eth_new'),
    after: 1,
  },
  { method: 'DELETE', path: '/v0/node/free_node/nic/eth_spare', expect: A, msg: ADMIN_ONLY, state: (fx) => count(fx, 'nic', 'eth_spare'), after: 0 },
  {
    method: 'PUT',
    path: '/v0/node/runway_node/nic/eth_more',
    body: { macaddr: 'de:ad:be:ef:20:17' },
    expect: A,
    msg: ADMIN_ONLY,
    state: (fx) => count(fx, 'nic', 'eth_more'),
    after: 1,
  },

  // §5.2 metadata: admin only, also on a project's own node
  {
    method: 'PUT',
    path: '/v0/node/runway_node/metadata/color',
    body: { value: 'red' },
    expect: A,
    msg: ADMIN_ONLY,
    state: (fx) => count(fx, 'node_metadata', 'color'),
    after: 1,
  },
  { method: 'DELETE', path: '/v0/node/runway_node/metadata/EK', expect: A, msg: ADMIN_ONLY, state: (fx) => count(fx, 'node_metadata', 'EK'), after: 0 },
  { method: 'PUT', path: '/v0/node/free_node/metadata/size', body: { value: { gb: 64 } }, expect: A, msg: ADMIN_ONLY, state: (fx) => count(fx, 'node_metadata', 'size'), after: 1 },

  // §5.4 node networking
  {
    method: 'POST',
    path: '/v0/node/runway_node/nic/eth0/connect_network',
    body: { network: 'runway_net' },
    expect: { admin: 202, alice: 202, bob: 401 },
    msg: NO_PROJECT,
    state: (fx) => nicState(fx, 'runway_node', 'eth0'),
    after: queued('runway_net'),
  },
  {
    method: 'POST',
    path: '/v0/node/runway_node/nic/eth1/detach_network',
    body: { network: 'pub_net' },
    expect: { admin: 202, alice: 202, bob: 401 },
    msg: NO_PROJECT,
    state: (fx) => nicState(fx, 'runway_node', 'eth1'),
    after: queued(null),
  },
  // auth.py Test_node_detach_network: runway may not detach manhattan's node
  {
    method: 'POST',
    path: '/v0/node/manhattan_node/nic/eth0/detach_network',
    body: { network: 'pub_net' },
    expect: { admin: 202, alice: 401, bob: 202 },
    msg: NO_PROJECT,
    state: (fx) => nicState(fx, 'manhattan_node', 'eth0'),
    after: queued(null),
  },
  // auth.py: runway may not attach manhattan's node, even to a public network
  {
    method: 'POST',
    path: '/v0/node/manhattan_node/nic/eth2/connect_network',
    body: { network: 'pub_net' },
    expect: { admin: 202, alice: 401, bob: 202 },
    msg: NO_PROJECT,
    state: (fx) => nicState(fx, 'manhattan_node', 'eth2'),
    after: queued('pub_net'),
  },
  // A free node is "not in project" (409 ProjectMismatch) before authorization (§5.4.1, auth.py).
  { method: 'POST', path: '/v0/node/free_node/nic/eth0/connect_network', body: { network: 'pub_net' }, expect: { admin: 409, alice: 409, bob: 409 } },
  {
    method: 'GET',
    path: (fx) => `/v0/networking_action/${fx.runwayAction}`,
    name: '/v0/networking_action/<runway_node action>',
    expect: RUNWAY,
    msg: NO_PROJECT,
    view: (res) => assert.deepEqual([res.body.node, res.body.nic, res.body.new_network, res.body.status], ['runway_node', 'eth3', 'runway_net', 'DONE']),
  },
  // show_networking_action on a free node's nic is admin only (§4)
  {
    method: 'GET',
    path: (fx) => `/v0/networking_action/${fx.freeAction}`,
    name: '/v0/networking_action/<free_node revert>',
    expect: A,
    msg: NO_PROJECT,
    view: (res) => assert.deepEqual([res.body.node, res.body.type, res.body.channel], ['free_node', 'revert_port', '']),
  },
];

for (const database of testDatabases()) {
  describe(`authz: projects, nodes, node networking on ${database.name}`, { skip: database.skip }, () => matrix(database, cases));
}
