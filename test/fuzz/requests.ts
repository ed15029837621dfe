/**
 * Generated requests: for every operation of /openapi.json, calls with
 * world names or tricky ones in the path, bodies the schema accepts or
 * refuses or that are not JSON at all, each caller's credentials or none or
 * garbage, odd content types, methods and headers; plus routes the document
 * does not list, and raw HTTP that only a socket can carry.
 *
 * A FuzzRequest is plain data, printed as the counterexample when a check
 * fails, and replayable by hand (toCurl).
 */
import fc from 'fast-check';
import type { JsonSchema, Operation } from './routes.ts';
import { invalidValue, validValue } from './schema-arb.ts';
import { scenarioRequest } from './scenarios.ts';
import { deepJson, pathSegment, stringFor } from './values.ts';
import { basicAuth } from '../support/hil.ts';
import { ACTORS } from './world.ts';

export interface FuzzRequest {
  /** inject: through Fastify's inject; socket: `raw` written as is to a TCP connection. */
  via: 'inject' | 'socket';
  method: string;
  /** Path and query, as sent. A `{action:N}` in it stands for the N-th status_id the server has handed out so far. */
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** socket only: the whole request. */
  raw?: string;
  /** The operation's template (or what kind of request it is), to group failures. */
  route: string;
  /** Who the credentials are for (admin, member, other, none, or the kind of garbage). */
  as: string;
  /**
   * false: send the next request while a networking action this one queued
   * may still be PENDING. Otherwise the test waits for the worker first, so
   * that a seed replays the same states.
   */
  settle?: boolean;
}

/** `arb` in `percent` % of cases, null otherwise. */
const sometimes = <T>(arb: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | null> =>
  fc.oneof({ weight: 100 - percent, arbitrary: fc.constant(null) }, { weight: percent, arbitrary: arb });

// ---------------------------------------------------------------- credentials

interface Credentials {
  as: string;
  authorization?: string;
}

/** Each caller; no credentials; and garbage, sparingly (a wrong password costs the server a scrypt, ~100 ms). */
const credentials: fc.Arbitrary<Credentials> = fc.oneof(
  { weight: 500, arbitrary: fc.constant({ as: 'admin', authorization: basicAuth(ACTORS.admin.username, ACTORS.admin.password) }) },
  { weight: 200, arbitrary: fc.constant({ as: 'member', authorization: basicAuth(ACTORS.member.username, ACTORS.member.password) }) },
  { weight: 100, arbitrary: fc.constant({ as: 'other', authorization: basicAuth(ACTORS.other.username, ACTORS.other.password) }) },
  { weight: 80, arbitrary: fc.constant({ as: 'none' }) },
  {
    weight: 20,
    arbitrary: fc.constantFrom<Credentials>(
      { as: 'no colon', authorization: 'Basic ' + Buffer.from('admin').toString('base64') },
      { as: 'bad base64', authorization: 'Basic !!!not-base64!!!' },
      { as: 'no scheme', authorization: Buffer.from('admin:admin-pw').toString('base64') },
      { as: 'bearer', authorization: 'Bearer abc.def' },
      { as: 'empty basic', authorization: 'Basic ' },
    ),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom<Credentials>(
      { as: 'wrong password', authorization: basicAuth('admin', 'nope') },
      { as: 'unknown user', authorization: basicAuth('nobody', 'nope') },
      { as: 'NUL in user', authorization: basicAuth('adm\u0000in', 'admin-pw') },
      { as: 'empty user', authorization: basicAuth('', 'x') },
      { as: 'empty password', authorization: basicAuth('admin', '') },
      { as: 'unicode user', authorization: basicAuth('ädmïn', 'pw') },
      { as: 'long user', authorization: basicAuth('x'.repeat(5000), 'pw') },
    ),
  },
);

// ---------------------------------------------------------------- bodies

interface Body {
  body?: string | Buffer;
  contentType?: string;
}

const deep = (depth: number) => `{"value": ${'['.repeat(depth)}${']'.repeat(depth)}}`;

/** Bodies that are not a JSON object at all. */
const junkBody: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('{', '}', 'null', 'true', '0', '""', '[]', '[{}]', 'undefined', "{'a': 1}", '{"a":1}garbage', '{"a":1}{"b":2}', '\uFEFF{}', '{"node":"n1","node":"n2"}', '{"__proto__": {"isAdmin": true}}', 'NaN', '\u0000'),
  fc.constantFrom(100, 1000, 5000, 20000).map(deep),
  fc.constantFrom(5000, 50000).map((d) => '['.repeat(d)),
  fc.constantFrom(100_000, 1_100_000).map((n) => JSON.stringify({ value: 'x'.repeat(n) })),
  fc.string({ maxLength: 30 }),
);

