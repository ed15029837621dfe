import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { mockSwitchDb, waitAction, withHil, type TestHil } from '../support/hil.ts';
import {
  MOCK_SWITCH,
  SWITCH_FIELDS,
  assertEmptyOk,
  assertError,
  attach,
  cable,
  connectNode,
  mkNetwork,
  mkNic,
  mkNode,
  mkPort,
  mkProject,
  mkSwitch,
  wiredNode,
  withWorkerPaused,
} from '../support/fixtures.ts';

const portLabels = async (t: TestHil) => (await t.hil.store.db.selectFrom('port').select('label').orderBy('label').execute()).map((r) => r.label);

for (const database of testDatabases()) {
  describe(`switches on ${database.name}`, { skip: database.skip }, () => {
    it('registers switches (full or short "mock" type), lists them sorted, refuses bad ones', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assert.deepEqual((await api('GET', '/v0/switches')).body, []);
        assertEmptyOk(await api('PUT', '/v0/switch/sw-b', { type: MOCK_SWITCH, ...SWITCH_FIELDS }));
        assertEmptyOk(await api('PUT', '/v0/switch/sw-a', { type: 'mock', ...SWITCH_FIELDS }));
        assertEmptyOk(await api('PUT', '/v0/switch/sw-c', { type: MOCK_SWITCH, ...SWITCH_FIELDS }));
        assert.deepEqual((await api('GET', '/v0/switches')).body, ['sw-a', 'sw-b', 'sw-c']);
        const short = await t.hil.store.db.selectFrom('switch').select('type').where('label', '=', 'sw-a').executeTakeFirstOrThrow();
        assert.equal(short.type, MOCK_SWITCH);

        // Duplicate is checked before the type and the fields.
        assertError(await api('PUT', '/v0/switch/sw-a', { type: MOCK_SWITCH, ...SWITCH_FIELDS }), 409, 'DuplicateError');
        assertError(await api('PUT', '/v0/switch/sw-a', { type: 'nonsense' }), 409, 'DuplicateError');
        assertError(await api('PUT', '/v0/switch/sw-x', { type: 'http://schema.massopencloud.org/haas/v0/switches/nonsense', ...SWITCH_FIELDS }), 400, 'BadArgumentError', /not a valid switch type/);
        assertError(await api('PUT', '/v0/switch/sw-x', { ...SWITCH_FIELDS }), 400, 'ValidationError');
        const badFields: Array<Record<string, unknown>> = [
          { hostname: 'h', username: 'u' },
          { hostname: 'h', username: 'u', password: 5 },
          { ...SWITCH_FIELDS, vlan_range: '1-10' },
          {},
        ];
        for (const fields of badFields) {
          const r = await api('PUT', '/v0/switch/sw-x', { type: MOCK_SWITCH, ...fields });
          assert.equal(r.status, 400, `${JSON.stringify(fields)}: ${r.status} ${r.text}`);
        }
        assert.deepEqual((await api('GET', '/v0/switches')).body, ['sw-a', 'sw-b', 'sw-c']);
      }));

    it("accepts upstream's registration bodies for the vendor switch types unchanged, with upstream's capabilities and extension names", () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const url = (name: string) => `http://schema.massopencloud.org/haas/v0/switches/${name}`;
        // As upstream's client sends them (its CLI passes every field as a string; its API tests send dummy_vlan as a number).
        const bodies: Array<[string, Record<string, unknown>, string[], string]> = [
          ['nexus', { type: url('nexus'), hostname: 'nexus.example', username: 'admin', password: 'pw', dummy_vlan: 2222 }, ['nativeless-trunk-mode'], 'hil.ext.switches.nexus'],
          ['nexus-str', { type: url('nexus'), hostname: 'nexus.example', username: 'admin', password: 'pw', dummy_vlan: '2222' }, ['nativeless-trunk-mode'], 'hil.ext.switches.nexus'],
          ['dell', { type: url('powerconnect55xx'), hostname: 'dell.example', username: 'admin', password: 'pw' }, ['nativeless-trunk-mode'], 'hil.ext.switches.dell'],
          ['n3000', { type: url('delln3000'), hostname: 'n3000.example', username: 'admin', password: 'pw', dummy_vlan: '2100' }, ['nativeless-trunk-mode'], 'hil.ext.switches.n3000'],
          ['vdx', { type: url('brocade'), hostname: 'http://vdx.example', username: 'admin', password: 'pw', interface_type: 'TenGigabitEthernet' }, [], 'hil.ext.switches.brocade'],
          ['s3048', { type: url('dellnos9'), hostname: 'http://s3048.example:8008', username: 'admin', password: 'pw', interface_type: 'TenGigabitEthernet' }, [], 'hil.ext.switches.dellnos9'],
        ];
        for (const [name, body, capabilities] of bodies) {
          assertEmptyOk(await api('PUT', `/v0/switch/${name}`, body));
          const shown = (await api('GET', `/v0/switch/${name}`)).body;
          assert.deepEqual(shown, { name, ports: [], capabilities }, `${name}: shown as upstream shows it (no password, no host key before a connection)`);
        }
        const extensions = (await api('GET', '/v0/active_extensions')).body as string[];
        for (const [, , , extension] of bodies) assert.ok(extensions.includes(extension), `${extension} is active`);
        // Upstream's port name rules for each.
        assertEmptyOk(await api('PUT', '/v0/switch/nexus/port/Ethernet1/3'));
        assertError(await api('PUT', '/v0/switch/nexus/port/gi1/0/3'), 400, 'BadArgumentError');
        assertEmptyOk(await api('PUT', '/v0/switch/dell/port/gi1/0/3'));
        assertEmptyOk(await api('PUT', '/v0/switch/vdx/port/1/0/3'));
        assertEmptyOk(await api('PUT', '/v0/switch/s3048/port/1/3'));
        assertError(await api('PUT', '/v0/switch/s3048', { type: url('dellnos9'), hostname: 'http://x', username: 'a', password: 'b', interface_type: 'TenGig' }), 409, 'DuplicateError');
        assertError(await api('PUT', '/v0/switch/s3048b', { type: url('dellnos9'), hostname: 'http://x', username: 'a', password: 'b', interface_type: 'TenGig' }), 400, 'BadArgumentError', /interface_type/);
        assertError(await api('PUT', '/v0/switch/nexus-b', { type: url('nexus'), hostname: 'h', username: 'a', password: 'b' }), 400, 'BadArgumentError', /dummy_vlan/);
      }));

    it('show lists ports in insertion order with capabilities; delete is 404, then 409 while it has ports', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assertError(await api('GET', '/v0/switch/sw0'), 404, 'NotFoundError');
        assertError(await api('DELETE', '/v0/switch/sw0'), 404, 'NotFoundError');
        await mkSwitch(api, 'sw0');
        assert.deepEqual((await api('GET', '/v0/switch/sw0')).body, { name: 'sw0', ports: [], capabilities: ['nativeless-trunk-mode'] });
        for (const p of ['gi1/0/3', 'gi1/0/1', 'te1/0/2', 'gi1/2']) await mkPort(api, 'sw0', p);
        assert.deepEqual((await api('GET', '/v0/switch/sw0')).body, {
          name: 'sw0',
          ports: [{ label: 'gi1/0/3' }, { label: 'gi1/0/1' }, { label: 'te1/0/2' }, { label: 'gi1/2' }],
          capabilities: ['nativeless-trunk-mode'],
        });
        assertError(await api('DELETE', '/v0/switch/sw0'), 409, 'BlockedError', /has ports/);
        for (const p of ['gi1/0/3', 'gi1/0/1', 'te1/0/2', 'gi1/2']) assertEmptyOk(await api('DELETE', `/v0/switch/sw0/port/${p}`));
        assertEmptyOk(await api('DELETE', '/v0/switch/sw0'));
        assertError(await api('GET', '/v0/switch/sw0'), 404, 'NotFoundError');
        assert.deepEqual((await api('GET', '/v0/switches')).body, []);
      }));

    it('ports with "/" in their names: register, show, delete; invalid name 400; duplicate 409; 404s', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assertError(await api('PUT', '/v0/switch/ghost/port/gi1/0/3'), 404, 'NotFoundError');
        await mkSwitch(api, 'sw0');
        assertEmptyOk(await api('PUT', '/v0/switch/sw0/port/gi1/0/3'));
        assertEmptyOk(await api('PUT', '/v0/switch/sw0/port/te2/1'));
        assert.deepEqual(await portLabels(t), ['gi1/0/3', 'te2/1']);
        assertError(await api('PUT', '/v0/switch/sw0/port/gi1/0/3'), 409, 'DuplicateError');
        for (const bad of ['eth0', 'gi1', 'gi1/0/3/4', 'xe1/0/1', 'gi1/a/1']) {
          const r = await api('PUT', `/v0/switch/sw0/port/${bad}`);
          assert.equal(r.status, 400, `${bad}: ${r.status} ${r.text}`);
        }
        assert.deepEqual(await portLabels(t), ['gi1/0/3', 'te2/1']);

        const shown = await api('GET', '/v0/switch/sw0/port/gi1/0/3');
        assert.equal(shown.status, 200);
        assert.deepEqual(shown.body, {});
        assertError(await api('GET', '/v0/switch/sw0/port/gi1/0/9'), 404, 'NotFoundError');
        assertError(await api('GET', '/v0/switch/ghost/port/gi1/0/3'), 404, 'NotFoundError');
        assert.equal((await api('GET', '/v0/switch/sw0/port/gi1/0/3/')).status, 404);
        assertError(await api('DELETE', '/v0/switch/ghost/port/gi1/0/3'), 404, 'NotFoundError');
        assertError(await api('DELETE', '/v0/switch/sw0/port/gi1/0/9'), 404, 'NotFoundError');
        assertEmptyOk(await api('DELETE', '/v0/switch/sw0/port/gi1/0/3'));
        assert.deepEqual(await portLabels(t), ['te2/1']);
        assertError(await api('GET', '/v0/switch/sw0/port/gi1/0/3'), 404, 'NotFoundError');
      }));

    it('connect_nic: 404 switch/port/node/nic in order, 409 nic already cabled, 409 port in use; show_port follows', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const connect = (sw: string, port: string, node: string, nic: string) => api('POST', `/v0/switch/${sw}/port/${port}/connect_nic`, { node, nic });
        assertError(await connect('ghost-sw', 'gi1/0/9', 'ghost-node', 'ghost-nic'), 404, 'NotFoundError', /ghost-sw/);
        await mkSwitch(api, 'sw0');
        assertError(await connect('sw0', 'gi1/0/9', 'ghost-node', 'ghost-nic'), 404, 'NotFoundError', /gi1\/0\/9/);
        for (const p of ['gi1/0/1', 'gi1/0/2']) await mkPort(api, 'sw0', p);
        assertError(await connect('sw0', 'gi1/0/1', 'ghost-node', 'ghost-nic'), 404, 'NotFoundError', /ghost-node/);
        for (const n of ['node-1', 'node-2']) await mkNode(api, n);
        assertError(await connect('sw0', 'gi1/0/1', 'node-1', 'ghost-nic'), 404, 'NotFoundError', /ghost-nic/);
        await mkNic(api, 'node-1', 'eth0');
        await mkNic(api, 'node-1', 'eth1');
        await mkNic(api, 'node-2', 'eth0');
        assertError(await api('POST', '/v0/switch/sw0/port/gi1/0/1/connect_nic', { node: 'node-1' }), 400, 'ValidationError');

        assertEmptyOk(await connect('sw0', 'gi1/0/1', 'node-1', 'eth0'));
        assert.deepEqual((await api('GET', '/v0/switch/sw0/port/gi1/0/1')).body, { node: 'node-1', nic: 'eth0', networks: {} });
        // Both conflicts at once: the nic's own cabling is checked first.
        assertError(await connect('sw0', 'gi1/0/1', 'node-1', 'eth0'), 409, 'DuplicateError', 'eth0');
        assertError(await connect('sw0', 'gi1/0/2', 'node-1', 'eth0'), 409, 'DuplicateError', 'eth0');
        assertError(await connect('sw0', 'gi1/0/1', 'node-2', 'eth0'), 409, 'DuplicateError', 'gi1/0/1');
        assert.deepEqual((await api('GET', '/v0/switch/sw0/port/gi1/0/2')).body, {});
        const nic = (await api('GET', '/v0/node/node-1')).body.nics[0];
        assert.deepEqual([nic.port, nic.switch], ['gi1/0/1', 'sw0']);

        await mkProject(api, 'runway');
        await connectNode(api, 'runway', 'node-1');
        await mkNetwork(api, 'rnet', 'runway');
        await attach(api, 'node-1', 'eth0', 'rnet');
        assert.deepEqual((await api('GET', '/v0/switch/sw0/port/gi1/0/1')).body, { node: 'node-1', nic: 'eth0', networks: { 'vlan/native': 'rnet' } });
      }));

    it('detach_nic: 404s, 404 not attached, 409 node not free; delete_port is blocked while cabled', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const detachNic = (sw: string, port: string) => api('POST', `/v0/switch/${sw}/port/${port}/detach_nic`);
        assertError(await detachNic('ghost', 'gi1/0/1'), 404, 'NotFoundError');
        const w = await wiredNode(api);
        await mkPort(api, 'sw0', 'gi1/0/2');
        assertError(await detachNic('sw0', 'gi1/0/9'), 404, 'NotFoundError');
        assertError(await detachNic('sw0', 'gi1/0/2'), 404, 'NotFoundError', 'gi1/0/2 not attached');
        assertError(await detachNic('sw0', w.port), 409, 'BlockedError', 'The port is attached to a node which is not free');
        assertError(await api('DELETE', `/v0/switch/sw0/port/${w.port}`), 409, 'BlockedError', /attached to a nic/);

        assertEmptyOk(await api('POST', '/v0/project/runway/detach_node', { node: w.node }));
        assertError(await api('DELETE', `/v0/switch/sw0/port/${w.port}`), 409, 'BlockedError');
        assertEmptyOk(await detachNic('sw0', w.port));
        assert.deepEqual((await api('GET', `/v0/switch/sw0/port/${w.port}`)).body, {});
        const nic = (await api('GET', `/v0/node/${w.node}`)).body.nics[0];
        assert.deepEqual([nic.port, nic.switch], [null, null]);
        assertError(await detachNic('sw0', w.port), 404, 'NotFoundError');
        assertEmptyOk(await api('DELETE', `/v0/switch/sw0/port/${w.port}`));
        assert.deepEqual(await portLabels(t), ['gi1/0/2']);
        // The nic can be cabled again, to another port.
        await cable(api, 'sw0', 'gi1/0/2', w.node, w.nic);
        assert.deepEqual((await api('GET', '/v0/switch/sw0/port/gi1/0/2')).body, { node: w.node, nic: w.nic, networks: {} });
      }));

    it('revert: 200 with a status_id, 404s, 409 while an action is pending; clears the port and attachments', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const revert = (sw: string, port: string) => api('POST', `/v0/switch/${sw}/port/${port}/revert`);
        assertError(await revert('ghost', 'gi1/0/1'), 404, 'NotFoundError');
        const w = await wiredNode(api);
        await mkPort(api, 'sw0', 'gi1/0/2');
        assertError(await revert('sw0', 'gi1/0/9'), 404, 'NotFoundError');
        assertError(await revert('sw0', 'gi1/0/2'), 404, 'NotFoundError', 'gi1/0/2 not attached');
        await mkNetwork(api, 'rnet', 'runway');
        await mkNetwork(api, 'tagged', 'runway');
        await attach(api, w.node, w.nic, 'rnet');
        const channel = (await api('GET', '/v0/network/tagged')).body.channels[1];
        const tagged = await api('POST', `/v0/node/${w.node}/nic/${w.nic}/connect_network`, { network: 'tagged', channel });
        assert.equal((await waitAction(api, tagged.body.status_id)).status, 'DONE');
        const switchPorts = () => mockSwitchDb(t).selectFrom('mock_switch_port').select(['port', 'channel', 'network_id']).orderBy('channel').execute().then((rows) => rows.map((r) => ({ ...r })));
        assert.deepEqual(await switchPorts(), [
          { port: w.port, channel: 'vlan/41', network_id: '41' },
          { port: w.port, channel: 'vlan/native', network_id: '40' },
        ]);

        await withWorkerPaused(t, async () => {
          const r = await revert('sw0', w.port);
          assert.equal(r.status, 200, r.text);
          assert.match(r.body.status_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
          assertError(await revert('sw0', w.port), 409, 'BlockedError', 'A networking operation is already active on the nic.');
          const busy = await api('POST', `/v0/node/${w.node}/nic/${w.nic}/connect_network`, { network: 'rnet' });
          assertError(busy, 409, 'BlockedError', 'A networking operation is already active on the nic.');
          const shown = (await api('GET', `/v0/networking_action/${r.body.status_id}`)).body;
          assert.deepEqual(
            { ...shown, error: undefined },
            { status: 'PENDING', node: w.node, nic: w.nic, type: 'revert_port', channel: '', new_network: null, error: undefined },
          );
        });
        const statusId = (await t.hil.store.db.selectFrom('networking_action').select('uuid').executeTakeFirstOrThrow()).uuid;
        assert.equal((await waitAction(api, statusId)).status, 'DONE');
        assert.deepEqual(await switchPorts(), []);
        assert.deepEqual((await api('GET', `/v0/switch/sw0/port/${w.port}`)).body, { node: w.node, nic: w.nic, networks: {} });
        assert.deepEqual((await api('GET', `/v0/node/${w.node}`)).body.nics[0].networks, {});
        const calls = await mockSwitchDb(t).selectFrom('mock_switch_call').select(['port', 'op']).orderBy('id').execute();
        assert.deepEqual({ ...calls.at(-1) }, { port: w.port, op: 'revert' });
      }));
  });
}
