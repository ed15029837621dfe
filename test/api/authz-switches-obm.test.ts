/**
 * Authorization matrix, part 3 (spec §4, §5.2.9–10, §5.5, §5.7, §5.8, §16
 * auth.py): switches, ports, port connect/detach/revert, OBM enable/disable,
 * power and boot device, power status, console, users and active extensions,
 * as admin, alice (runway), bob (manhattan), anonymous and alice with a wrong
 * password, on the real database auth backend.
 */
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { ADMIN_ONLY, NO_PROJECT, count, matrix, type Case, type Fixture } from '../support/authz.ts';
import type { MockBmcState } from '../../src/drivers/bmc/mock.ts';
import { keystoneProjects } from '../../src/drivers/auth/keystone-projects.ts';

const A = { admin: 200, alice: 401, bob: 401 };
const RUNWAY = { admin: 200, alice: 200, bob: 401 };
const MANHATTAN = { admin: 200, alice: 401, bob: 200 };

/** The node's mock BMC: power, boot device and every power event, copied. */
function bmc(fx: Fixture, node: string): MockBmcState {
  const s = (fx.t.hil.bmcs.resolve('mock') as unknown as { state(label: string): MockBmcState }).state(node);
  return { power: s.power, bootDevice: s.bootDevice, bootPersistent: s.bootPersistent, powerEvents: [...s.powerEvents], consoleCounter: 0 };
}

async function nicPort(fx: Fixture, node: string, nic: string): Promise<number | null> {
  const row = await fx.t.hil.store.db
    .selectFrom('nic')
    .innerJoin('node', 'node.id', 'nic.node_id')
    .select('nic.port_id')
    .where('node.label', '=', node)
    .where('nic.label', '=', nic)
    .executeTakeFirstOrThrow();
  return row.port_id;
}

async function obmEnabled(fx: Fixture, node: string): Promise<boolean> {
  const row = await fx.t.hil.store.db.selectFrom('node').select('obm_enabled').where('label', '=', node).executeTakeFirstOrThrow();
  return Boolean(row.obm_enabled);
}

/** The types of the nic's networking actions. */
async function actionsOn(fx: Fixture, node: string, nic: string): Promise<string[]> {
  const rows = await fx.t.hil.store.db
    .selectFrom('networking_action')
    .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
    .innerJoin('node', 'node.id', 'nic.node_id')
    .select('networking_action.type')
    .where('node.label', '=', node)
    .where('nic.label', '=', nic)
    .execute();
  return rows.map((r) => r.type);
}

async function userState(fx: Fixture, user: string) {
  const rows = await fx.t.hil.store.db
    .selectFrom('user')
    .leftJoin('user_project', 'user_project.user_id', 'user.id')
    .leftJoin('project', 'project.id', 'user_project.project_id')
    .select(['user.is_admin', 'project.label'])
    .where('user.label', '=', user)
    .execute();
  return { exists: rows.length > 0, admin: rows.some((r) => Boolean(r.is_admin)), projects: rows.map((r) => r.label).filter((l) => l !== null).sort() };
}

/** The OBM and power calls of one node, with one expectation for all. */
function obmCases(node: string, expect: typeof A, msg: string): Case[] {
  const power = (event: string) => ({ state: async (fx: Fixture) => bmc(fx, node).powerEvents, after: (now: string[]) => assert.equal(now.at(-1), event) });
  return [
    // enabling an enabled OBM is idempotent (§16.13)
    { method: 'PUT', path: `/v0/node/${node}/obm`, body: { enabled: true }, expect, msg, state: (fx) => obmEnabled(fx, node), after: true },
    { method: 'POST', path: `/v0/node/${node}/power_on`, expect, msg, ...power('on') },
    { method: 'POST', path: `/v0/node/${node}/power_off`, expect, msg, ...power('off') },
    { method: 'POST', path: `/v0/node/${node}/power_cycle`, body: { force: true }, expect, msg, ...power('reset') },
    { method: 'PUT', path: `/v0/node/${node}/boot_device`, body: { bootdev: 'pxe' }, expect, msg, state: async (fx) => bmc(fx, node).bootDevice, after: 'pxe' },
    { method: 'GET', path: `/v0/node/${node}/power_status`, expect, msg, view: (res) => assert.ok(['on', 'off'].includes(res.body.power_status), res.text) },
    { method: 'GET', path: `/v0/node/${node}/console`, stream: true, expect, msg, view: (res) => assert.match(res.text, /^\d+\n/) },
  ];
}

