/**
 * What no request may bring in (src/api/edge.ts), on both databases: NUL
 * characters, empty names, deep bodies, odd content types, and what the
 * router and Node's HTTP parser refuse — each a clean 4xx in upstream's
 * {type, msg} shape, nothing stored, no error-level log line.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil, type Response, type TestHil } from '../support/hil.ts';
import { rawRequest } from '../support/raw-http.ts';

function assertError(r: Response, status: number, type: string): void {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['msg', 'type'], r.text);
  assert.equal(r.body.type, type, r.text);
}

/** Sends raw bytes to the listening server and returns its answer. */
async function raw(t: TestHil, request: string): Promise<{ status: number; body: string }> {
  const { port } = t.hil.app!.server.address() as AddressInfo;
  const a = await rawRequest(port, request);
  return a.kind === 'answer' ? { status: a.status, body: a.body } : { status: NaN, body: a.received };
}

const errorLines = (t: TestHil) => t.logs.filter((l) => Number(l.level) >= 50);

for (const database of testDatabases()) {
  describe(`the edge on ${database.name}`, { skip: database.skip }, () => {
    it('refuses a NUL anywhere with 400 before it reaches the database, and stores nothing', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const root = t.as(await addUser(t, 'root', 'root-pw', true));
        const anon = t.as();
        // In the credentials: an unknown user, 401, as any other.
        const nulAuth = 'Basic ' + Buffer.from('x\0:y').toString('base64');
        assertError(await anon('GET', '/v0/projects', undefined, { headers: { authorization: nulAuth } }), 401, 'AuthorizationError');
        assertError(await root('GET', '/v0/node/%00'), 400, 'ValidationError');
        assertError(await root('PUT', '/v0/project/pa%00evil'), 400, 'ValidationError');
        assertError(await root('PUT', '/v0/project/ok', { 'x\u0000': 1 }), 400, 'ValidationError');
        await root('PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        assertError(await root('PUT', '/v0/node/n1/metadata/k', { value: { deep: ['a\u0000b'] } }), 400, 'ValidationError');
        assertError(await root('GET', '/v0/network/x/attachments', undefined, { query: '?project=a%00b' }), 400, 'ValidationError');
        assert.deepEqual((await root('GET', '/v0/projects')).body, [], 'no project "pa" (SQLite cut names at the NUL)');
        assert.deepEqual(errorLines(t), []);
      }));

    it('answers an empty name with 404, as upstream, and creates nothing named ""', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const root = t.as(await addUser(t, 'root', 'root-pw', true));
        for (const [method, path, body] of [
          ['PUT', '/v0/project/', undefined],
          ['PUT', '/v0/auth/basic/user/', { password: 'pw', is_admin: false }],
          ['PUT', '/v0/switch/', { type: 'mock', hostname: 'h', username: 'u', password: 'p' }],
          ['PUT', '/v0/node/', { obm: { type: 'mock' } }],
          ['PUT', '/v0/network/', { owner: 'admin', access: '', net_id: '' }],
          ['GET', '/v0/nodes/', undefined],
        ] as const) {
          assertError(await root(method, path, body), 404, 'NotFoundError');
        }
        assert.deepEqual((await root('GET', '/v0/projects')).body, []);
        assert.deepEqual(Object.keys((await root('GET', '/v0/auth/basic/users')).body), ['root']);
        assert.deepEqual((await root('GET', '/v0/switches')).body, []);
        assert.deepEqual((await root('GET', '/v0/nodes/all')).body, []);
      }));

    it('refuses a body nested deeper than 32 levels, and takes one just within', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await api('PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        const nested = (depth: number) => {
          let v: unknown = 'leaf';
          for (let i = 0; i < depth; i++) v = [v];
          return v;
        };
        // Written by hand: JSON.stringify itself overflows on this.
        const deep = `{"value": ${'['.repeat(5000)}"leaf"${']'.repeat(5000)}}`;
        assertError(await api('PUT', '/v0/node/n1/metadata/k', undefined, { rawBody: deep }), 400, 'ValidationError');
        assert.equal((await api('PUT', '/v0/node/n1/metadata/k', { value: nested(30) })).status, 200);
        assert.equal((await api('GET', '/v0/node/n1')).body.metadata.k, JSON.stringify(nested(30)).replaceAll(',', ', '));
        assert.deepEqual(errorLines(t), []);
      }));

    it('reads a body whatever its Content-Type, as upstream, even one that is not a media type', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        assert.equal((await api('PUT', '/v0/project/p1', undefined, { rawBody: '', headers: { 'content-type': 'aaaa' } })).status, 200);
        assert.equal((await api('PUT', '/v0/node/n1', undefined, { rawBody: '{"obm": {"type": "mock"}}', headers: { 'content-type': 'text/plain' } })).status, 200);
        assertError(await api('PUT', '/v0/project/p2', undefined, { rawBody: '{nope', headers: { 'content-type': 'aaaa' } }), 400, 'ValidationError');
        assert.deepEqual((await api('GET', '/v0/projects')).body, ['p1']);
      }));

    it("answers what the router and Node's parser refuse in {type, msg}: bad URL, long name, huge headers, no Host, bad HTTP", () =>
      withHil(database, {}, async (t) => {
        await t.hil.app!.listen({ host: '127.0.0.1', port: 0 });
        const badUrl = await raw(t, 'GET /v0/node/%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        assert.equal(badUrl.status, 400);
        assert.equal(JSON.parse(badUrl.body).type, 'ValidationError');
        const longName = await raw(t, `GET /v0/node/${'n'.repeat(300)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.equal(longName.status, 400);
        assert.match(JSON.parse(longName.body).msg, /longer than 255 characters/);
        assert.equal((await t.as()('PUT', `/v0/project/${'p'.repeat(200)}`)).status, 200, 'a 200-character name is fine');
        const huge = await raw(t, `GET /v0/projects HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
        assert.equal(huge.status, 431);
        assert.deepEqual(JSON.parse(huge.body), { type: 'HeadersTooLargeError', msg: 'The request headers are too large' });
        const noHost = await raw(t, 'GET /v0/projects HTTP/1.1\r\nConnection: close\r\n\r\n');
        assert.equal(noHost.status, 400);
        assert.match(JSON.parse(noHost.body).msg, /needs a Host header/);
        const oldHttp = await raw(t, 'GET /v0/no-such-route HTTP/1.0\r\n\r\n');
        assert.equal(oldHttp.status, 404, `HTTP/1.0 has no Host header to require: ${JSON.stringify(oldHttp)}`);
        const garbage = await raw(t, 'NOT HTTP AT ALL\r\n\r\n');
        assert.equal(garbage.status, 400);
        assert.equal(JSON.parse(garbage.body).type, 'ValidationError');
        assert.deepEqual(errorLines(t), []);
      }));

    it('answers an upload without credentials at once, and reads no more of its body', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        await t.hil.app!.listen({ host: '127.0.0.1', port: 0 });
        const { port } = t.hil.app!.server.address() as AddressInfo;
        const declared = 300 * 1024 * 1024;
        const { answer, sent, closedAfterMs } = await new Promise<{ answer: string; sent: number; closedAfterMs: number }>((resolve, reject) => {
          const s = connect(port, '127.0.0.1');
          const chunk = Buffer.alloc(64 * 1024, 7);
          let answer = '';
          let sent = 0;
          const started = Date.now();
          let pump: NodeJS.Timeout | undefined;
          const giveUp = setTimeout(() => {
            clearInterval(pump);
            s.destroy();
            resolve({ answer, sent, closedAfterMs: Infinity });
          }, 8000);
          s.on('connect', () => {
            s.write(`PUT /v0/image/big/kernel HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`);
            pump = setInterval(() => {
              if (s.writable) for (let i = 0; i < 4; i++) sent += s.write(chunk) ? chunk.length : chunk.length;
            }, 5);
          });
          s.on('data', (d) => (answer += d.toString()));
          s.on('close', () => {
            clearInterval(pump);
            clearTimeout(giveUp);
            resolve({ answer, sent, closedAfterMs: Date.now() - started });
          });
          s.on('error', () => {}); // the server hanging up on a writer is the point
          void reject;
        });
        assert.match(answer, /^HTTP\/1\.1 401 /, answer.slice(0, 200));
        assert.match(answer, /"type":"AuthorizationError"/);
        assert.ok(closedAfterMs < 5000, `the server kept reading the body (${sent} bytes sent, no close within 8 s)`);
        assert.ok(sent < declared / 4, `${sent} bytes were read`);
      }));

    it('writes no error-level line for what a client asked wrong, anonymous or not', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const alice = t.as(await addUser(t, 'alice', 'alice-pw', false));
        for (const call of [t.as(), alice, t.as({ username: 'alice', password: 'wrong' })]) {
          await call('GET', '/v0/projects');
          await call('GET', '/v0/no/such/route');
          await call('DELETE', '/v0/nodes/free');
          await call('PUT', '/v0/project/x', undefined, { rawBody: '{not json' });
          await call('PUT', '/v0/vpn/v1', { network: 'n' }); // 501: no [vpn] here
          await call('GET', '/v0/node/%00');
          await call('PUT', '/v0/project/');
        }
        assert.deepEqual(errorLines(t), []);
        assert.ok(t.logs.some((l) => l.msg === 'request refused' && l.type === 'NotImplementedError'), 'a 501 is still logged, at info');
      }));
  });
}
