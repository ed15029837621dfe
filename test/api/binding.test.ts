/**
 * Upstream's HTTP conventions (spec §2, tests/unit/rest.py): where arguments
 * come from, what is refused with 400, how routing treats slashes, and the
 * order in which validation, authentication and lookups happen.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil } from '../support/hil.ts';
import { rewritePortUrl } from '../../src/api/binding.ts';
import { MOCK_SWITCH, SWITCH_FIELDS } from '../support/fixtures.ts';

describe('port URL rewriting', () => {
  it('escapes the slashes of a port name so one route parameter holds it', () => {
    assert.equal(rewritePortUrl('PUT', '/v0/switch/sw0/port/gi1/0/3'), '/v0/switch/sw0/port/gi1%2F0%2F3');
    assert.equal(rewritePortUrl('POST', '/v0/switch/sw0/port/gi1/0/3/connect_nic'), '/v0/switch/sw0/port/gi1%2F0%2F3/connect_nic');
    assert.equal(rewritePortUrl('POST', '/v0/switch/sw0/port/gi1/0/3/revert?x=1'), '/v0/switch/sw0/port/gi1%2F0%2F3/revert?x=1');
    // Only POST has action suffixes: a GET of a port literally named ".../revert" is a port.
    assert.equal(rewritePortUrl('GET', '/v0/switch/sw0/port/gi1/revert'), '/v0/switch/sw0/port/gi1%2Frevert');
    assert.equal(rewritePortUrl('GET', '/v0/switch/sw0/port/gi1/0/3/'), '/v0/switch/sw0/port/gi1/0/3/');
    assert.equal(rewritePortUrl('GET', '/v0/node/gi1/0'), '/v0/node/gi1/0');
  });
});

for (const database of testDatabases()) {
  describe(`argument binding on ${database.name}`, { skip: database.skip }, () => {
    it('reads a JSON body whatever its Content-Type, and an empty body as {}', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assert.equal((await api('PUT', '/v0/project/p', undefined, { rawBody: '' })).status, 200);
        const asText = await api('PUT', '/v0/node/n1', undefined, { rawBody: JSON.stringify({ obm: { type: 'mock' } }), headers: { 'content-type': 'text/plain' } });
        assert.equal(asText.status, 200, asText.text);
        const noType = await api('POST', '/v0/project/p/connect_node', undefined, { rawBody: '{"node": "n1"}' });
        assert.equal(noType.status, 200, noType.text);
        assert.deepEqual((await api('GET', '/v0/project/p/nodes')).body, ['n1']);
      }));

    it('refuses bad bodies with 400 ValidationError and changes nothing', async () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const cases: Array<[string, string, string | undefined, unknown, RegExp]> = [
          ['PUT', '/v0/project/x', '{not json', undefined, /not valid JSON/],
          ['PUT', '/v0/project/x', '[1, 2]', undefined, /must be a JSON object/],
          ['PUT', '/v0/project/x', '"x"', undefined, /must be a JSON object/],
          ['PUT', '/v0/project/x', undefined, { unexpected: 1 }, /not valid for this request/],
          ['PUT', '/v0/node/x', undefined, { obm: { type: 'mock' }, node: 'x' }, /not valid for this request/],
          ['PUT', '/v0/node/x', undefined, {}, /not valid for this request/],
          ['PUT', '/v0/node/x', undefined, { obmd: { uri: 'http://o/n', admin_token: 1 } }, /not valid for this request/],
        ];
        for (const [method, path, rawBody, body, msg] of cases) {
          const r = await api(method, path, body, rawBody === undefined ? {} : { rawBody });
          assert.equal(r.status, 400, `${method} ${path} ${rawBody ?? JSON.stringify(body)}: ${r.text}`);
          assert.equal(r.body.type, 'ValidationError');
          assert.match(r.body.msg, msg);
        }
        assert.deepEqual((await api('GET', '/v0/projects')).body, []);
        assert.deepEqual((await api('GET', '/v0/nodes/all')).body, []);
      }));

    it('a name given in both path and body is refused', () =>
      withHil(database, {}, async (t) => {
        const r = await t.as()('PUT', '/v0/network/net', { network: 'other', owner: 'admin', access: '', net_id: '' });
        assert.equal(r.status, 400);
        assert.match(r.body.msg, /"network" given twice/);
      }));

    it('GET takes the query string: a body or an empty value is refused, unknown keys too', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await api('PUT', '/v0/project/p');
        await api('PUT', '/v0/network/net', { owner: 'p', access: 'p', net_id: '' });
        assert.equal((await api('GET', '/v0/network/net/attachments', undefined, { query: '?project=p' })).status, 200);
        const withBody = await api('GET', '/v0/nodes/free', undefined, { rawBody: '{"a": 1}' });
        assert.equal(withBody.status, 400);
        assert.match(withBody.body.msg, /must not have a body/);
        const empty = await api('GET', '/v0/network/net/attachments', undefined, { query: '?project=' });
        assert.deepEqual([empty.status, empty.body.msg], [400, 'Empty parameter specified']);
        const unknown = await api('GET', '/v0/network/net/attachments', undefined, { query: '?colour=red' });
        assert.equal(unknown.status, 400);
        assert.equal(unknown.body.type, 'ValidationError');
      }));

    it('types are not coerced: "true" is not a boolean', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await api('PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        const r = await api('PUT', '/v0/node/n1/obm', { enabled: 'true' });
        assert.equal(r.status, 400);
        const node = await t.hil.store.db.selectFrom('node').select('obm_enabled').executeTakeFirstOrThrow();
        assert.equal(Boolean(node.obm_enabled), false);
      }));

    it('routing: unknown route 404, wrong method 405, trailing slash 404, all as JSON errors', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const nope = await api('GET', '/v0/no/such/thing');
        assert.deepEqual([nope.status, nope.body.type], [404, 'NotFoundError']);
        const wrong = await api('POST', '/v0/projects');
        assert.deepEqual([wrong.status, wrong.body.type], [405, 'MethodNotAllowedError']);
        assert.match(String(wrong.headers.allow), /GET/);
        assert.equal((await api('GET', '/v0/projects/')).status, 404);
      }));

    it('a call returning nothing answers 200 with an empty body; 202 only for node networking', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const created = await api('PUT', '/v0/project/p');
        assert.deepEqual([created.status, created.text], [200, '']);
        await api('PUT', '/v0/switch/sw0', { type: MOCK_SWITCH, ...SWITCH_FIELDS });
        await api('PUT', '/v0/switch/sw0/port/gi1/0/1');
        await api('PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        await api('PUT', '/v0/node/n1/nic/eth0', { macaddr: 'aa:bb' });
        await api('POST', '/v0/switch/sw0/port/gi1/0/1/connect_nic', { node: 'n1', nic: 'eth0' });
        const revert = await api('POST', '/v0/switch/sw0/port/gi1/0/1/revert');
        assert.equal(revert.status, 200);
        assert.match(revert.body.status_id, /^[0-9a-f-]{36}$/);
      }));

    it('order: schema (400) before authentication (401) before lookups (404)', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        await addUser(t, 'root', 'pw', true);
        const anon = t.as();
        const badAndAnonymous = await anon('PUT', '/v0/project/p', { bogus: true });
        assert.equal(badAndAnonymous.status, 400);
        const missingAndAnonymous = await anon('GET', '/v0/node/nowhere');
        assert.equal(missingAndAnonymous.status, 401);
        assert.equal(missingAndAnonymous.body.msg, 'Authentication failed. Authentication is required to use this service.');
        const unknownUser = await t.as({ username: 'ghost', password: 'pw' })('GET', '/v0/nodes/free');
        assert.equal(unknownUser.status, 401);
        const root = t.as({ username: 'root', password: 'pw' });
        assert.equal((await root('GET', '/v0/node/nowhere')).status, 404);
      }));

    it('every response names its request id', () =>
      withHil(database, {}, async (t) => {
        const r = await t.as()('GET', '/v0/projects');
        assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      }));
  });
}
