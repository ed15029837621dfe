/**
 * Authorization special cases (spec §2 order of processing, §4, §5.2.7,
 * §5.3.3–5, §16): what non-admins may see of a node or network, optional
 * authentication, and the order of schema check, authentication and lookups.
 */
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { ADMIN_ONLY, NO_NETWORK, NO_PROJECT, count, matrix, type Case, type Response } from '../support/authz.ts';

const A = { admin: 200, alice: 401, bob: 401 };
const ANY = { admin: 200, alice: 200, bob: 200 };
const RUNWAY = { admin: 200, alice: 200, bob: 401 };
const ALL_400 = { admin: 400, alice: 400, bob: 400, anon: 400 };

/** Per nic of the shown node: whether it carries the port or switch key. */
const portKeys = (res: Response) => res.body.nics.map((n: Record<string, unknown>) => 'port' in n || 'switch' in n);

/** Read-only views whose content depends on the caller. */
const views: Case[] = [
  // §5.2.7: port and switch keys are shown to admins only
  {
    method: 'GET',
    path: '/v0/node/runway_node',
    expect: RUNWAY,
    msg: NO_PROJECT,
    view: (res, role) => {
      const eth0 = res.body.nics.find((n: { label: string }) => n.label === 'eth0');
      if (role === 'admin') assert.deepEqual([eth0.port, eth0.switch], ['gi1/0/2', 'sw0']);
      else assert.deepEqual(portKeys(res), [false, false, false, false, false]);
      assert.deepEqual(res.body.nics.find((n: { label: string }) => n.label === 'eth1').networks, { 'vlan/native': 'pub_net' });
    },
  },
  { method: 'GET', path: '/v0/node/free_node', expect: ANY, view: (res, role) => assert.deepEqual(portKeys(res), Array(5).fill(role === 'admin')) },
  // §5.3.4: non-admins see only public networks
  {
    method: 'GET',
    path: '/v0/networks',
    expect: ANY,
    view: (res, role) => {
      if (role === 'admin') assert.equal(Object.keys(res.body).length, 12);
      else assert.deepEqual(Object.keys(res.body).sort(), ['pub_net', 'pub_spare']);
      assert.deepEqual([res.body.pub_net.projects, res.body.pub_spare.projects], [null, null]);
    },
  },
  // §5.3.3 connected-nodes: access to the owner (admin for admin networks), or to the node's project
  {
    method: 'GET',
    path: '/v0/network/pub_net',
    expect: ANY,
    view: (res, role) => {
      const seen: Record<string, unknown> = {
        admin: { runway_node: ['eth1'], manhattan_node: ['eth0'] },
        alice: { runway_node: ['eth1'] },
        bob: { manhattan_node: ['eth0'] },
      };
      assert.deepEqual(res.body['connected-nodes'], seen[role]);
    },
  },
  {
    method: 'GET',
    path: '/v0/network/shared_net',
    expect: ANY,
    view: (res, role) => {
      const all = { runway_node: ['eth2'], manhattan_node: ['eth1'] };
      assert.deepEqual(res.body['connected-nodes'], role === 'alice' ? { runway_node: ['eth2'] } : all);
      assert.deepEqual([res.body.owner, [...res.body.access].sort()], ['manhattan', ['manhattan', 'runway']]);
    },
  },
  { method: 'GET', path: '/v0/network/runway_net', expect: RUNWAY, msg: NO_NETWORK },
  {
    method: 'GET',
    path: '/v0/network/shared_net/attachments',
    query: '?project=manhattan',
    expect: { admin: 200, alice: 401, bob: 200 },
    view: (res) => assert.deepEqual(res.body, { manhattan_node: { nic: 'eth1', channel: 'vlan/native', project: 'manhattan' } }),
  },
];

/** §2: schema validation (400) before authentication (401); authentication before lookups (404). */
const order: Case[] = [
  { method: 'PUT', path: '/v0/project/newproj', body: { bogus: 1 }, expect: ALL_400, state: (fx) => count(fx, 'project', 'newproj') },
  { method: 'POST', path: '/v0/project/runway/connect_node', body: {}, expect: ALL_400 },
  { method: 'PUT', path: '/v0/network/x', body: { owner: 'admin', access: '' }, expect: ALL_400 },
  { method: 'PUT', path: '/v0/node/runway_node/obm', body: { enabled: 'yes' }, expect: ALL_400 },
  { method: 'GET', path: '/v0/nodes/free', body: { x: 1 }, expect: ALL_400 },
  // authenticated callers learn that the object is missing; anonymous ones do not
  { method: 'GET', path: '/v0/node/no_such_node', expect: { admin: 404, alice: 404, bob: 404 } },
  { method: 'DELETE', path: '/v0/network/no_such_network', expect: { admin: 404, alice: 404, bob: 404 } },
  { method: 'GET', path: '/v0/networking_action/no-such-id', expect: { admin: 404, alice: 404, bob: 404 } },
  { method: 'POST', path: '/v0/project/no_such_project/connect_node', body: { node: 'free_node' }, expect: { admin: 404, alice: 404, bob: 404 } },
  // admin-only calls check admin first (upstream's require_admin() is their first line)
  { method: 'DELETE', path: '/v0/project/no_such_project', expect: { admin: 404, alice: 401, bob: 401 }, msg: ADMIN_ONLY },
  { method: 'DELETE', path: '/v0/node/no_such_node', expect: { admin: 404, alice: 401, bob: 401 }, msg: ADMIN_ONLY },
];