/** Content types besides application/json (undefined: no header). */
const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 60, arbitrary: fc.constant('application/json') },
  { weight: 25, arbitrary: fc.constant(undefined) },
  {
    weight: 15,
    arbitrary: fc.constantFrom('text/plain', 'aaaa', 'application/json; charset=utf-16', 'application/octet-stream', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json;;', ''),
  },
);

/** The test's OVS switches talk to no real OVSDB: whatever else a registration says, its endpoint is a socket that does not exist. */
export const DEAD_OVSDB = 'unix:/nonexistent/hil-fuzz/db.sock';

function harmless(v: unknown): unknown {
  const type = typeof v === 'object' && v !== null ? (v as { type?: unknown }).type : undefined;
  if (typeof type === 'string' && type.includes('ovs')) return { ...(v as object), ovsdb: DEAD_OVSDB };
  return v;
}

function jsonBody(schema: JsonSchema): fc.Arbitrary<Body> {
  const json = (a: fc.Arbitrary<unknown>) => fc.tuple(a, contentType).map(([v, ct]): Body => ({ body: deepJson(JSON.stringify(harmless(v))), contentType: ct }));
  return fc.oneof(
    { weight: 60, arbitrary: json(validValue(schema)) },
    { weight: 20, arbitrary: json(invalidValue(schema)) },
    { weight: 10, arbitrary: fc.tuple(junkBody, contentType).map(([body, ct]): Body => ({ body, contentType: ct })) },
    { weight: 10, arbitrary: fc.constant<Body>({}) },
  );
}

/** An image file: small bytes, one just over the test's 1 MiB limit, nothing; mostly as octet-stream. */
const fileBody: fc.Arbitrary<Body> = fc.tuple(
  fc.oneof({ weight: 8, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) }, { weight: 1, arbitrary: fc.constant(Buffer.alloc(1024 * 1024 + 1, 7)) }, { weight: 1, arbitrary: fc.constant(undefined) }),
  fc.oneof({ weight: 8, arbitrary: fc.constant('application/octet-stream') }, { weight: 2, arbitrary: contentType }),
).map(([body, ct]) => ({ body, contentType: ct }));

/** A GET's body: none, mostly. */
const getBody: fc.Arbitrary<Body> = fc.oneof({ weight: 95, arbitrary: fc.constant<Body>({}) }, { weight: 5, arbitrary: fc.constantFrom<Body>({ body: '{}' }, { body: 'x', contentType: 'text/plain' }) });

function bodyFor(op: Operation): fc.Arbitrary<Body> {
  if (!op.body) return getBody;
  if (op.body.mediaType !== 'application/json') return fileBody;
  return jsonBody(op.body.schema);
}

// ---------------------------------------------------------------- path, query, method, headers

function queryFor(op: Operation): fc.Arbitrary<string> {
  const pairs = op.queryParams.map((p) => sometimes(stringFor(p.name).map((v) => `${p.name}=${encodeURIComponent(v.replace(/[\uD800-\uDFFF]/g, '?'))}`), 50));
  const odd = fc.constantFrom('unknown=1', 'project=', 'a=1&a=2', 'switch=sw0&switch=sw1', 'node=n1', '%ZZ=1', 'x=%ZZ', '=');
  return fc.tuple(fc.tuple(...pairs), sometimes(odd, 5)).map(([ps, extra]) => {
    const all = [...ps.filter((p): p is string => p !== null), ...(extra ? [extra] : [])];
    return all.length ? `?${all.join('&')}` : '';
  });
}

function pathFor(op: Operation): fc.Arbitrary<string> {
  const segments = op.pathParams.map((name) => (name === 'status_id' ? statusId : pathSegment(name)));
  return fc.tuple(...segments).map((values) => {
    let i = 0;
    return op.template.replace(/\{\w+\}/g, () => values[i++]!);
  });
}

/** A status id: one the server handed out (resolved when sent), or none that exists. */
const statusId: fc.Arbitrary<string> = fc.oneof(
  { weight: 7, arbitrary: fc.nat(200).map((n) => `{action:${n}}`) },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.constantFrom('not-a-uuid', '', '%00', '1') },
);

