/**
 * Authorization matrix, part 2 (spec §4, §5.3, §16 auth.py): network create,
 * delete, show, list, attachments, access grant and revoke, as admin, alice
 * (runway), bob (manhattan), anonymous and alice with a wrong password, on the
 * real database auth backend.
 */
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { ADMIN_ONLY, NO_NETWORK, NO_PROJECT, count, matrix, type Case, type Fixture } from '../support/authz.ts';

const A = { admin: 200, alice: 401, bob: 401 };
const RUNWAY = { admin: 200, alice: 200, bob: 401 };
const MANHATTAN = { admin: 200, alice: 401, bob: 200 };
const ANY = { admin: 200, alice: 200, bob: 200 };

/** Whether the network exists, and the labels of the projects on its access list, sorted. */
async function networkState(fx: Fixture, network: string): Promise<{ exists: number; access: string[] }> {
  const rows = await fx.t.hil.store.db
    .selectFrom('network_access')
    .innerJoin('network', 'network.id', 'network_access.network_id')
    .innerJoin('project', 'project.id', 'network_access.project_id')
    .select('project.label')
    .where('network.label', '=', network)
    .execute();
  return { exists: await count(fx, 'network', network), access: rows.map((r) => r.label).sort() };
}

/** The network, which a successful call creates (1) or deletes (0). */
const exists = (network: string, after: number): Pick<Case, 'state' | 'after'> => ({ state: (fx) => count(fx, 'network', network), after });
/** The network's access list, as a successful call leaves it. */
const access = (network: string, after: string[]): Pick<Case, 'state' | 'after'> => ({ state: (fx) => networkState(fx, network), after: { exists: 1, access: after } });

