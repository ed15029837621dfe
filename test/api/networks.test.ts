import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { waitAction, withHil } from '../support/hil.ts';
import {
  assertError,
  mkNetwork,
  mkNodeWithNic,
  mkProjects,
  mkSwitch,
  networkRow,
  queueConnect,
  UUID,
  vlanAvailable,
} from '../support/fixtures.ts';

const body = (owner: string, access: string, net_id: string) => ({ owner, access, net_id });

for (const database of testDatabases()) {
  describe(`networks on ${database.name}`, { skip: database.skip }, () => {
    it('creates all five legal owner/access/net_id combinations with the right allocated flag', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway', 'manhattan');
        const cases: Array<[string, string, string, string, { network_id: string; allocated: boolean; owner: string | null }, string[] | null]> = [
          ['pub-int', 'admin', '', '', { network_id: '40', allocated: true, owner: null }, null],
          ['pub-ext', 'admin', '', '3000', { network_id: '3000', allocated: false, owner: null }, null],
          ['prov', 'admin', 'runway', '', { network_id: '41', allocated: true, owner: null }, ['runway']],
          ['ext-proj', 'admin', 'manhattan', '3001', { network_id: '3001', allocated: false, owner: null }, ['manhattan']],
          ['proj', 'runway', 'runway', '', { network_id: '42', allocated: true, owner: 'runway' }, ['runway']],
        ];
        for (const [label, owner, access, netId, row, accessList] of cases) {
          const r = await api('PUT', `/v0/network/${label}`, body(owner, access, netId));
          assert.equal(r.status, 200, r.text);
          assert.equal(r.text, '');
          assert.deepEqual(await networkRow(t, label), row, label);
          const shown = await api('GET', `/v0/network/${label}`);
          assert.equal(shown.body.owner, owner === 'admin' ? 'admin' : owner);
          assert.deepEqual(shown.body.access, accessList, label);
        }
        for (const v of [40, 41, 42]) assert.equal(await vlanAvailable(t, v), false, `vlan ${v}`);
        assert.equal(await vlanAvailable(t, 43), true);
      }));

    it('rejects illegal combinations and unknown projects, checking for a duplicate first', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway', 'manhattan');
        const put = (label: string, b: object) => api('PUT', `/v0/network/${label}`, b);
        const withId = assertError(await put('n1', body('runway', 'runway', '45')), 400, 'BadArgumentError');
        assert.match(withId, /network ID allocation/);
        // access is checked before net_id
        assert.match(assertError(await put('n1', body('runway', 'manhattan', '45')), 400, 'BadArgumentError'), /accessible by the owner/);
        assert.match(assertError(await put('n1', body('runway', '', '')), 400, 'BadArgumentError'), /accessible by the owner/);
        // the owner lookup comes before the access and net_id rules
        assert.match(assertError(await put('n1', body('ghost', 'manhattan', '45')), 404, 'NotFoundError'), /ghost/);
        assert.match(assertError(await put('n1', body('admin', 'ghost', '')), 404, 'NotFoundError'), /ghost/);
        const rows = await t.hil.store.db.selectFrom('network').select('label').execute();
        assert.equal(rows.length, 0);
        assert.equal(await vlanAvailable(t, 45), true);
        // nothing was allocated by the failed attempts: the first network still gets 40
        await mkNetwork(api, 'n1', 'runway');
        assert.equal((await networkRow(t, 'n1'))?.network_id, '40');
        // duplicate wins over every other problem
        for (const b of [body('ghost', 'other', 'yes'), body('admin', 'ghost', '5023'), body('runway', 'runway', '')]) {
          assertError(await put('n1', b), 409, 'DuplicateError');
        }
        const labels = await t.hil.store.db.selectFrom('network').select('label').execute();
        assert.deepEqual(labels.map((r) => r.label), ['n1']);
      }));

    it('claims an admin-chosen in-pool VLAN, refuses to reuse it, and frees it on delete', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkNetwork(api, 'chosen', 'admin', '', '45');
        assert.deepEqual(await networkRow(t, 'chosen'), { network_id: '45', allocated: true, owner: null });
        assert.equal(await vlanAvailable(t, 45), false);
        const again = await api('PUT', '/v0/network/again', body('admin', '', '45'));
        assert.match(assertError(again, 409, 'BlockedError'), /not available/);
        assert.equal(await networkRow(t, 'again'), undefined);
        // an admin-claimed VLAN is not handed out by the allocator either
        await mkNetwork(api, 'first', 'admin', '', '40');
        await mkNetwork(api, 'auto', 'admin', '');
        assert.equal((await networkRow(t, 'auto'))?.network_id, '41');

        assert.equal((await api('DELETE', '/v0/network/chosen')).status, 200);
        assert.equal(await vlanAvailable(t, 45), true);
        await mkNetwork(api, 'again', 'admin', '', '45');
        assert.deepEqual(await networkRow(t, 'again'), { network_id: '45', allocated: true, owner: null });
      }));

    it('lets two admin networks share an out-of-pool VLAN and rejects invalid net_ids', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkNetwork(api, 'ext-a', 'admin', '', '3000');
        await mkNetwork(api, 'ext-b', 'admin', '', '3000');
        assert.deepEqual(await networkRow(t, 'ext-a'), { network_id: '3000', allocated: false, owner: null });
        assert.deepEqual(await networkRow(t, 'ext-b'), { network_id: '3000', allocated: false, owner: null });
        assert.equal(await vlanAvailable(t, 3000), undefined);
        assert.equal((await api('DELETE', '/v0/network/ext-a')).status, 200);
        assert.equal(await vlanAvailable(t, 3000), undefined, 'deleting an unallocated network frees nothing');
        assert.deepEqual(Object.keys((await api('GET', '/v0/networks')).body), ['ext-b']);
        for (const bad of ['yes', '5023', '-2', '0']) {
          const r = await api('PUT', '/v0/network/bad', body('admin', '', bad));
          assert.match(assertError(r, 400, 'BadArgumentError'), /Invalid net_id/, bad);
        }
        assert.equal(await networkRow(t, 'bad'), undefined);
      }));

    it('gives the lowest VLAN first and 409 AllocationError when the pool is exhausted', () =>
      withHil(database, { config: (c) => void (c.network.vlans = '40-41') }, async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway');
        await mkNetwork(api, 'a', 'runway');
        await mkNetwork(api, 'b', 'admin', '');
        assert.equal((await networkRow(t, 'a'))?.network_id, '40');
        assert.equal((await networkRow(t, 'b'))?.network_id, '41');
        assertError(await api('PUT', '/v0/network/c', body('runway', 'runway', '')), 409, 'AllocationError');
        assert.equal(await networkRow(t, 'c'), undefined);
        // out-of-pool IDs need no allocation
        await mkNetwork(api, 'ext', 'admin', '', '3000');
        assert.equal((await api('DELETE', '/v0/network/a')).status, 200);
        await mkNetwork(api, 'c', 'runway');
        assert.equal((await networkRow(t, 'c'))?.network_id, '40');
      }));

    it('deletes: 404 unknown, 409 while a node is attached, then frees the VLAN', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway');
        await mkSwitch(api, 'sw0');
        await mkNodeWithNic(api, { node: 'n1', project: 'runway', port: 'gi1/0/1' });
        await mkNetwork(api, 'net', 'runway');
        assertError(await api('DELETE', '/v0/network/ghost'), 404, 'NotFoundError');
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net'))).status, 'DONE');
        // The refusal names the nics in the way and how to free them.
        assert.equal(
          assertError(await api('DELETE', '/v0/network/net'), 409, 'BlockedError'),
          'Network net is still connected to nodes: n1 (eth0). Detach them first (hil node network detach NODE NIC net).',
        );
        assert.equal(await vlanAvailable(t, 40), false);
        const detached = await api('POST', '/v0/node/n1/nic/eth0/detach_network', { network: 'net' });
        assert.equal((await waitAction(api, detached.body.status_id)).status, 'DONE');
        assert.equal((await api('DELETE', '/v0/network/net')).status, 200);
        assert.equal(await networkRow(t, 'net'), undefined);
        assert.equal(await vlanAvailable(t, 40), true);
        assert.deepEqual((await api('GET', '/v0/project/runway/networks')).body, []);
        assertError(await api('DELETE', '/v0/network/net'), 404, 'NotFoundError');
      }));

    it('refuses to delete a network with a pending action on it', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway');
        await mkSwitch(api, 'sw0');
        await mkNodeWithNic(api, { node: 'n1', project: 'runway', port: 'gi1/0/1' });
        await mkNetwork(api, 'net', 'runway');
        await queueConnect(api, 'n1', 'eth0', 'net');
        assert.match(assertError(await api('DELETE', '/v0/network/net'), 409, 'BlockedError'), /pending/);
        assert.deepEqual(await networkRow(t, 'net'), { network_id: '40', allocated: true, owner: 'runway' });
        assert.equal(await vlanAvailable(t, 40), false);
      }));

    it('shows a network: channels, owner, access (null when public) and connected nodes', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway', 'manhattan');
        await mkSwitch(api, 'sw0');
        await mkNodeWithNic(api, { node: 'n1', project: 'runway', port: 'gi1/0/1' });
        await mkNodeWithNic(api, { node: 'n2', project: 'manhattan', port: 'gi1/0/2' });
        await mkNetwork(api, 'pub', 'admin', '');
        await mkNetwork(api, 'proj', 'runway');
        assert.deepEqual((await api('GET', '/v0/network/pub')).body, {
          name: 'pub',
          owner: 'admin',
          access: null,
          channels: ['vlan/native', 'vlan/40'],
          'connected-nodes': {},
        });
        assert.equal((await api('PUT', '/v0/network/proj/access/manhattan')).status, 200);
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'proj'))).status, 'DONE');
        assert.equal((await waitAction(api, await queueConnect(api, 'n2', 'eth0', 'proj', 'vlan/41'))).status, 'DONE');
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'pub', 'vlan/40'))).status, 'DONE');
        assert.deepEqual((await api('GET', '/v0/network/proj')).body, {
          name: 'proj',
          owner: 'runway',
          access: ['runway', 'manhattan'],
          channels: ['vlan/native', 'vlan/41'],
          'connected-nodes': { n1: ['eth0'], n2: ['eth0'] },
        });
        assert.deepEqual((await api('GET', '/v0/network/pub')).body['connected-nodes'], { n1: ['eth0'] });
        assertError(await api('GET', '/v0/network/ghost'), 404, 'NotFoundError');
      }));

    it('lists every network for an admin with sorted project lists, null for public ones', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProjects(api, 'zebra', 'apollo');
        assert.deepEqual((await api('GET', '/v0/networks')).body, {});
        await mkNetwork(api, 'zoo', 'zebra');
        await mkNetwork(api, 'pub', 'admin', '');
        await mkNetwork(api, 'ext', 'admin', 'apollo', '3000');
        assert.equal((await api('PUT', '/v0/network/zoo/access/apollo')).status, 200);
        const r = await api('GET', '/v0/networks');
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, {
          ext: { network_id: '3000', projects: ['apollo'] },
          pub: { network_id: '41', projects: null },
          zoo: { network_id: '40', projects: ['apollo', 'zebra'] },
        });
        assert.deepEqual(Object.keys(r.body), ['ext', 'pub', 'zoo']);
      }));

    it('lists attachments, optionally for one project, with the default channel', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway', 'manhattan', 'apollo');
        await mkSwitch(api, 'sw0');
        await mkNodeWithNic(api, { node: 'n1', project: 'runway', port: 'gi1/0/1' });
        await mkNodeWithNic(api, { node: 'n2', project: 'manhattan', nic: 'ib0', port: 'gi1/0/2' });
        await mkNodeWithNic(api, { node: 'n3', project: 'runway', port: 'gi1/0/3' });
        await mkNetwork(api, 'net', 'runway');
        assert.deepEqual((await api('GET', '/v0/network/net/attachments')).body, {});
        assert.equal((await api('PUT', '/v0/network/net/access/manhattan')).status, 200);
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net'))).status, 'DONE');
        assert.equal((await waitAction(api, await queueConnect(api, 'n2', 'ib0', 'net'))).status, 'DONE');
        const all = await api('GET', '/v0/network/net/attachments');
        assert.equal(all.status, 200);
        assert.deepEqual(all.body, {
          n1: { nic: 'eth0', channel: 'vlan/native', project: 'runway' },
          n2: { nic: 'ib0', channel: 'vlan/native', project: 'manhattan' },
        });
        const mine = await api('GET', '/v0/network/net/attachments', undefined, { query: '?project=manhattan' });
        assert.deepEqual(mine.body, { n2: { nic: 'ib0', channel: 'vlan/native', project: 'manhattan' } });
        const none = await api('GET', '/v0/network/net/attachments', undefined, { query: '?project=apollo' });
        assert.deepEqual(none.body, {});
        assertError(await api('GET', '/v0/network/net/attachments', undefined, { query: '?project=ghost' }), 404, 'NotFoundError');
        assertError(await api('GET', '/v0/network/ghost/attachments'), 404, 'NotFoundError');
      }));

    it('grants access: 404s in order, then 409 for a duplicate grant', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway', 'manhattan');
        await mkNetwork(api, 'net', 'runway');
        assert.match(assertError(await api('PUT', '/v0/network/ghost/access/nowhere'), 404, 'NotFoundError'), /ghost/);
        assert.match(assertError(await api('PUT', '/v0/network/net/access/nowhere'), 404, 'NotFoundError'), /nowhere/);
        assert.equal((await api('PUT', '/v0/network/net/access/manhattan')).status, 200);
        assert.deepEqual((await api('GET', '/v0/project/manhattan/networks')).body, ['net']);
        assertError(await api('PUT', '/v0/network/net/access/manhattan'), 409, 'DuplicateError');
        assertError(await api('PUT', '/v0/network/net/access/runway'), 409, 'DuplicateError');
        assert.deepEqual((await api('GET', '/v0/network/net')).body.access, ['runway', 'manhattan']);
      }));

    it('revokes access: 404s, 409 for the owner or attached nodes; the last project of an admin network makes it public', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway', 'manhattan', 'apollo');
        await mkSwitch(api, 'sw0');
        await mkNodeWithNic(api, { node: 'n2', project: 'manhattan', port: 'gi1/0/2' });
        await mkNetwork(api, 'net', 'runway');
        assert.equal((await api('PUT', '/v0/network/net/access/manhattan')).status, 200);
        assert.match(assertError(await api('DELETE', '/v0/network/ghost/access/nowhere'), 404, 'NotFoundError'), /ghost/);
        assert.match(assertError(await api('DELETE', '/v0/network/net/access/nowhere'), 404, 'NotFoundError'), /nowhere/);
        assertError(await api('DELETE', '/v0/network/net/access/apollo'), 404, 'NotFoundError');
        const owner = await api('DELETE', '/v0/network/net/access/runway');
        assert.equal(owner.status, 409, owner.text);
        assert.equal((await waitAction(api, await queueConnect(api, 'n2', 'eth0', 'net'))).status, 'DONE');
        assert.match(assertError(await api('DELETE', '/v0/network/net/access/manhattan'), 409, 'BlockedError'), /attached/);
        assert.deepEqual((await api('GET', '/v0/network/net')).body.access, ['runway', 'manhattan']);
        const d = await api('POST', '/v0/node/n2/nic/eth0/detach_network', { network: 'net' });
        assert.equal((await waitAction(api, d.body.status_id)).status, 'DONE');
        assert.equal((await api('DELETE', '/v0/network/net/access/manhattan')).status, 200);
        assert.deepEqual((await api('GET', '/v0/network/net')).body.access, ['runway']);
        assert.deepEqual((await api('GET', '/v0/project/manhattan/networks')).body, []);

        await mkNetwork(api, 'prov', 'admin', 'apollo');
        assert.equal((await api('DELETE', '/v0/network/prov/access/apollo')).status, 200);
        assert.equal((await api('GET', '/v0/network/prov')).body.access, null);
        assert.deepEqual((await api('GET', '/v0/networks')).body.prov, { network_id: '41', projects: null });
        const rows = await t.hil.store.db.selectFrom('network_access').select('project_id').execute();
        assert.equal(rows.length, 1, 'only runway/net is left');
        assert.equal((await api('DELETE', '/v0/project/apollo')).status, 200);
      }));

    it('with the null allocator: channel "null" is the only and default channel', () =>
      withHil(database, { config: (c) => void (c.network.allocator = 'null') }, async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway');
        await mkSwitch(api, 'sw0');
        await mkNodeWithNic(api, { node: 'n1', project: 'runway', port: 'gi1/0/1' });
        await mkNetwork(api, 'net', 'runway');
        await mkNetwork(api, 'chosen', 'admin', '', 'anything-goes');
        const row = await networkRow(t, 'net');
        assert.equal(row?.allocated, true);
        assert.match(row!.network_id, UUID);
        assert.deepEqual(await networkRow(t, 'chosen'), { network_id: 'anything-goes', allocated: true, owner: null });
        assert.deepEqual((await api('GET', '/v0/network/net')).body.channels, ['null']);
        assertError(await api('POST', '/v0/node/n1/nic/eth0/connect_network', { network: 'net', channel: 'vlan/native' }), 400, 'BadArgumentError');
        const action = await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net'));
        assert.equal(action.status, 'DONE');
        assert.equal(action.channel, 'null');
        assert.deepEqual((await api('GET', '/v0/node/n1')).body.nics[0].networks, { null: 'net' });
        assert.deepEqual((await api('GET', '/v0/network/net/attachments')).body, { n1: { nic: 'eth0', channel: 'null', project: 'runway' } });
      }));
  });
}