/** Small changes to a path that should make it name no route. */
const pathTweak: fc.Arbitrary<(p: string) => string> = fc.constantFrom(
  (p: string) => p + '/',
  (p: string) => p.replace('/v0/', '/v0//'),
  (p: string) => p + '/extra',
  (p: string) => p.toUpperCase(),
  (p: string) => p.replace('/v0/', '/v1/'),
  (p: string) => p.replace('/v0/', '/v0/../v0/'),
  (p: string) => p + '%00',
  (p: string) => p + '#frag',
);

const OTHER_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];

const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 95, arbitrary: fc.constant({}) },
  {
    weight: 5,
    arbitrary: fc.constantFrom<Record<string, string>>(
      Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`x-fuzz-${i}`, 'v'.repeat(50)])),
      { 'x-big': 'v'.repeat(20_000) },
      { accept: 'text/html' },
      { 'accept-encoding': 'gzip, br' },
      { 'x-forwarded-for': '1.2.3.4' },
      { 'x-request-id': 'fixed' },
      { expect: '100-continue' },
      { 'content-encoding': 'gzip' },
    ),
  },
);

/** Requests for one operation. */
export function operationRequest(op: Operation): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      creds: credentials,
      path: pathFor(op),
      query: queryFor(op),
      body: bodyFor(op),
      method: fc.oneof({ weight: 92, arbitrary: fc.constant(op.method) }, { weight: 8, arbitrary: fc.constantFrom(...OTHER_METHODS.filter((m) => m !== op.method)) }),
      tweak: sometimes(pathTweak, 5),
      headers: extraHeaders,
    })
    .map(({ creds, path, query, body, method, tweak, headers }) => {
      const h: Record<string, string> = { ...headers };
      if (creds.authorization !== undefined) h.authorization = creds.authorization;
      if (body.contentType !== undefined) h['content-type'] = body.contentType;
      return { via: 'inject', method, url: (tweak ? tweak(path) : path) + query, headers: h, body: body.body, route: `${op.method} ${op.template}`, as: creds.as };
    });
}

// ---------------------------------------------------------------- routes not in the document

const ADMIN = basicAuth(ACTORS.admin.username, ACTORS.admin.password);

/** Upstream's headnode paths (also without their trailing slash), the WebSocket console, the probes and /metrics, and paths no route has. */
const unlisted: fc.Arbitrary<FuzzRequest> = fc
  .record({
    creds: credentials,
    target: fc.constantFrom(
      ['PUT', '/v0/headnode/h1'],
      ['GET', '/v0/headnode/h1'],
      ['POST', '/v0/headnode/h1/start'],
      ['PUT', '/v0/headnode/h1/hnic/eth0'],
      ['GET', '/v0/headnode_images/'],
      ['GET', '/v0/headnode_images'],
      ['GET', '/v0/node/n1/console/ws'],
      ['GET', '/'],
      ['GET', '/v0'],
      ['GET', '/v0/'],
      ['GET', '/openapi.json'],
      ['POST', '/openapi.json'],
      ['GET', '/healthz'],
      ['GET', '/readyz'],
      ['GET', '/version'],
      ['GET', '/metrics'],
      ['POST', '/metrics'],
      ['DELETE', '/healthz'],
      ['GET', '/v0/nodes'],
      ['GET', '/v0/switch/sw0/port/'],
      ['POST', '/v0/switch/sw0/port/connect_nic'],
      ['POST', '/v0/switch/sw0/port/gi1/0/1/revert/revert'],
      ['GET', '/fpbl/v1/boot'],
      ['POST', '/fpbl/v1/report'],
      ['GET', '/v0/node/n1/metadata'],
      ['PUT', '/v0/project/p1/nodes'],
      ['GET', '/v0/' + 'a/'.repeat(500)],
    ),
    body: sometimes(fc.constantFrom('{}', '{"x":1}', 'garbage'), 30),
  })
  .map(({ creds, target: [method, url], body }): FuzzRequest => ({
    via: 'inject',
    method: method!,
    url: url!,
    headers: creds.authorization ? { authorization: creds.authorization } : {},
    body: body ?? undefined,
    route: `unlisted ${method} ${url!.length > 60 ? url!.slice(0, 60) + '…' : url}`,
    as: creds.as,
  }));

/**
 * Creations with an empty name (a trailing slash where the name goes), with
 * a body that would register the object: `hil project create "$UNSET"`.
 */
