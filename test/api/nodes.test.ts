import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil, type TestHil } from '../support/hil.ts';
import {
  assertEmptyOk,
  assertError,
  attach,
  connectNode,
  detach,
  listen,
  mkNetwork,
  mkNic,
  mkNode,
  mkProject,
  mkProjects,
  readAtLeast,
  streamEnds,
  wiredNode,
} from '../support/fixtures.ts';
import { startFakeObmd } from '../support/fake-obmd.ts';

const nodeRow = (t: TestHil, label: string) => t.hil.store.db.selectFrom('node').selectAll().where('label', '=', label).executeTakeFirst();
const mockBmc = (t: TestHil, label: string) => (t.hil.bmcs.resolve('mock') as unknown as { state(l: string): { power: string; bootDevice: string; powerEvents: string[] } }).state(label);
const POWER_CALLS: Array<[string, string, unknown]> = [
  ['POST', 'power_on', undefined],
  ['POST', 'power_off', undefined],
  ['POST', 'power_cycle', { force: true }],
  ['GET', 'power_status', undefined],
  ['PUT', 'boot_device', { bootdev: 'pxe' }],
  ['GET', 'console', undefined],
];

for (const database of testDatabases()) {
  describe(`nodes on ${database.name}`, { skip: database.skip }, () => {
    it('registers nodes with an obmd body or a built-in mock OBM, storing what was given', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assertEmptyOk(await api('PUT', '/v0/node/node-obmd', { obmd: { uri: 'https://obmd.example.com/node/node-obmd', admin_token: 'tok' } }));
        assertEmptyOk(await api('PUT', '/v0/node/node-mock', { obm: { type: 'mock', host: '10.0.0.5', user: 'root', password: 'pw' } }));
        assertEmptyOk(await api('PUT', '/v0/node/node-bare', { obm: { type: 'mock' } }));
        assert.deepEqual((await api('GET', '/v0/nodes/all')).body, ['node-bare', 'node-mock', 'node-obmd']);
        const obmd = await nodeRow(t, 'node-obmd');
        assert.equal(obmd?.obm_type, 'obmd');
        assert.deepEqual(JSON.parse(obmd!.obm_params), { uri: 'https://obmd.example.com/node/node-obmd', admin_token: 'tok' });
        assert.equal(Boolean(obmd!.obm_enabled), false);
        assert.equal(obmd!.obm_token, null);
        assert.equal((await nodeRow(t, 'node-mock'))?.obm_type, 'mock');
        assert.deepEqual((await api('GET', '/v0/node/node-obmd')).body, { name: 'node-obmd', project: null, nics: [], metadata: {} });

        const dup = await api('PUT', '/v0/node/node-obmd', { obm: { type: 'mock' } });
        assertError(dup, 409, 'DuplicateError');
        assert.equal((await nodeRow(t, 'node-obmd'))?.obm_type, 'obmd');
      }));

    it('refuses malformed registrations with 400 and creates nothing', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const bad: unknown[] = [
          { obmd: { uri: 'ftp://obmd.example.com/node/n', admin_token: 'tok' } },
          { obmd: { uri: 'obmd.example.com/node/n', admin_token: 'tok' } },
          { obmd: { uri: 'file:///etc/passwd', admin_token: 'tok' } },
          { obmd: { uri: 'http://obmd/node/n' } },
          { obmd: { uri: 'http://obmd/node/n', admin_token: 'tok', extra: 1 } },
          { obmd: { uri: 'http://obmd/node/n', admin_token: 'tok' }, color: 'red' },
          { obmd: { uri: 'http://obmd/node/n', admin_token: 'tok' }, metadata: 'not an object' },
          { obmd: { uri: 'http://obmd/node/n', admin_token: 'tok' }, metadata: ['a', 'b'] },
          { obmd: { uri: 'http://obmd/node/n', admin_token: 'tok' }, metadata: 7 },
          { obm: { type: 'mock' }, metadata: null },
          { obm: { type: 'mock' }, obmd: { uri: 'http://obmd/node/n', admin_token: 'tok' } },
          { obm: { type: 'no-such-bmc' } },
          { obm: { type: 'mock', colour: 'red' } },
          {},
        ];
        for (const body of bad) {
          const r = await api('PUT', '/v0/node/node-1', body);
          assert.equal(r.status, 400, `${JSON.stringify(body)} gave ${r.status} ${r.text}`);
          assert.equal(typeof r.body.type, 'string');
        }
        assertError(await api('PUT', '/v0/node/node-1', undefined, { rawBody: '{"obm": ' }), 400, 'ValidationError');
        // Upstream answered a uri that is not http(s) with ValidationError; scripts match on the type.
        for (const uri of ['ftp://obmd.example.com/node/n', 'obmd.example.com/node/n', 'file:///etc/passwd']) {
          assertError(await api('PUT', '/v0/node/node-1', { obmd: { uri, admin_token: 'tok' } }), 400, 'ValidationError');
        }
        assert.deepEqual((await api('GET', '/v0/nodes/all')).body, []);
      }));

    it('stores metadata JSON-encoded and shows it as raw JSON text; upserts and deletes per node', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        const given = { pk: 'pk', n: 5, t: true, nothing: null, obj: { a: [1, 'x'] } };
        await mkNode(api, 'node-1', { obm: { type: 'mock' }, metadata: given });
        await mkNode(api, 'node-2');
        const md = (await api('GET', '/v0/node/node-1')).body.metadata;
        assert.deepEqual(Object.keys(md).sort(), Object.keys(given).sort());
        assert.equal(md.pk, '"pk"');
        assert.equal(md.n, '5');
        assert.equal(md.t, 'true');
        assert.equal(md.nothing, 'null');
        assert.deepEqual(JSON.parse(md.obj), given.obj);

        assertEmptyOk(await api('PUT', '/v0/node/node-1/metadata/pk', { value: { replaced: 1 } }));
        assertEmptyOk(await api('PUT', '/v0/node/node-2/metadata/pk', { value: 'other' }));
        assert.deepEqual(JSON.parse((await api('GET', '/v0/node/node-1')).body.metadata.pk), { replaced: 1 });
        assert.deepEqual((await api('GET', '/v0/node/node-2')).body.metadata, { pk: '"other"' });
        assertError(await api('PUT', '/v0/node/ghost/metadata/pk', { value: 1 }), 404, 'NotFoundError');
        assertError(await api('PUT', '/v0/node/node-1/metadata/pk', {}), 400, 'ValidationError');

        assertEmptyOk(await api('DELETE', '/v0/node/node-2/metadata/pk'));
        assertError(await api('DELETE', '/v0/node/node-2/metadata/n'), 404, 'NotFoundError');
        assertError(await api('DELETE', '/v0/node/node-2/metadata/pk'), 404, 'NotFoundError');
        assertError(await api('DELETE', '/v0/node/ghost/metadata/pk'), 404, 'NotFoundError');
        assert.deepEqual((await api('GET', '/v0/node/node-2')).body.metadata, {});
        assert.equal(Object.keys((await api('GET', '/v0/node/node-1')).body.metadata).length, 5);
      }));

    it('delete: 404, 409 while in a project (checked first), 409 while it has nics; metadata goes with the node', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assertError(await api('DELETE', '/v0/node/ghost'), 404, 'NotFoundError');
        await mkProject(api, 'runway');
        await mkNode(api, 'node-1', { obm: { type: 'mock' }, metadata: { rack: 'r1', u: 12 } });
        await mkNic(api, 'node-1', 'eth0');
        await connectNode(api, 'runway', 'node-1');
        assertError(await api('DELETE', '/v0/node/node-1'), 409, 'BlockedError', /part of project/);
        assertEmptyOk(await api('POST', '/v0/project/runway/detach_node', { node: 'node-1' }));
        assertError(await api('DELETE', '/v0/node/node-1'), 409, 'BlockedError', /has nics/);
        assertEmptyOk(await api('DELETE', '/v0/node/node-1/nic/eth0'));
        const node = await nodeRow(t, 'node-1');
        assertEmptyOk(await api('DELETE', '/v0/node/node-1'));
        assertError(await api('GET', '/v0/node/node-1'), 404, 'NotFoundError');
        assert.deepEqual((await api('GET', '/v0/nodes/all')).body, []);
        const left = await t.hil.store.db.selectFrom('node_metadata').select('label').where('node_id', '=', node!.id).execute();
        assert.deepEqual(left, []);
        await mkNode(api, 'node-1');
        assert.deepEqual((await api('GET', '/v0/node/node-1')).body.metadata, {});
      }));

    it('nics: unique per node only; 404s; delete blocked while in a project, then deletes the finished action too', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assertError(await api('PUT', '/v0/node/ghost/nic/eth0', { macaddr: 'aa' }), 404, 'NotFoundError');
        const w = await wiredNode(api);
        await mkNode(api, 'node-2');
        assertEmptyOk(await api('PUT', '/v0/node/node-2/nic/eth0', { macaddr: '11:22:33:44:55:66' }));
        assertEmptyOk(await api('PUT', '/v0/node/node-2/nic/eth1', { macaddr: 'not-a-mac' }));
        assertError(await api('PUT', '/v0/node/node-2/nic/eth0', { macaddr: 'ff' }), 409, 'DuplicateError');
        assertError(await api('PUT', '/v0/node/node-2/nic/eth2', {}), 400, 'ValidationError');
        const nics = (await api('GET', '/v0/node/node-2')).body.nics;
        assert.deepEqual(nics.map((n: any) => [n.label, n.macaddr]), [['eth0', '11:22:33:44:55:66'], ['eth1', 'not-a-mac']]);

        assertError(await api('DELETE', '/v0/node/ghost/nic/eth0'), 404, 'NotFoundError');
        assertError(await api('DELETE', `/v0/node/${w.node}/nic/eth9`), 404, 'NotFoundError');
        await mkNetwork(api, 'rnet', 'runway');
        await attach(api, w.node, w.nic, 'rnet');
        await detach(api, w.node, w.nic, 'rnet');
        const action = await t.hil.store.db.selectFrom('networking_action').select(['uuid', 'status']).executeTakeFirstOrThrow();
        assert.equal(action.status, 'DONE');
        assertError(await api('DELETE', `/v0/node/${w.node}/nic/${w.nic}`), 409, 'BlockedError', /belongs to a project/);
        assertEmptyOk(await api('POST', '/v0/project/runway/detach_node', { node: w.node }));
        assertEmptyOk(await api('DELETE', `/v0/node/${w.node}/nic/${w.nic}`));
        assertError(await api('GET', `/v0/networking_action/${action.uuid}`), 404, 'NotFoundError');
        assert.deepEqual((await api('GET', `/v0/node/${w.node}`)).body.nics, []);
        assert.deepEqual((await api('GET', '/v0/switch/sw0/port/gi1/0/1')).body, {});
        assert.deepEqual((await api('GET', '/v0/node/node-2')).body.nics.map((n: any) => n.label), ['eth0', 'eth1']);
      }));

    it('GET /v0/node/<n> shows nics with networks, and port/switch only to admins', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const root = await addUser(t, 'root', 'rootpw', true);
        const api = t.as(root);
        const w = await wiredNode(api);
        await mkNic(api, w.node, 'eth1', 'aa:bb');
        await mkNetwork(api, 'rnet', 'runway');
        await attach(api, w.node, w.nic, 'rnet');
        assertEmptyOk(await api('PUT', `/v0/node/${w.node}/metadata/rack`, { value: 'r1' }));
        const expectNics = [
          { label: 'eth0', macaddr: 'de:ad:be:ef:00:01', networks: { 'vlan/native': 'rnet' }, port: 'gi1/0/1', switch: 'sw0' },
          { label: 'eth1', macaddr: 'aa:bb', networks: {}, port: null, switch: null },
        ];
        const shown = await api('GET', `/v0/node/${w.node}`);
        assert.equal(shown.status, 200);
        assert.deepEqual(shown.body, { name: w.node, project: 'runway', nics: expectNics, metadata: { rack: '"r1"' } });

        const member = await addUser(t, 'alice', 'alicepw', false, ['runway']);
        const asMember = (await t.as(member)('GET', `/v0/node/${w.node}`)).body;
        assert.deepEqual(asMember.nics, expectNics.map(({ port: _p, switch: _s, ...rest }) => rest));
        assertError(await api('GET', '/v0/node/ghost'), 404, 'NotFoundError');
      }));

    it('GET /v0/node/<n> answers with sorted keys, as upstream json.dumps(sort_keys=True)', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkNode(api, 'node-1', { obm: { type: 'mock' }, metadata: { b: 1, a: 2 } });
        await mkNic(api, 'node-1', 'eth0');
        const text = (await api('GET', '/v0/node/node-1')).text;
        const topKeys = Object.keys(JSON.parse(text));
        assert.deepEqual(topKeys, [...topKeys].sort(), `top-level keys in ${text}`);
        const nicKeys = Object.keys(JSON.parse(text).nics[0]);
        assert.deepEqual(nicKeys, [...nicKeys].sort(), `nic keys in ${text}`);
        assert.deepEqual(Object.keys(JSON.parse(text).metadata), ['a', 'b']);
      }));

    it('metadata objects and lists come back as upstream json.dumps text (", " and ": " separators)', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkNode(api, 'node-1', { obm: { type: 'mock' }, metadata: { obj: { a: [1, 'x'], b: { c: null } } } });
        assertEmptyOk(await api('PUT', '/v0/node/node-1/metadata/list', { value: [1, 2] }));
        const md = (await api('GET', '/v0/node/node-1')).body.metadata;
        assert.equal(md.obj, '{"a": [1, "x"], "b": {"c": null}}');
        assert.equal(md.list, '[1, 2]');
      }));

    it('GET /v0/nodes/free lists sorted free nodes; any other word lists all, sorted', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkProject(api, 'runway');
        for (const n of ['node-c', 'node-a', 'node-b', 'node-d']) await mkNode(api, n);
        await connectNode(api, 'runway', 'node-a');
        await connectNode(api, 'runway', 'node-d');
        assert.deepEqual((await api('GET', '/v0/nodes/free')).body, ['node-b', 'node-c']);
        for (const word of ['all', 'busy', 'FREE']) {
          assert.deepEqual((await api('GET', `/v0/nodes/${word}`)).body, ['node-a', 'node-b', 'node-c', 'node-d'], word);
        }
      }));

    it("GET /v0/nodes/free keeps upstream's answer (a bare JSON list of names, sorted) while nodes come and go", () =>
      withHil(database, {}, async (t) => {
        // The free list is read from its own partial index (migration 0006): the
        // answer must be what the old scan and sort gave, whatever order nodes
        // were made, taken and given back in. Lower-case letters and digits only,
        // where every collation agrees with upstream's Python sorted().
        const api = t.as();
        await mkProjects(api, 'runway', 'manhattan');
        const labels = ['n9', 'n10', 'n100', 'a1', 'z', 'b10', 'b2', 'n09', 'm', 'n1', 'aa', 'a', 'x7y', 'n99'];
        for (const n of labels) await mkNode(api, n);
        const free = new Set(labels);
        const expectFree = async (why: string) => {
          const r = await api('GET', '/v0/nodes/free');
          assert.equal(r.status, 200);
          assert.match(String(r.headers['content-type']), /^application\/json/);
          assert.ok(Array.isArray(r.body) && r.body.every((x: unknown) => typeof x === 'string'), `${why}: a list of names, nothing around it: ${r.text}`);
          assert.deepEqual(r.body, [...free].sort(), why);
        };
        await expectFree('all free');
        for (const [project, node] of [['runway', 'n10'], ['manhattan', 'a'], ['runway', 'z'], ['runway', 'n09'], ['manhattan', 'b2']] as const) {
          await connectNode(api, project, node);
          free.delete(node);
        }
        await expectFree('five taken');
        for (const [project, node] of [['runway', 'n10'], ['manhattan', 'b2']] as const) {
          assertEmptyOk(await api('POST', `/v0/project/${project}/detach_node`, { node }));
          free.add(node);
        }
        assertEmptyOk(await api('DELETE', '/v0/node/x7y'));
        free.delete('x7y');
        await mkNode(api, 'b1');
        free.add('b1');
        await expectFree('two given back, one deleted, one new');
        const all = (await api('GET', '/v0/nodes/all')).body as string[];
        assert.deepEqual(all, [...labels.filter((l) => l !== 'x7y'), 'b1'].sort());
      }));

    it('OBM: enable/disable are idempotent in any order; every power call is 409 while disabled', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkNode(api, 'node-1');
        for (const [method, op, body] of POWER_CALLS) {
          assertError(await api(method, `/v0/node/ghost/${op}`, body), 404, 'NotFoundError');
          assertError(await api(method, `/v0/node/node-1/${op}`, body), 409, 'BlockedError', 'OBM is not enabled');
        }
        assertError(await api('PUT', '/v0/node/ghost/obm', { enabled: true }), 404, 'NotFoundError');
        assertError(await api('PUT', '/v0/node/node-1/obm', { enabled: 'yes' }), 400, 'ValidationError');
        assertError(await api('PUT', '/v0/node/node-1/obm', {}), 400, 'ValidationError');
        for (const enabled of [false, true, true, false, false, true, false]) {
          assertEmptyOk(await api('PUT', '/v0/node/node-1/obm', { enabled }));
          assert.equal(Boolean((await nodeRow(t, 'node-1'))!.obm_enabled), enabled);
        }
        for (const [method, op, body] of POWER_CALLS) {
          assertError(await api(method, `/v0/node/node-1/${op}`, body), 409, 'BlockedError');
        }
      }));

    it('OBM: the mock BMC powers on, off and cycles; power_status follows; bad force or boot device is 400', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkNode(api, 'node-1');
        assertEmptyOk(await api('PUT', '/v0/node/node-1/obm', { enabled: true }));
        const status = async () => (await api('GET', '/v0/node/node-1/power_status')).body;
        assertEmptyOk(await api('POST', '/v0/node/node-1/power_on'));
        assert.deepEqual(await status(), { power_status: 'on' });
        assertEmptyOk(await api('POST', '/v0/node/node-1/power_off', {}));
        assert.deepEqual(await status(), { power_status: 'off' });
        assertEmptyOk(await api('POST', '/v0/node/node-1/power_cycle', { force: true }));
        assert.deepEqual(await status(), { power_status: 'on' });
        assertEmptyOk(await api('POST', '/v0/node/node-1/power_cycle', { force: false }));
        assertEmptyOk(await api('POST', '/v0/node/node-1/power_cycle'));
        for (const force of ['yes', 1, null]) {
          assertError(await api('POST', '/v0/node/node-1/power_cycle', { force }), 400, 'ValidationError');
        }
        assertError(await api('POST', '/v0/node/node-1/power_on', { force: true }), 400, 'ValidationError');
        assertEmptyOk(await api('PUT', '/v0/node/node-1/boot_device', { bootdev: 'pxe' }));
        assert.equal(mockBmc(t, 'node-1').bootDevice, 'pxe');
        const bad = await api('PUT', '/v0/node/node-1/boot_device', { bootdev: 'floppy' });
        assert.equal(bad.status, 400, bad.text);
        assertError(await api('PUT', '/v0/node/node-1/boot_device', {}), 400, 'ValidationError');
        assert.equal(mockBmc(t, 'node-1').bootDevice, 'pxe');
        assert.deepEqual(mockBmc(t, 'node-1').powerEvents, ['on', 'off', 'reset', 'cycle', 'cycle']);
      }));

    it('OBM: obmd nodes get a token on enable (replaced on re-enable) and 307 redirects to obmd', () =>
      withHil(database, {}, async (t) => {
        const obmd = await startFakeObmd(['node-1'], { adminToken: 'sekrit' });
        try {
          const api = t.as();
          await mkNode(api, 'node-1', { obmd: { uri: obmd.uri('node-1'), admin_token: 'sekrit' } });
          assertEmptyOk(await api('PUT', '/v0/node/node-1/obm', { enabled: true }));
          assertEmptyOk(await api('PUT', '/v0/node/node-1/obm', { enabled: true }));
          const token = (await nodeRow(t, 'node-1'))!.obm_token;
          assert.equal(token, obmd.nodeToken('node-1'));
          assert.deepEqual(obmd.requests.map((c) => `${c.method} ${c.path}`), ['POST /node/node-1/token', 'POST /node/node-1/token']);
          assert.equal(obmd.requests[0].auth, 'Basic ' + Buffer.from('admin:sekrit').toString('base64'));
          for (const [method, op, body] of POWER_CALLS) {
            const r = await api(method, `/v0/node/node-1/${op}`, body);
            assert.equal(r.status, 307, `${op}: ${r.status} ${r.text}`);
            assert.equal(r.headers.location, `${obmd.uri('node-1')}/${op}?token=${token}`);
          }
          assertEmptyOk(await api('PUT', '/v0/node/node-1/obm', { enabled: false }));
          assert.equal(obmd.requests.at(-1)?.method, 'DELETE');
          assert.equal((await nodeRow(t, 'node-1'))!.obm_token, null);
          assertError(await api('POST', '/v0/node/node-1/power_on'), 409, 'BlockedError');
          obmd.failWith = 500;
          assertError(await api('PUT', '/v0/node/node-1/obm', { enabled: true }), 500, 'OBMError');
          assert.equal(Boolean((await nodeRow(t, 'node-1'))!.obm_enabled), false);
        } finally {
          await obmd.close();
        }
      }));

    it('console: streams the mock BMC output once enabled; a new reader or disabling the OBM ends it', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await mkNode(api, 'node-1');
        const base = await listen(t);
        const refused = await fetch(`${base}/v0/node/node-1/console`);
        assert.equal(refused.status, 409);
        assert.equal(((await refused.json()) as { type: string }).type, 'BlockedError');
        assertEmptyOk(await api('PUT', '/v0/node/node-1/obm', { enabled: true }));

        const first = new AbortController();
        const res1 = await fetch(`${base}/v0/node/node-1/console`, { signal: first.signal });
        assert.equal(res1.status, 200);
        assert.match(String(res1.headers.get('content-type')), /application\/octet-stream/);
        const reader1 = res1.body!.getReader();
        // The console is live: a reader sees what the BMC prints from now on (the log has the rest).
        const text1 = await readAtLeast(reader1, 6);
        const [a, b] = text1.split('\n').map(Number);
        assert.equal(b, a + 1, `consecutive console lines: ${JSON.stringify(text1)}`);
        first.abort();

        const res2 = await fetch(`${base}/v0/node/node-1/console`);
        const reader2 = res2.body!.getReader();
        const text2 = await readAtLeast(reader2, 2);
        assert.ok(Number(text2.split('\n')[0]) > b, `the console goes on between readers: ${JSON.stringify(text2)}`);
        const res3 = await fetch(`${base}/v0/node/node-1/console`);
        const reader3 = res3.body!.getReader();
        await readAtLeast(reader3, 2);
        assert.equal(await streamEnds(reader2), true, 'a second reader displaces the first');

        assertEmptyOk(await api('PUT', '/v0/node/node-1/obm', { enabled: false }));
        assert.equal(await streamEnds(reader3), true, 'disabling the OBM ends the console stream');
        assertError(await api('GET', '/v0/node/node-1/console'), 409, 'BlockedError');
        // Streaming must not trip the framework (it once logged ERR_HTTP_HEADERS_SENT per read).
        assert.deepEqual(t.logs.filter((l) => Number(l.level) >= 40).map((l) => l.msg), []);
      }));
  });
}
