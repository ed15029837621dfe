/**
 * Authorization matrix for headnodes and VPNs: every route as admin, alice
 * (runway), bob (manhattan), anonymous and a wrong password, on each auth
 * backend. A refused call changes nothing; a private key is in a VPN's
 * creation answer only.
 */
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { NO_PROJECT, matrix, must, type Case, type Fixture } from '../support/authz.ts';
import { headnodeApiConfig, SSH_KEY } from '../support/headnodes.ts';

const ANY = { admin: 200, alice: 200, bob: 200 };
const RUNWAY = { admin: 200, alice: 200, bob: 401 };
const MANHATTAN = { admin: 200, alice: 401, bob: 200 };

// [headnode, project, hnics (label → network or null)]
const HEADNODES: Array<[string, string, Record<string, string | null>]> = [
  ['hn_run', 'runway', { h0: 'runway_net' }],
  ['hn_del', 'runway', { h0: 'runway_net' }],
  ['hn_start', 'runway', {}],
  ['hn_stop', 'runway', {}],
  ['hn_cycle', 'runway', {}],
  ['hn_add', 'runway', {}],
  ['hn_rm', 'runway', { x: null }],
  ['hn_conn', 'runway', { c0: null }],
  ['hn_det', 'runway', { d0: 'runway_net' }],
  ['hn_man', 'manhattan', { m0: 'manhattan_net' }],
];

async function setup(fx: Fixture): Promise<void> {
  for (const [hn, project, hnics] of HEADNODES) {
    await must(fx.admin('PUT', `/v0/headnode/${hn}`, { project, base_img: 'img1', ssh_keys: [SSH_KEY] }), `PUT headnode ${hn}`);
    for (const [hnic, net] of Object.entries(hnics)) {
      await must(fx.admin('PUT', `/v0/headnode/${hn}/hnic/${hnic}`), `hnic ${hn}/${hnic}`);
      if (net) await must(fx.admin('POST', `/v0/headnode/${hn}/hnic/${hnic}/connect_network`, { network: net }), `connect ${hn}/${hnic}`);
    }
  }
  await must(fx.admin('POST', '/v0/headnode/hn_stop/start'), 'start hn_stop');
  for (const vpn of ['vpn_run', 'vpn_del']) await must(fx.admin('PUT', `/v0/vpn/${vpn}`, { network: 'runway_net' }), `PUT vpn ${vpn}`);
  await must(fx.admin('PUT', '/v0/vpn/vpn_man', { network: 'manhattan_net' }), 'PUT vpn vpn_man');
  await must(fx.admin('PUT', '/v0/vpn/vpn_shared', { network: 'shared_net', project: 'runway' }), 'PUT vpn vpn_shared');
}

const row = (table: 'headnode' | 'vpn', label: string) => async (fx: Fixture) =>
  (await fx.t.hil.store.db.selectFrom(table).selectAll().where('label', '=', label).executeTakeFirst()) ?? null;
const headnode = (label: string, after: Case['after']): Pick<Case, 'state' | 'after'> => ({ state: row('headnode', label), after });
const hnics = (hn: string, after: Case['after']): Pick<Case, 'state' | 'after'> => ({
  state: async (fx) =>
    fx.t.hil.store.db.selectFrom('hnic').innerJoin('headnode', 'headnode.id', 'hnic.headnode_id').select(['hnic.label', 'hnic.network_id']).where('headnode.label', '=', hn).orderBy('hnic.label').execute(),
  after,
});