/**
 * The probes and /metrics are public by design (docs/operations.md): every
 * caller, the wrong password included, gets the same answer; /metrics asks
 * for an administrator only with metrics.require_auth.
 */
const EVERYONE = { admin: 200, alice: 200, bob: 200, anon: 200 };
const publicRoutes: Case[] = [
  { method: 'GET', path: '/healthz', expect: EVERYONE, view: (res) => assert.deepEqual(res.body, { status: 'ok' }) },
  { method: 'GET', path: '/readyz', expect: EVERYONE, view: (res) => assert.equal(res.body.status, 'ready') },
  { method: 'GET', path: '/version', expect: EVERYONE, view: (res) => assert.deepEqual(Object.keys(res.body), ['version', 'node']) },
  { method: 'GET', path: '/metrics', expect: EVERYONE, view: (res) => assert.match(res.text, /^# HELP hil_/m) },
];
const adminMetrics: Case[] = [{ method: 'GET', path: '/metrics', expect: A, msg: ADMIN_ONLY, view: (res) => assert.match(res.text, /^# TYPE hil_http_requests_total counter$/m) }];

/** §4: with require_authentication = false, anonymous (and wrong-password) callers go ahead with no privileges. */
const anyone = { ...ANY, anon: 200 };
const optional: Case[] = [
  { method: 'GET', path: '/v0/nodes/free', expect: anyone, view: (res) => assert.deepEqual(res.body, ['free_node', 'free_node2', 'free_node3', 'spare_node']) },
  { method: 'GET', path: '/v0/nodes/all', expect: anyone },
  {
    method: 'GET',
    path: '/v0/networks',
    expect: anyone,
    view: (res, role) => {
      if (role !== 'admin') assert.deepEqual(Object.keys(res.body).sort(), ['pub_net', 'pub_spare']);
    },
  },
  {
    method: 'GET',
    path: '/v0/network/pub_net',
    expect: anyone,
    view: (res, role) => {
      if (role === 'anon' || role === 'wrong') assert.deepEqual(res.body['connected-nodes'], {});
    },
  },
  { method: 'GET', path: '/v0/node/free_node', expect: anyone, view: (res, role) => assert.equal('port' in res.body.nics[0], role === 'admin') },
  { method: 'GET', path: '/v0/projects', expect: A, msg: ADMIN_ONLY, anonMsg: ADMIN_ONLY },
  { method: 'PUT', path: '/v0/project/newproj', expect: A, msg: ADMIN_ONLY, anonMsg: ADMIN_ONLY, state: (fx) => count(fx, 'project', 'newproj'), after: 1 },
  { method: 'GET', path: '/v0/switches', expect: A, msg: ADMIN_ONLY, anonMsg: ADMIN_ONLY },
  { method: 'GET', path: '/v0/project/runway/nodes', expect: RUNWAY, msg: NO_PROJECT, anonMsg: NO_PROJECT },
  { method: 'GET', path: '/v0/node/runway_node', expect: RUNWAY, msg: NO_PROJECT, anonMsg: NO_PROJECT },
  { method: 'GET', path: '/v0/network/runway_net', expect: RUNWAY, msg: NO_NETWORK, anonMsg: NO_NETWORK },
  { method: 'POST', path: '/v0/node/runway_node/power_on', expect: RUNWAY, msg: NO_PROJECT, anonMsg: NO_PROJECT },
  { method: 'GET', path: '/v0/node/free_node/power_status', expect: A, msg: NO_PROJECT, anonMsg: NO_PROJECT },
  { method: 'DELETE', path: '/v0/network/runway_spare', expect: RUNWAY, msg: NO_PROJECT, anonMsg: NO_PROJECT, state: (fx) => count(fx, 'network', 'runway_spare'), after: 0 },
];

for (const database of testDatabases()) {
  describe(`authz special cases on ${database.name}`, { skip: database.skip }, () => {
    // read-only: one fixture for every caller
    describe('what each caller sees; order of checks', () => matrix(database, [...views, ...order], { groups: [['admin', 'alice', 'bob', 'anon', 'wrong']] }));
    describe('the probes and /metrics: public by design', () => matrix(database, publicRoutes, { groups: [['admin', 'alice', 'bob', 'anon', 'wrong']] }));
    describe('/metrics with metrics.require_auth = true: administrators only', () =>
      matrix(database, adminMetrics, { groups: [['admin', 'alice', 'bob', 'anon', 'wrong']], hil: { config: (c) => void (c.metrics.require_auth = true) } }));
    describe('with require_authentication = false', () =>
      matrix(database, optional, {
        hil: {
          config: (c) => {
            c.auth.require_authentication = false;
          },
        },
      }));
  });
}