const cases: Case[] = [
  // §5.5 switches
  {
    method: 'GET',
    path: '/v0/switches',
    expect: A,
    msg: ADMIN_ONLY,
    view: (res) => {
      assert.ok(res.body.includes('sw0'), res.text);
      assert.deepEqual(res.body, [...res.body].sort());
    },
  },
  {
    method: 'PUT',
    path: '/v0/switch/sw_new',
    body: { type: 'http://schema.massopencloud.org/haas/v0/switches/mock', hostname: 'oak-ridge', username: 'alice', password: 'changeme' },
    expect: A,
    msg: ADMIN_ONLY,
    state: (fx) => count(fx, 'switch', 'sw_new'),
    after: 1,
  },
  { method: 'DELETE', path: '/v0/switch/sw_empty', expect: A, msg: ADMIN_ONLY, state: (fx) => count(fx, 'switch', 'sw_empty'), after: 0 },
  { method: 'GET', path: '/v0/switch/sw0', expect: A, msg: ADMIN_ONLY },

  // §5.5 ports
  { method: 'PUT', path: '/v0/switch/sw0/port/gi1/0/20', expect: A, msg: ADMIN_ONLY, state: (fx) => count(fx, 'port', 'gi1/0/20'), after: 1 },
  { method: 'DELETE', path: '/v0/switch/sw0/port/gi1/0/11', expect: A, msg: ADMIN_ONLY, state: (fx) => count(fx, 'port', 'gi1/0/11'), after: 0 },
  { method: 'GET', path: '/v0/switch/sw0/port/gi1/0/1', expect: A, msg: ADMIN_ONLY, view: (res) => assert.deepEqual(res.body, { node: 'free_node', nic: 'eth0', networks: {} }) },
  // the port of a project's own node is admin only too
  { method: 'GET', path: '/v0/switch/sw0/port/gi1/0/3', expect: A, msg: ADMIN_ONLY, view: (res) => assert.deepEqual(res.body.networks, { 'vlan/native': 'pub_net' }) },
  {
    method: 'POST',
    path: '/v0/switch/sw0/port/gi1/0/8/connect_nic',
    body: { node: 'free_node', nic: 'eth_cable' },
    expect: A,
    msg: ADMIN_ONLY,
    state: (fx) => nicPort(fx, 'free_node', 'eth_cable'),
    after: (now: number | null) => assert.notEqual(now, null),
  },
  { method: 'POST', path: '/v0/switch/sw0/port/gi1/0/7/detach_nic', expect: A, msg: ADMIN_ONLY, state: (fx) => nicPort(fx, 'free_node', 'eth_detach'), after: null },
  { method: 'POST', path: '/v0/switch/sw0/port/gi1/0/9/revert', expect: A, msg: ADMIN_ONLY, state: (fx) => actionsOn(fx, 'free_node', 'eth_revert'), after: ['revert_port'] },
  { method: 'POST', path: '/v0/switch/sw0/port/gi1/0/12/revert', expect: A, msg: ADMIN_ONLY, state: (fx) => actionsOn(fx, 'runway_node', 'eth4'), after: ['revert_port'] },

  // §5.2.9 OBM enable/disable: access to the node's project
  { method: 'PUT', path: '/v0/node/runway_obm/obm', body: { enabled: true }, expect: RUNWAY, msg: NO_PROJECT, state: (fx) => obmEnabled(fx, 'runway_obm'), after: true },
  { method: 'PUT', path: '/v0/node/manhattan_node/obm', body: { enabled: false }, expect: MANHATTAN, msg: NO_PROJECT, state: (fx) => obmEnabled(fx, 'manhattan_node'), after: false },
  // §5.2.10 power, boot device, status, console: access to the node's project
  ...obmCases('runway_node', RUNWAY, NO_PROJECT),
  // on a free node: admin only, with upstream's require_project_access(None) message (§4)
  ...obmCases('free_node', A, NO_PROJECT),

  // §5.7
  ...(['database', 'keystone', 'oidc'] as const).map(
    (backend): Case => ({
      method: 'GET',
      path: '/v0/active_extensions',
      expect: A,
      msg: ADMIN_ONLY,
      only: [backend],
      view: (res) => assert.ok(res.body.includes(`hil.ext.auth.${backend}`), res.text),
    }),
  ),
];