function cases(): Case[] {
  return [
    { method: 'GET', path: '/v0/headnode_images/', expect: ANY, view: (res) => assert.deepEqual(res.body, ['base-headnode', 'img1']) },
    { method: 'PUT', path: '/v0/headnode/new_hn', body: { project: 'runway', base_img: 'img1' }, expect: RUNWAY, msg: NO_PROJECT, ...headnode('new_hn', (now: any) => assert.equal(now?.power, 'off')) },
    { method: 'DELETE', path: '/v0/headnode/hn_del', expect: RUNWAY, msg: NO_PROJECT, ...headnode('hn_del', null) },
    {
      method: 'GET',
      path: '/v0/headnode/hn_run',
      expect: RUNWAY,
      msg: NO_PROJECT,
      view: (res) => {
        assert.deepEqual([res.body.name, res.body.project, res.body.hnics, res.body.vncport, res.body.base_img], ['hn_run', 'runway', ['h0'], null, 'img1']);
        assert.equal(res.body.nics.h0.network, 'runway_net');
        assert.match(res.body.nics.h0.mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
      },
    },
    { method: 'GET', path: '/v0/headnode/hn_man', expect: MANHATTAN, msg: NO_PROJECT },
    { method: 'GET', path: '/v0/project/runway/headnodes', expect: RUNWAY, msg: NO_PROJECT, view: (res) => assert.ok((res.body as string[]).includes('hn_run')) },
    { method: 'POST', path: '/v0/headnode/hn_start/start', expect: RUNWAY, msg: NO_PROJECT, ...headnode('hn_start', (now: any) => assert.equal(now.power, 'on')) },
    { method: 'POST', path: '/v0/headnode/hn_stop/stop', expect: RUNWAY, msg: NO_PROJECT, ...headnode('hn_stop', (now: any) => assert.equal(now.power, 'off')) },
    { method: 'POST', path: '/v0/headnode/hn_cycle/power_cycle', expect: RUNWAY, msg: NO_PROJECT, ...headnode('hn_cycle', (now: any) => assert.equal(now.power, 'on')) },
    { method: 'GET', path: '/v0/headnode/hn_run/power_status', expect: RUNWAY, msg: NO_PROJECT, view: (res) => assert.deepEqual(res.body, { power_status: 'Off' }) },
    { method: 'PUT', path: '/v0/headnode/hn_add/hnic/n0', body: { address: '10.50.0.1/24' }, expect: RUNWAY, msg: NO_PROJECT, ...hnics('hn_add', (now: any) => assert.equal(now.length, 1)) },
    { method: 'DELETE', path: '/v0/headnode/hn_rm/hnic/x', expect: RUNWAY, msg: NO_PROJECT, ...hnics('hn_rm', []) },
    { method: 'POST', path: '/v0/headnode/hn_conn/hnic/c0/connect_network', body: { network: 'runway_net' }, expect: RUNWAY, msg: NO_PROJECT, ...hnics('hn_conn', (now: any) => assert.notEqual(now[0].network_id, null)) },
    { method: 'POST', path: '/v0/headnode/hn_det/hnic/d0/detach_network', expect: RUNWAY, msg: NO_PROJECT, ...hnics('hn_det', (now: any) => assert.equal(now[0].network_id, null)) },
    { method: 'GET', path: '/v0/headnode/hn_run/console_log', expect: RUNWAY, msg: NO_PROJECT },
    { method: 'GET', path: '/v0/headnode/hn_run/console', expect: RUNWAY, msg: NO_PROJECT, stream: true },
    {
      method: 'PUT',
      path: '/v0/vpn/new_vpn',
      body: { network: 'runway_net' },
      expect: RUNWAY,
      msg: NO_PROJECT,
      state: row('vpn', 'new_vpn'),
      after: (now: any) => assert.ok(now),
      view: (res) => {
        assert.match(res.body.config, /^PrivateKey = [A-Za-z0-9+/]{43}=$/m);
        assert.match(res.body.config, /^Endpoint = vpn\.example\.test:518\d\d$/m);
        assert.equal(res.body.project, 'runway');
      },
    },
    { method: 'DELETE', path: '/v0/vpn/vpn_del', expect: RUNWAY, msg: NO_PROJECT, state: row('vpn', 'vpn_del'), after: null },
    {
      method: 'GET',
      path: '/v0/vpn/vpn_run',
      expect: RUNWAY,
      msg: NO_PROJECT,
      view: (res) => {
        assert.equal(res.body.network, 'runway_net');
        assert.ok(!('config' in res.body) && !/PrivateKey/i.test(res.text), 'no private key after creation');
      },
    },
    { method: 'GET', path: '/v0/network/runway_net/vpns', expect: RUNWAY, msg: 'You do not have access to this network.', view: (res) => assert.ok((res.body as string[]).includes('vpn_run')) },
    { method: 'GET', path: '/v0/vpn/vpn_man', expect: MANHATTAN, msg: NO_PROJECT },
    // A shared network: each caller sees its own projects' VPNs only.
    { method: 'GET', path: '/v0/network/shared_net/vpns', expect: ANY, view: (res, role) => assert.deepEqual(res.body, role === 'bob' ? [] : ['vpn_shared']) },
  ];
}

for (const database of testDatabases()) {
  describe(`authz: headnodes and VPNs on ${database.name}`, { skip: database.skip }, () => {
    matrix(database, cases(), { setup, hil: { config: headnodeApiConfig } });
  });
}
