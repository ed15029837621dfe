import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { mockSwitchDb, waitAction, withHil, type Caller, type TestHil } from '../support/hil.ts';
import { assertError, attachments, mkNetwork, mkNodeWithNic, mkPort, mkProjects, mkSwitch, queueConnect, queueDetach, switchPort, UUID } from '../support/fixtures.ts';

/** runway (n1/eth0 on sw0 gi1/0/1; networks net=40, net2=41) and manhattan (network other=42). */
async function base(api: Caller): Promise<void> {
  await mkProjects(api, 'runway', 'manhattan');
  await mkSwitch(api, 'sw0');
  await mkNodeWithNic(api, { node: 'n1', project: 'runway', port: 'gi1/0/1' });
  await mkNetwork(api, 'net', 'runway');
  await mkNetwork(api, 'net2', 'runway');
  await mkNetwork(api, 'other', 'manhattan');
}

const connectCall = (api: Caller, node: string, nic: string, b: object) => api('POST', `/v0/node/${node}/nic/${nic}/connect_network`, b);
const detachCall = (api: Caller, node: string, nic: string, network: string) => api('POST', `/v0/node/${node}/nic/${nic}/detach_network`, { network });

async function actionRows(t: TestHil) {
  const rows = await t.hil.store.db.selectFrom('networking_action').select(['uuid', 'status']).orderBy('id').execute();
  return rows.map((r) => ({ uuid: r.uuid, status: r.status }));
}

