import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil } from '../support/hil.ts';
import { assertError, mkProject } from '../support/fixtures.ts';

const sorted = (xs: string[]) => [...xs].sort();

for (const database of testDatabases()) {
  describe(`misc on ${database.name}`, { skip: database.skip }, () => {
    it('GET /v0/active_extensions lists the active extensions, sorted', () =>
      withHil(database, {}, async (t) => {
        const r = await t.as()('GET', '/v0/active_extensions');
        assert.equal(r.status, 200);
        assert.ok(Array.isArray(r.body) && r.body.length >= 3, r.text);
        assert.deepEqual(r.body, sorted(r.body));
        for (const ext of ['hil.ext.auth.null', 'hil.ext.network_allocators.vlan_pool', 'hil.ext.switches.mock']) {
          assert.ok(r.body.includes(ext), `${ext} in ${r.text}`);
        }
        assert.equal(r.body.includes('hil.ext.auth.database'), false);
      }));

    it('active_extensions follows the configured auth backend and allocator', () =>
      withHil(database, { auth: 'database', config: (c) => void (c.network.allocator = 'null') }, async (t) => {
        const root = await addUser(t, 'root', 'root-pw', true);
        const r = await t.as(root)('GET', '/v0/active_extensions');
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, sorted(r.body));
        for (const ext of ['hil.ext.auth.database', 'hil.ext.network_allocators.null', 'hil.ext.switches.mock']) {
          assert.ok(r.body.includes(ext), `${ext} in ${r.text}`);
        }
        for (const ext of ['hil.ext.auth.null', 'hil.ext.network_allocators.vlan_pool']) assert.equal(r.body.includes(ext), false, ext);
      }));

    it('without [headnode] no base image is offered, so no headnode can be made; VPNs answer 501 without [vpn]', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProject(api, 'runway');
        assert.deepEqual((await api('GET', '/v0/headnode_images/')).body, []);
        assertError(await api('PUT', '/v0/headnode/hn-1', { project: 'runway', base_img: 'base-headnode' }), 400, 'BadArgumentError', 'Provided image is not a valid image.');
        assertError(await api('PUT', '/v0/vpn/v1', { network: 'net' }), 501, 'NotImplementedError');
        assertError(await api('GET', '/v0/headnode/hn-1'), 404, 'NotFoundError');
        assert.deepEqual((await api('GET', '/v0/project/runway/headnodes')).body, []);
      }));

    it('GET /openapi.json needs no credentials under database auth and documents the /v0 routes', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const anonymous = t.as();
        assertError(await anonymous('GET', '/v0/nodes/free'), 401, 'AuthorizationError');
        const r = await anonymous('GET', '/openapi.json');
        assert.equal(r.status, 200, r.text);
        assert.equal(typeof r.body.openapi, 'string');
        const paths = Object.keys(r.body.paths);
        for (const p of [
          '/v0/projects',
          '/v0/project/{project}',
          '/v0/node/{node}',
          '/v0/node/{node}/nic/{nic}',
          '/v0/node/{node}/power_cycle',
          '/v0/network/{network}',
          '/v0/switch/{switch}/port/{port}',
          '/v0/switch/{switch}/port/{port}/connect_nic',
          '/v0/networking_action/{status_id}',
          '/v0/auth/basic/users',
          '/v0/active_extensions',
        ]) {
          assert.ok(paths.includes(p), `${p} missing from ${paths.join(', ')}`);
        }
        assert.ok(r.body.paths['/v0/node/{node}'].put && r.body.paths['/v0/node/{node}'].get && r.body.paths['/v0/node/{node}'].delete);
        assert.ok(paths.every((p) => p.startsWith('/v0/')), paths.join(', '));
      }));
  });
}
