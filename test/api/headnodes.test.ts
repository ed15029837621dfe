/**
 * Upstream's headnode rules (spec §5.6, §16 "Headnodes") and this server's
 * changes to them (docs/compat.md), the VPN rules, and what headnodes and
 * VPNs block (project and network deletion, access revocation); contended
 * calls in parallel on both databases.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil, type Caller } from '../support/hil.ts';
import { assertError, mkProjects } from '../support/fixtures.ts';
import { headnodeApiConfig, SSH_KEY } from '../support/headnodes.ts';
import { generateKeyPair } from '../../src/vpn/keys.ts';

const ok = async (p: Promise<{ status: number; text: string }>, what: string) => {
  const r = await p;
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text}`);
  return r;
};

async function world(api: Caller): Promise<void> {
  await mkProjects(api, 'runway', 'manhattan');
  await ok(api('PUT', '/v0/network/rnet', { owner: 'runway', access: 'runway', net_id: '' }), 'rnet');
  await ok(api('PUT', '/v0/network/mnet', { owner: 'manhattan', access: 'manhattan', net_id: '' }), 'mnet');
  await ok(api('PUT', '/v0/network/ext', { owner: 'admin', access: 'runway', net_id: '3000' }), 'ext (not allocated)');
  await ok(api('PUT', '/v0/network/pub', { owner: 'admin', access: '', net_id: '' }), 'pub (public)');
  await ok(api('PUT', '/v0/headnode/hn', { project: 'runway', base_img: 'img1' }), 'hn');
  await ok(api('PUT', '/v0/headnode/hn/hnic/eth0'), 'hn/eth0');
}

const opts = { config: headnodeApiConfig };

for (const database of testDatabases()) {
  describe(`headnodes and VPNs on ${database.name}`, { skip: database.skip }, () => {
    it('checks a new headnode in upstream order: image, duplicate (labels are global), project', () =>
      withHil(database, opts, async (t) => {
        const api = t.as();
        await world(api);
        assertError(await api('PUT', '/v0/headnode/x', { project: 'nope', base_img: 'not-listed' }), 400, 'BadArgumentError', 'Provided image is not a valid image.');
        assertError(await api('PUT', '/v0/headnode/hn', { project: 'manhattan', base_img: 'img1' }), 409, 'DuplicateError');
        assertError(await api('PUT', '/v0/headnode/x', { project: 'nope', base_img: 'img1' }), 404, 'NotFoundError');
        assertError(await api('PUT', '/v0/headnode/x', { project: 'runway', base_img: 'img1', ssh_keys: ['not a key'] }), 400, 'BadArgumentError');
        await ok(api('PUT', '/v0/headnode/x', { project: 'runway', base_img: 'img1', ssh_keys: [SSH_KEY] }), 'with a key');
        assert.deepEqual((await api('GET', '/v0/headnode/x')).body.ssh_keys, [SSH_KEY]);
        assert.deepEqual((await api('GET', '/v0/project/runway/headnodes')).body, ['hn', 'x']);
        assert.deepEqual((await api('GET', '/v0/headnode_images/')).body, ['base-headnode', 'img1']);
      }));

    it('joins only allocated networks the project may use, never HIL own ones; connect replaces, detach is idempotent', () =>
      withHil(database, opts, async (t) => {
        const api = t.as();
        await world(api);
        const connect = (network: string) => api('POST', '/v0/headnode/hn/hnic/eth0/connect_network', { network });
        assertError(await connect('ext'), 400, 'BadArgumentError', /not allocated/);
        assertError(await connect('mnet'), 409, 'ProjectMismatchError');
        assertError(await connect('nope'), 404, 'NotFoundError');
        assertError(await api('POST', '/v0/headnode/hn/hnic/nope/connect_network', { network: 'rnet' }), 404, 'NotFoundError');
        await ok(connect('pub'), 'public network');
        await ok(connect('rnet'), 'replaces');
        assert.equal((await api('GET', '/v0/headnode/hn')).body.nics.eth0.network, 'rnet');
        await ok(api('POST', '/v0/headnode/hn/hnic/eth0/detach_network'), 'detach');
        await ok(api('POST', '/v0/headnode/hn/hnic/eth0/detach_network'), 'detach again: nothing to do');
        assert.equal((await api('GET', '/v0/headnode/hn')).body.nics.eth0.network, null);
        assertError(await api('PUT', '/v0/headnode/hn/hnic/eth0'), 409, 'DuplicateError');
        assertError(await api('PUT', '/v0/headnode/hn/hnic/eth1', { address: '10.50.0.0/24' }), 400, 'BadArgumentError', /network or broadcast/);
        assertError(await api('PUT', '/v0/headnode/hn/hnic/eth1', { address: '10.50.0.300/24' }), 400, 'BadArgumentError');
      }));

    it('changes hnics only while stopped (not frozen for good: stop, change, start again); networks change any time', () =>
      withHil(database, opts, async (t) => {
        const api = t.as();
        await world(api);
        await ok(api('POST', '/v0/headnode/hn/start'), 'start');
        assertError(await api('PUT', '/v0/headnode/hn/hnic/eth1'), 409, 'IllegalStateError');
        assertError(await api('DELETE', '/v0/headnode/hn/hnic/eth0'), 409, 'IllegalStateError');
        await ok(api('POST', '/v0/headnode/hn/hnic/eth0/connect_network', { network: 'rnet' }), 'connect while running');
        await ok(api('POST', '/v0/headnode/hn/stop'), 'stop');
        // No VM runs in this test (no host switch): the row says stopped once the stop is asked for and nothing ran.
        await t.hil.store.db.updateTable('headnode').set({ state: 'stopped' }).where('label', '=', 'hn').execute();
        await ok(api('PUT', '/v0/headnode/hn/hnic/eth1', { address: '10.50.0.1/24' }), 'add after the first start');
        await ok(api('DELETE', '/v0/headnode/hn/hnic/eth1'), 'remove');
        await ok(api('POST', '/v0/headnode/hn/start'), 'start again');
        // A start that failed is tried again by the next start, without a stop in between.
        await t.hil.store.db.updateTable('headnode').set({ state: 'failed', error: 'no such image' }).where('label', '=', 'hn').execute();
        await ok(api('POST', '/v0/headnode/hn/start'), 'start after a failure');
        const shown = (await api('GET', '/v0/headnode/hn')).body;
        assert.deepEqual([shown.power, shown.state, shown.error], ['on', 'starting', null]);
      }));

    it('blocks deleting the project or the network, and revoking access, while a headnode or a VPN uses them', () =>
      withHil(database, opts, async (t) => {
        const api = t.as();
        await world(api);
        await ok(api('PUT', '/v0/network/shared', { owner: 'manhattan', access: 'manhattan', net_id: '' }), 'shared');
        await ok(api('PUT', '/v0/network/shared/access/runway'), 'grant runway');
        await ok(api('POST', '/v0/headnode/hn/hnic/eth0/connect_network', { network: 'shared' }), 'hn on shared');
        assertError(await api('DELETE', '/v0/network/shared'), 409, 'BlockedError', 'Network still connected to headnodes');
        assertError(await api('DELETE', '/v0/network/shared/access/runway'), 409, 'BlockedError', 'Project still has headnode(s) attached to the network');
        await ok(api('POST', '/v0/headnode/hn/hnic/eth0/detach_network'), 'detach');
        await ok(api('PUT', '/v0/vpn/v1', { network: 'shared', project: 'runway' }), 'vpn for runway on shared');
        assertError(await api('DELETE', '/v0/network/shared'), 409, 'BlockedError', /still has a VPN \(v1\)/);
        assertError(await api('DELETE', '/v0/network/shared/access/runway'), 409, 'BlockedError', 'Project still has VPN(s) on the network');
        await ok(api('DELETE', '/v0/vpn/v1'), 'revoke');
        assert.equal(await t.hil.store.db.selectFrom('vpn_network').select('slot').executeTakeFirst(), undefined, 'the endpoint goes with its last VPN');
        await ok(api('DELETE', '/v0/network/shared/access/runway'), 'revoke access');
        await ok(api('DELETE', '/v0/network/shared'), 'delete network');
        await ok(api('DELETE', '/v0/network/ext'), 'ext');
        await ok(api('DELETE', '/v0/network/rnet'), 'rnet');
        assertError(await api('DELETE', '/v0/project/runway'), 409, 'BlockedError', 'Project still has a headnode');
        await ok(api('DELETE', '/v0/headnode/hn'), 'delete the headnode (and its hnics)');
        assertError(await api('GET', '/v0/headnode/hn'), 404, 'NotFoundError');
        await ok(api('DELETE', '/v0/project/runway'), 'delete the project');
      }));

    it('gives each VPN its own tunnel address and key; a tenant key stays the tenant own; refuses bad input', () =>
      withHil(database, opts, async (t) => {
        const api = t.as();
        await world(api);
        const tenantKey = generateKeyPair().publicKey;
        const mine = await ok(api('PUT', '/v0/vpn/mine', { network: 'rnet', public_key: tenantKey, address: '10.50.0.254/24' }), 'with a key');
        const made = await ok(api('PUT', '/v0/vpn/made', { network: 'rnet' }), 'key made here');
        const [a, b] = [(mine as any).body, (made as any).body];
        assert.doesNotMatch(a.config, /^PrivateKey/m, 'no private key when the tenant sent its public key');
        assert.match(b.config, /^PrivateKey = /m);
        assert.notEqual(a.address, b.address);
        assert.equal(a.endpoint, b.endpoint, 'one endpoint per network');
        assert.deepEqual(a.allowed_ips, ['10.50.0.0/24']);
        assertError(await api('PUT', '/v0/vpn/again', { network: 'rnet', public_key: tenantKey }), 409, 'DuplicateError');
        assertError(await api('PUT', '/v0/vpn/other', { network: 'rnet', address: '10.60.0.1/24' }), 409, 'DuplicateError', /already has the address 10\.50\.0\.254\/24/);
        assertError(await api('PUT', '/v0/vpn/bad', { network: 'rnet', public_key: 'short' }), 400, 'BadArgumentError');
        assertError(await api('PUT', '/v0/vpn/bad', { network: 'ext', project: 'runway' }), 400, 'BadArgumentError', /not allocated/);
        assertError(await api('PUT', '/v0/vpn/bad', { network: 'pub' }), 400, 'BadArgumentError', /say which project/);
        assertError(await api('PUT', '/v0/vpn/bad', { network: 'mnet', project: 'runway' }), 409, 'ProjectMismatchError');
        const rows = await t.hil.store.db.selectFrom('vpn_network').selectAll().execute();
        assert.equal(rows.length, 1);
        const shown = await api('GET', '/v0/vpn/made');
        assert.ok(!shown.text.includes(rows[0]!.private_key), 'the server key is never shown');
      }));

    it('refuses the interactive console before the upgrade: another project, bad credentials, a stopped headnode', () =>
      withHil(database, { auth: 'database', config: headnodeApiConfig }, async (t) => {
        const root = t.as(await addUser(t, 'root', 'root-pw', true));
        await root('PUT', '/v0/project/alpha');
        await root('PUT', '/v0/project/beta');
        const alice = await addUser(t, 'alice', 'alice-pw', false, ['alpha']);
        const bob = await addUser(t, 'bob', 'bob-pw', false, ['beta']);
        await ok(root('PUT', '/v0/headnode/hn', { project: 'alpha', base_img: 'img1' }), 'hn');
        const base = (await t.hil.app!.listen({ port: 0, host: '127.0.0.1' })).replace('http', 'ws');
        const opens = (creds: { username: string; password: string }) =>
          new Promise<boolean>((resolve) => {
            const ws = new WebSocket(`${base}/v0/headnode/hn/console/ws`, { headers: { authorization: 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } } as unknown as string[]);
            ws.addEventListener('open', () => (ws.close(), resolve(true)));
            ws.addEventListener('error', () => resolve(false));
          });
        assert.equal(await opens(bob), false, 'another project');
        assert.equal(await opens({ username: 'alice', password: 'wrong' }), false, 'bad password');
        assert.equal(await opens(alice), false, 'not running');
        assertError(await t.as(alice)('GET', '/v0/headnode/hn/console/ws'), 400, 'ValidationError', /WebSocket/);
        assertError(await t.as(bob)('GET', '/v0/headnode/hn/console_log'), 401, 'AuthorizationError');
      }));

    it('contended calls in parallel: one headnode per label, distinct VPN tunnel addresses, one endpoint per network', () =>
      withHil(database, opts, async (t) => {
        const api = t.as();
        await world(api);
        const creates = await Promise.all([1, 2, 3, 4].map(() => api('PUT', '/v0/headnode/race', { project: 'runway', base_img: 'img1' })));
        assert.deepEqual(creates.map((r) => r.status).sort(), [200, 409, 409, 409]);
        const vpns = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => api('PUT', `/v0/vpn/v${i}`, { network: 'mnet' })));
        for (const r of vpns) assert.ok(r.status === 200 || r.status === 409, `${r.status} ${r.text}`);
        const won = vpns.filter((r) => r.status === 200).map((r) => (r as any).body.address);
        assert.ok(won.length >= 1);
        assert.equal(new Set(won).size, won.length, 'no two VPNs share a tunnel address');
        const endpoints = await t.hil.store.db.selectFrom('vpn_network').selectAll().execute();
        assert.equal(endpoints.length, 1);
        const rows = await t.hil.store.db.selectFrom('vpn').select('host').execute();
        assert.equal(rows.length, won.length, 'every VPN answered 200 is stored, nothing else');
        const hnics = await Promise.all([1, 2, 3].map(() => api('PUT', '/v0/headnode/race/hnic/n0')));
        assert.deepEqual(hnics.map((r) => r.status).sort(), [200, 409, 409]);
      }));
  });
}