/** §5.8: the database backend's users; the routes exist only with it, as upstream. */
const databaseUsers: Case[] = [
  { method: 'GET', path: '/v0/auth/basic/users', expect: A, msg: ADMIN_ONLY, view: (res) => assert.deepEqual(res.body.alice, { is_admin: false, projects: ['runway'] }) },
  {
    method: 'PUT',
    path: '/v0/auth/basic/user/carol',
    body: { password: 'carol-secret' },
    expect: A,
    msg: ADMIN_ONLY,
    state: (fx) => userState(fx, 'carol'),
    after: { exists: true, admin: false, projects: [] },
  },
  { method: 'DELETE', path: '/v0/auth/basic/user/dave', expect: A, msg: ADMIN_ONLY, state: (fx) => userState(fx, 'dave'), after: { exists: false, admin: false, projects: [] } },
  { method: 'PATCH', path: '/v0/auth/basic/user/erin', body: { is_admin: true }, expect: A, msg: ADMIN_ONLY, state: async (fx) => (await userState(fx, 'erin')).admin, after: true },
  // nobody but an admin makes themselves an admin or a member of another project
  { method: 'PATCH', path: '/v0/auth/basic/user/bob', body: { is_admin: true }, expect: A, msg: ADMIN_ONLY, state: async (fx) => (await userState(fx, 'bob')).admin, after: true },
  {
    method: 'POST',
    path: '/v0/auth/basic/user/bob/add_project',
    body: { project: 'runway' },
    expect: A,
    msg: ADMIN_ONLY,
    state: async (fx) => (await userState(fx, 'bob')).projects,
    after: ['manhattan', 'runway'],
  },
  {
    method: 'POST',
    path: '/v0/auth/basic/user/erin/remove_project',
    body: { project: 'manhattan' },
    expect: A,
    msg: ADMIN_ONLY,
    state: async (fx) => (await userState(fx, 'erin')).projects,
    after: [],
  },

];
const users = databaseUsers.map((c): Case => ({ ...c, only: ['database'] }));

/** Every caller gets 404 where a route is another backend's. */
const NOWHERE = { admin: 404, alice: 404, bob: 404, anon: 404 };
const usersElsewhere: Case[] = [
  { method: 'GET', path: '/v0/auth/basic/users', expect: NOWHERE, only: ['keystone', 'oidc'] },
  { method: 'PUT', path: '/v0/auth/basic/user/carol', body: { password: 'carol-secret' }, expect: NOWHERE, only: ['keystone', 'oidc'] },
];

/** The keystone backend's project table (project_mapping = "table"): administrators only. */
const MAPPED = 'c0ffee00c0ffee00c0ffee00c0ffee00';
/** The HIL projects a Keystone project id is mapped to (none or one). */
const keystoneMapping = async (fx: Fixture, id: string) =>
  (
    await keystoneProjects(fx.t.hil.store.db)
      .selectFrom('keystone_project')
      .innerJoin('project', 'project.id', 'keystone_project.project_id')
      .select('project.label')
      .where('keystone_id', '=', id)
      .execute()
  ).map((r) => r.label);
const keystoneProjectCases: Case[] = [
  { method: 'GET', path: '/v0/auth/keystone/projects', expect: A, msg: ADMIN_ONLY, only: ['keystone'], view: (res) => assert.equal(res.body[MAPPED], 'manhattan', res.text) },
  {
    method: 'PUT',
    path: '/v0/auth/keystone/project/0123456789abcdef0123456789abcdef',
    body: { project: 'runway' },
    expect: A,
    msg: ADMIN_ONLY,
    only: ['keystone'],
    state: (fx) => keystoneMapping(fx, '0123456789abcdef0123456789abcdef'),
    after: ['runway'],
  },
  { method: 'DELETE', path: `/v0/auth/keystone/project/${MAPPED}`, expect: A, msg: ADMIN_ONLY, only: ['keystone'], state: (fx) => keystoneMapping(fx, MAPPED), after: [] },
  { method: 'GET', path: '/v0/auth/keystone/projects', expect: NOWHERE, only: ['database', 'oidc'] },
];

/** A mapping for the DELETE and GET cases to find. */
async function mapOne(fx: Fixture): Promise<void> {
  if (fx.identity.backend !== 'keystone') return;
  const project = await fx.t.hil.store.db.selectFrom('project').select('id').where('label', '=', 'manhattan').executeTakeFirstOrThrow();
  await keystoneProjects(fx.t.hil.store.db).insertInto('keystone_project').values({ keystone_id: MAPPED, project_id: project.id }).execute();
}

for (const database of testDatabases()) {
  describe(`authz: switches, ports, OBM, users on ${database.name}`, { skip: database.skip }, () =>
    matrix(database, [...cases, ...users, ...usersElsewhere, ...keystoneProjectCases], { extraUsers: true, setup: mapOne }),
  );
}