const emptyNames: fc.Arbitrary<FuzzRequest> = fc
  .constantFrom<[string, string, string, unknown]>(
    ['PUT', '/v0/project/', '/v0/project/{project}', undefined],
    ['PUT', '/v0/node/', '/v0/node/{node}', { obm: { type: 'mock' } }],
    ['PUT', '/v0/node/n1/nic/', '/v0/node/{node}/nic/{nic}', { macaddr: '52:54:00:00:00:99' }],
    ['PUT', '/v0/node/n1/metadata/', '/v0/node/{node}/metadata/{label}', { value: 1 }],
    ['PUT', '/v0/network/', '/v0/network/{network}', { owner: 'admin', access: '', net_id: '' }],
    ['PUT', '/v0/switch/', '/v0/switch/{switch}', { type: 'mock', hostname: 'h', username: 'u', password: 'p' }],
    ['PUT', '/v0/switch/sw0/port/', '/v0/switch/{switch}/port/{port}', undefined],
    ['PUT', '/v0/auth/basic/user/', '/v0/auth/basic/user/{user}', { password: 'pw' }],
    ['PUT', '/v0/image/', '/v0/image/{image}', {}],
    ['GET', '/v0/nodes/', '/v0/nodes/{is_free}', undefined],
    ['GET', '/v0/project/', '/v0/project/{project}/nodes', undefined],
  )
  .map(([method, url, template, body]): FuzzRequest => ({
    via: 'inject',
    method,
    url,
    headers: { authorization: ADMIN, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    route: `${method} ${template}`,
    as: 'admin',
  }));

// ---------------------------------------------------------------- raw HTTP

const rawLines = (lines: string[], body = '') => lines.join('\r\n') + '\r\n\r\n' + body;

/** Requests an HTTP client would refuse to send: built by hand, sent over a socket. */
const rawHttp: fc.Arbitrary<FuzzRequest> = fc
  .oneof(
    fc.constantFrom('/v0/node/%ZZ', '/v0/node/%', '/v0/project/%E2%82', '/v0/%00', '/v0/node/%C0%AF', '/v0/switch/sw0/port/gi1%2F0%2F1', '/v0/node/n1/../../v0/projects', '/v0/projects?%ZZ').map((path) => ({
      kind: `bad path ${path}`,
      raw: rawLines([`GET ${path} HTTP/1.1`, 'Host: hil', `Authorization: ${ADMIN}`, 'Connection: close']),
    })),
    fc.constantFrom(2_000, 20_000, 100_000).map((n) => ({
      kind: `long url (${n})`,
      raw: rawLines([`GET /v0/node/${'a'.repeat(n)} HTTP/1.1`, 'Host: hil', `Authorization: ${ADMIN}`, 'Connection: close']),
    })),
    fc.constantFrom(100, 1000).map((n) => ({
      kind: `many headers (${n})`,
      raw: rawLines(['GET /v0/projects HTTP/1.1', 'Host: hil', `Authorization: ${ADMIN}`, ...Array.from({ length: n }, (_, i) => `X-Fuzz-${i}: ${'v'.repeat(40)}`), 'Connection: close']),
    })),
    fc.constantFrom(
      { kind: 'bad version', raw: rawLines(['GET /v0/projects HTTP/9.9', 'Host: hil', 'Connection: close']) },
      { kind: 'garbage request line', raw: rawLines(['GARBAGE']) },
      { kind: 'lowercase method', raw: rawLines(['get /v0/projects HTTP/1.1', 'Host: hil', 'Connection: close']) },
      { kind: 'unknown method', raw: rawLines(['BREW /v0/projects HTTP/1.1', 'Host: hil', 'Connection: close']) },
      { kind: 'header without colon', raw: rawLines(['GET /v0/projects HTTP/1.1', 'Host: hil', 'NoColonHere', 'Connection: close']) },
      { kind: 'NUL in header', raw: rawLines(['GET /v0/projects HTTP/1.1', 'Host: hil', 'X-A: a\u0000b', 'Connection: close']) },
      { kind: 'obs-fold header', raw: rawLines(['GET /v0/projects HTTP/1.1', 'Host: hil', `Authorization: ${ADMIN}`, ' folded', 'Connection: close']) },
      {
        kind: 'two content-lengths',
        raw: rawLines(['PUT /v0/project/p9 HTTP/1.1', 'Host: hil', `Authorization: ${ADMIN}`, 'Content-Length: 2', 'Content-Length: 3', 'Connection: close'], '{}'),
      },
      {
        kind: 'content-length and chunked',
        raw: rawLines(['PUT /v0/project/p9 HTTP/1.1', 'Host: hil', `Authorization: ${ADMIN}`, 'Content-Length: 2', 'Transfer-Encoding: chunked', 'Connection: close'], '2\r\n{}\r\n0\r\n\r\n'),
      },
      { kind: 'bad chunk', raw: rawLines(['PUT /v0/project/p9 HTTP/1.1', 'Host: hil', `Authorization: ${ADMIN}`, 'Transfer-Encoding: chunked', 'Connection: close'], 'zz\r\n{}\r\n0\r\n\r\n') },
      { kind: 'negative content-length', raw: rawLines(['PUT /v0/project/p9 HTTP/1.1', 'Host: hil', `Authorization: ${ADMIN}`, 'Content-Length: -1', 'Connection: close'], '{}') },
      { kind: 'absolute-form url', raw: rawLines(['GET http://hil/v0/projects HTTP/1.1', 'Host: hil', `Authorization: ${ADMIN}`, 'Connection: close']) },
      { kind: 'asterisk url', raw: rawLines(['OPTIONS * HTTP/1.1', 'Host: hil', 'Connection: close']) },
      { kind: 'no host (HTTP/1.1)', raw: rawLines(['GET /v0/projects HTTP/1.1', `Authorization: ${ADMIN}`, 'Connection: close']) },
      { kind: 'HTTP/1.0', raw: rawLines(['GET /v0/projects HTTP/1.0', `Authorization: ${ADMIN}`]) },
      { kind: 'url without slash', raw: rawLines(['GET v0/projects HTTP/1.1', 'Host: hil', 'Connection: close']) },
      { kind: 'chunked body', raw: rawLines(['PUT /v0/project/p9 HTTP/1.1', 'Host: hil', `Authorization: ${ADMIN}`, 'Transfer-Encoding: chunked', 'Connection: close'], '2\r\n{}\r\n0\r\n\r\n') },
    ),
  )
  .map(({ kind, raw }) => ({ via: 'socket' as const, method: raw.split(' ')[0]!, url: raw.split(' ')[1] ?? '', headers: {}, raw, route: `raw ${kind}`, as: 'admin' }));

/**
 * Operations that change users or delete projects make the server forget
 * cached credentials, and each caller then costs a scrypt again: drawn a
 * third as often as the rest.
 */
const weightOf = (op: Operation) => (op.template.startsWith('/v0/auth/basic/user/') || (op.method === 'DELETE' && op.template === '/v0/project/{project}') ? 1 : 3);

/** Every kind of request, weighted toward the documented operations. */
export function fuzzRequest(ops: readonly Operation[]): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(
    { weight: 65, arbitrary: fc.oneof(...ops.map((op) => ({ weight: weightOf(op), arbitrary: operationRequest(op) }))) },
    { weight: 25, arbitrary: scenarioRequest },
    { weight: 4, arbitrary: unlisted },
    { weight: 1, arbitrary: emptyNames },
    { weight: 5, arbitrary: rawHttp },
  );
}