const cases: Case[] = [
  // §5.3.1 network_create (auth.py's legal and illegal combinations)
  { method: 'PUT', path: '/v0/network/new_pub', body: { owner: 'admin', access: '', net_id: '' }, expect: A, msg: ADMIN_ONLY, ...exists('new_pub', 1) },
  { method: 'PUT', path: '/v0/network/new_pub_id', body: { owner: 'admin', access: '', net_id: '3001' }, expect: A, msg: ADMIN_ONLY, ...exists('new_pub_id', 1) },
  { method: 'PUT', path: '/v0/network/new_prov', body: { owner: 'admin', access: 'runway', net_id: '' }, expect: A, msg: ADMIN_ONLY, ...access('new_prov', ['runway']) },
  { method: 'PUT', path: '/v0/network/new_prov_id', body: { owner: 'admin', access: 'runway', net_id: '3002' }, expect: A, msg: ADMIN_ONLY, ...exists('new_prov_id', 1) },
  { method: 'PUT', path: '/v0/network/new_runway', body: { owner: 'runway', access: 'runway', net_id: '' }, expect: RUNWAY, msg: NO_PROJECT, ...access('new_runway', ['runway']) },
  {
    method: 'PUT',
    path: '/v0/network/new_manhattan',
    body: { owner: 'manhattan', access: 'manhattan', net_id: '' },
    expect: MANHATTAN,
    msg: NO_PROJECT,
    ...access('new_manhattan', ['manhattan']),
  },
  // A project may not pick a net_id: 400 for those with access to the owner, 401 for others.
  { method: 'PUT', path: '/v0/network/runway_id', body: { owner: 'runway', access: 'runway', net_id: '3003' }, expect: { admin: 400, alice: 400, bob: 401 }, msg: NO_PROJECT, ...exists('runway_id', 0) },

  // §5.3.2 network_delete
  { method: 'DELETE', path: '/v0/network/runway_spare', expect: RUNWAY, msg: NO_PROJECT, ...exists('runway_spare', 0) },
  { method: 'DELETE', path: '/v0/network/pub_spare', expect: A, ...exists('pub_spare', 0) },

  // §5.3.3 show_network
  { method: 'GET', path: '/v0/network/runway_net', expect: RUNWAY, msg: NO_NETWORK, view: (res) => assert.deepEqual([res.body.owner, res.body.access], ['runway', ['runway']]) },
  { method: 'GET', path: '/v0/network/prov_runway', expect: RUNWAY, msg: NO_NETWORK, view: (res) => assert.deepEqual([res.body.owner, res.body.access], ['admin', ['runway']]) },
  { method: 'GET', path: '/v0/network/shared_net', expect: ANY },
  { method: 'GET', path: '/v0/network/pub_net', expect: ANY, view: (res) => assert.deepEqual([res.body.owner, res.body.access], ['admin', null]) },

  // §5.3.4 list_networks: everyone, but non-admins see the public networks only
  {
    method: 'GET',
    path: '/v0/networks',
    expect: ANY,
    view: (res, role) => {
      const names = Object.keys(res.body);
      if (role === 'admin') {
        assert.ok(names.includes('runway_net') && names.includes('prov_runway'), names.join());
        assert.deepEqual(res.body.shared_net.projects, ['manhattan', 'runway']);
      } else {
        // new_pub and the deletion of pub_spare happen in the admin's fixture only
        assert.deepEqual(names.sort(), ['pub_net', 'pub_spare']);
      }
      assert.equal(res.body.pub_net.projects, null);
    },
  },

  // §5.3.5 list_network_attachments
  { method: 'GET', path: '/v0/network/runway_net/attachments', expect: RUNWAY, view: (res) => assert.deepEqual(Object.keys(res.body), ['runway_node']) },
  // public network: admins only, with or without a project
  { method: 'GET', path: '/v0/network/pub_net/attachments', expect: A },
  { method: 'GET', path: '/v0/network/pub_net/attachments', query: '?project=runway', expect: A },
  // admin network without a project filter: admins only; with a project on its list: that project's members
  { method: 'GET', path: '/v0/network/prov_runway/attachments', expect: A },
  { method: 'GET', path: '/v0/network/prov_runway/attachments', query: '?project=runway', expect: RUNWAY },
  { method: 'GET', path: '/v0/network/prov_runway/attachments', query: '?project=manhattan', expect: A },
  // owner (manhattan) sees all; runway, on the access list, sees its own nodes only
  { method: 'GET', path: '/v0/network/shared_net/attachments', expect: MANHATTAN, view: (res) => assert.deepEqual(Object.keys(res.body).sort(), ['manhattan_node', 'runway_node']) },
  {
    method: 'GET',
    path: '/v0/network/shared_net/attachments',
    query: '?project=runway',
    expect: ANY,
    view: (res) => assert.deepEqual(res.body, { runway_node: { nic: 'eth2', channel: 'vlan/native', project: 'runway' } }),
  },
  { method: 'GET', path: '/v0/network/shared_net/attachments', query: '?project=manhattan', expect: MANHATTAN },

  // §5.3.6 network_grant_project_access: access to the owner (admin for admin networks)
  { method: 'PUT', path: '/v0/network/runway_grant/access/manhattan', expect: RUNWAY, msg: NO_PROJECT, ...access('runway_grant', ['manhattan', 'runway']) },
  { method: 'PUT', path: '/v0/network/prov_grant/access/manhattan', expect: A, ...access('prov_grant', ['manhattan', 'runway']) },
  { method: 'PUT', path: '/v0/network/manhattan_net/access/runway', expect: MANHATTAN, msg: NO_PROJECT },

  // §5.3.7 network_revoke_project_access
  // the owner (bob) or a member of the listed project (alice) may revoke it
  { method: 'DELETE', path: '/v0/network/man_shared/access/runway', expect: ANY, ...access('man_shared', ['manhattan']) },
  // revoking the last project of an admin network makes it public
  { method: 'DELETE', path: '/v0/network/prov_rev/access/runway', expect: RUNWAY, ...access('prov_rev', []) },
  // on an admin network listing both, runway may not revoke manhattan (auth.py's illegal case, mirrored)
  { method: 'DELETE', path: '/v0/network/prov_two/access/manhattan', expect: MANHATTAN, ...access('prov_two', ['runway']) },
];

for (const database of testDatabases()) {
  describe(`authz: networks on ${database.name}`, { skip: database.skip }, () => matrix(database, cases));
}