for (const database of testDatabases()) {
  describe(`node networking on ${database.name}`, { skip: database.skip }, () => {
    it('connects a nic on the native channel: 202, DONE, show_node and the switch agree', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await base(api);
        const r = await connectCall(api, 'n1', 'eth0', { network: 'net' });
        assert.equal(r.status, 202, r.text);
        assert.deepEqual(Object.keys(r.body), ['status_id']);
        assert.match(r.body.status_id, UUID);
        assert.equal((await waitAction(api, r.body.status_id)).status, 'DONE');
        const node = (await api('GET', '/v0/node/n1')).body;
        assert.deepEqual(node.nics[0].networks, { 'vlan/native': 'net' });
        assert.deepEqual(await switchPort(t, 'gi1/0/1'), [{ channel: 'vlan/native', network_id: '40' }]);
        assert.deepEqual(await attachments(t, 'n1'), [{ nic: 'eth0', network: 'net', channel: 'vlan/native' }]);
      }));

    it('accepts a tagged channel of the network and rejects an illegal one with 400', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await base(api);
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net2', 'vlan/41'))).status, 'DONE');
        for (const channel of ['vlan/42', 'vlan/99', 'bogus', 'null']) {
          assertError(await connectCall(api, 'n1', 'eth0', { network: 'net', channel }), 400, 'BadArgumentError');
        }
        assert.deepEqual((await api('GET', '/v0/node/n1')).body.nics[0].networks, { 'vlan/41': 'net2' });
        assert.deepEqual(await switchPort(t, 'gi1/0/1'), [{ channel: 'vlan/41', network_id: '41' }]);
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net', 'vlan/native'))).status, 'DONE');
        assert.deepEqual((await api('GET', '/v0/node/n1')).body.nics[0].networks, { 'vlan/41': 'net2', 'vlan/native': 'net' });
        assert.deepEqual(await switchPort(t, 'gi1/0/1'), [
          { channel: 'vlan/41', network_id: '41' },
          { channel: 'vlan/native', network_id: '40' },
        ]);
      }));

    it('checks connect_network errors in order: 404s, project, port, access, attached, channel', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await base(api);
        await mkNodeWithNic(api, { node: 'free', port: 'gi1/0/2' });
        await mkNodeWithNic(api, { node: 'portless', project: 'runway' });
        await mkNetwork(api, 'net3', 'runway');
        assert.match(assertError(await connectCall(api, 'ghost', 'ghost-nic', { network: 'ghost-net' }), 404, 'NotFoundError'), /ghost\b/);
        assert.match(assertError(await connectCall(api, 'n1', 'ghost-nic', { network: 'ghost-net' }), 404, 'NotFoundError'), /ghost-nic/);
        assert.match(assertError(await connectCall(api, 'n1', 'eth0', { network: 'ghost-net' }), 404, 'NotFoundError'), /ghost-net/);
        // a free node: ProjectMismatch, whatever the network or channel
        assertError(await connectCall(api, 'free', 'eth0', { network: 'other', channel: 'bogus' }), 409, 'ProjectMismatchError');
        assert.match(assertError(await connectCall(api, 'portless', 'eth0', { network: 'other' }), 404, 'NotFoundError'), /port/i);
        assert.match(assertError(await connectCall(api, 'n1', 'eth0', { network: 'other' }), 409, 'ProjectMismatchError'), /access/);

        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net'))).status, 'DONE');
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net2', 'vlan/41'))).status, 'DONE');
        // already attached (on any channel) wins over a channel problem
        assert.match(assertError(await connectCall(api, 'n1', 'eth0', { network: 'net' }), 409, 'BlockedError'), /already attached/);
        assert.match(assertError(await connectCall(api, 'n1', 'eth0', { network: 'net2', channel: 'bogus' }), 409, 'BlockedError'), /already attached/);
        // channel in use wins over an illegal channel
        assert.match(assertError(await connectCall(api, 'n1', 'eth0', { network: 'net3' }), 409, 'BlockedError'), /channel/);
        assert.match(assertError(await connectCall(api, 'n1', 'eth0', { network: 'net3', channel: 'vlan/41' }), 409, 'BlockedError'), /channel/);
        assertError(await connectCall(api, 'n1', 'eth0', { network: 'net3', channel: 'vlan/40' }), 400, 'BadArgumentError');
        assert.deepEqual(await attachments(t, 'n1'), [
          { nic: 'eth0', network: 'net2', channel: 'vlan/41' },
          { nic: 'eth0', network: 'net', channel: 'vlan/native' },
        ]);
        assert.equal((await actionRows(t)).length, 1, 'refused requests queue nothing');
      }));

    it('blocks a second action on a nic while one is pending, before any network check', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await base(api);
        const first = await queueConnect(api, 'n1', 'eth0', 'net');
        const pending = await api('GET', `/v0/networking_action/${first}`);
        assert.deepEqual(pending.body, { status: 'PENDING', node: 'n1', nic: 'eth0', type: 'modify_port', channel: 'vlan/native', new_network: 'net', error: null });
        assert.match(assertError(await connectCall(api, 'n1', 'eth0', { network: 'net2' }), 409, 'BlockedError'), /already active/);
        // the pending check comes before the access check
        assertError(await connectCall(api, 'n1', 'eth0', { network: 'other' }), 409, 'BlockedError');
        assertError(await detachCall(api, 'n1', 'eth0', 'net'), 409, 'BlockedError');
        assertError(await api('POST', '/v0/switch/sw0/port/gi1/0/1/revert'), 409, 'BlockedError');
        assert.deepEqual(await actionRows(t), [{ uuid: first, status: 'PENDING' }]);
        assert.deepEqual(await attachments(t, 'n1'), []);
      }));

    it('detaches: 202 and DONE; 400 when not attached; ProjectMismatch first for a free node', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await base(api);
        await mkNodeWithNic(api, { node: 'free', port: 'gi1/0/2' });
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net'))).status, 'DONE');
        assert.match(assertError(await detachCall(api, 'ghost', 'ghost-nic', 'ghost-net'), 404, 'NotFoundError'), /ghost\b/);
        assert.match(assertError(await detachCall(api, 'n1', 'ghost-nic', 'ghost-net'), 404, 'NotFoundError'), /ghost-net/);
        assert.match(assertError(await detachCall(api, 'n1', 'ghost-nic', 'net'), 404, 'NotFoundError'), /ghost-nic/);
        assertError(await detachCall(api, 'free', 'eth0', 'net'), 409, 'ProjectMismatchError');
        assertError(await detachCall(api, 'n1', 'eth0', 'net2'), 400, 'BadArgumentError');

        const r = await detachCall(api, 'n1', 'eth0', 'net');
        assert.equal(r.status, 202, r.text);
        assert.match(r.body.status_id, UUID);
        assert.equal((await waitAction(api, r.body.status_id)).status, 'DONE');
        assert.deepEqual((await api('GET', '/v0/node/n1')).body.nics[0].networks, {});
        assert.deepEqual(await switchPort(t, 'gi1/0/1'), []);
        assert.deepEqual(await attachments(t, 'n1'), []);
        assertError(await detachCall(api, 'n1', 'eth0', 'net'), 400, 'BadArgumentError');
      }));

    it('shows networking actions as exact dicts, kept only until the next action on the nic', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await base(api);
        const c = await queueConnect(api, 'n1', 'eth0', 'net');
        await waitAction(api, c);
        const common = { node: 'n1', nic: 'eth0', error: null };
        assert.deepEqual((await api('GET', `/v0/networking_action/${c}`)).body, {
          ...common,
          status: 'DONE',
          type: 'modify_port',
          channel: 'vlan/native',
          new_network: 'net',
        });
        const d = await queueDetach(api, 'n1', 'eth0', 'net');
        await waitAction(api, d);
        assertError(await api('GET', `/v0/networking_action/${c}`), 404, 'NotFoundError');
        assert.deepEqual((await api('GET', `/v0/networking_action/${d}`)).body, {
          ...common,
          status: 'DONE',
          type: 'modify_port',
          channel: 'vlan/native',
          new_network: null,
        });
        const rv = await api('POST', '/v0/switch/sw0/port/gi1/0/1/revert');
        assert.equal(rv.status, 200, rv.text);
        await waitAction(api, rv.body.status_id);
        assertError(await api('GET', `/v0/networking_action/${d}`), 404, 'NotFoundError');
        assert.deepEqual((await api('GET', `/v0/networking_action/${rv.body.status_id}`)).body, {
          ...common,
          status: 'DONE',
          type: 'revert_port',
          channel: '',
          new_network: null,
        });
        assertError(await api('GET', '/v0/networking_action/00000000-0000-4000-8000-000000000000'), 404, 'NotFoundError');
        assertError(await api('GET', '/v0/networking_action/not-a-uuid'), 404, 'NotFoundError');
      }));

    it('reverts a port: 200 with a status_id, clearing one or two networks; 404 for a port with no nic', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await base(api);
        await mkNodeWithNic(api, { node: 'n2', project: 'runway', port: 'gi1/0/2' });
        await mkPort(api, 'sw0', 'gi1/0/9');
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net'))).status, 'DONE');
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net2', 'vlan/41'))).status, 'DONE');
        assert.equal((await waitAction(api, await queueConnect(api, 'n2', 'eth0', 'net2'))).status, 'DONE');
        assert.equal((await switchPort(t, 'gi1/0/1')).length, 2);

        for (const [node, port] of [['n1', 'gi1/0/1'], ['n2', 'gi1/0/2']]) {
          const r = await api('POST', `/v0/switch/sw0/port/${port}/revert`);
          assert.equal(r.status, 200, r.text);
          assert.deepEqual(Object.keys(r.body), ['status_id']);
          assert.match(r.body.status_id, UUID);
          assert.equal((await waitAction(api, r.body.status_id)).status, 'DONE');
          assert.deepEqual(await switchPort(t, port), [], port);
          assert.deepEqual(await attachments(t, node), [], node);
          assert.deepEqual((await api('GET', `/v0/node/${node}`)).body.nics[0].networks, {});
        }
        assert.deepEqual((await api('GET', '/v0/network/net2/attachments')).body, {});
        assertError(await api('POST', '/v0/switch/sw0/port/gi1/0/9/revert'), 404, 'NotFoundError');
        assertError(await api('POST', '/v0/switch/sw0/port/gi1/0/8/revert'), 404, 'NotFoundError');
        assertError(await api('POST', '/v0/switch/ghost/port/gi1/0/1/revert'), 404, 'NotFoundError');
      }));

    it('a failing switch makes the action ERROR and leaves attachments; a later connect replaces it', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await base(api);
        await mkNodeWithNic(api, { node: 'n2', project: 'runway', port: 'gi1/0/2' });
        assert.equal((await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net'))).status, 'DONE');
        const sw = await t.hil.store.db.selectFrom('switch').select('id').where('label', '=', 'sw0').executeTakeFirstOrThrow();
        await mockSwitchDb(t).insertInto('mock_switch_fault').values({ switch_id: sw.id, port: 'gi1/0/1', mode: 'throw' }).execute();

        const failed = await waitAction(api, await queueConnect(api, 'n1', 'eth0', 'net2', 'vlan/41'));
        assert.equal(failed.status, 'ERROR');
        assert.equal(typeof failed.error, 'string');
        assert.notEqual(failed.error, '');
        assert.deepEqual({ ...failed, error: null }, { status: 'ERROR', node: 'n1', nic: 'eth0', type: 'modify_port', channel: 'vlan/41', new_network: 'net2', error: null });
        const d = await waitAction(api, await queueDetach(api, 'n1', 'eth0', 'net'));
        assert.equal(d.status, 'ERROR');
        assert.deepEqual(await attachments(t, 'n1'), [{ nic: 'eth0', network: 'net', channel: 'vlan/native' }]);
        assert.deepEqual(await switchPort(t, 'gi1/0/1'), [{ channel: 'vlan/native', network_id: '40' }]);
        // the other port of the same switch still works
        assert.equal((await waitAction(api, await queueConnect(api, 'n2', 'eth0', 'net2'))).status, 'DONE');

        const errorId = (await actionRows(t)).find((a) => a.status === 'ERROR')!.uuid;
        await t.hil.worker!.stop();
        const again = await queueConnect(api, 'n1', 'eth0', 'net2', 'vlan/41');
        assertError(await api('GET', `/v0/networking_action/${errorId}`), 404, 'NotFoundError');
        const nicRows = await t.hil.store.db
          .selectFrom('networking_action')
          .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
          .innerJoin('node', 'node.id', 'nic.node_id')
          .select(['networking_action.uuid', 'networking_action.status'])
          .where('node.label', '=', 'n1')
          .execute();
        assert.deepEqual(nicRows.map((r) => ({ uuid: r.uuid, status: r.status })), [{ uuid: again, status: 'PENDING' }]);
      }));
  });
}