// ---------------------------------------------------------------- printing

/** A string for a person: long runs of one character written as `x×5000`. */
export function abbreviate(s: string, max = 300): string {
  const runs = s.replace(/(.)\1{15,}/gsu, (run, c: string) => `${c}×${[...run].length}`);
  return runs.length > max ? `${runs.slice(0, max)}… (${s.length} chars)` : runs;
}

/** Quoted for a POSIX shell: '…' when printable ASCII, else bash's $'…' with escapes. */
function shellQuote(s: string): string {
  if (/^[\x20-\x7e]*$/.test(s)) return `'${s.replace(/'/g, `'\\''`)}'`;
  const escaped = [...s].map((c) => {
    const code = c.codePointAt(0)!;
    if (c === "'" || c === '\\') return `\\${c}`;
    if (code >= 0x20 && code < 0x7f) return c;
    if (code < 0x80) return `\\x${code.toString(16).padStart(2, '0')}`;
    return code > 0xffff ? `\\U${code.toString(16).padStart(8, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return `$'${escaped.join('')}'`;
}

/** The request as a command line (curl; printf | nc for raw ones), long runs abbreviated (`x×5000`), so not always runnable as is. */
export function toCurl(r: FuzzRequest, base = 'http://127.0.0.1:5000'): string {
  if (r.via === 'socket') return `printf %s ${abbreviate(shellQuote(r.raw!), 400)} | nc 127.0.0.1 5000`;
  const parts = ['curl', '-X', r.method, abbreviate(shellQuote(base + r.url), 400)];
  for (const [k, v] of Object.entries(r.headers)) parts.push('-H', abbreviate(shellQuote(`${k}: ${v}`), 120));
  if (r.body !== undefined) parts.push('--data-binary', Buffer.isBuffer(r.body) ? `@<(head -c ${r.body.length} /dev/zero)` : abbreviate(shellQuote(r.body)));
  return parts.join(' ');
}

