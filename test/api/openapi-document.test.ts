/**
 * GET /openapi.json as a whole: a valid OpenAPI 3.1 document (checked
 * against the specification's own JSON Schema), with an operationId and a
 * resource tag on every operation, the WebSocket console documented, and
 * operationIds that are the client's method names: every route's is the
 * name of a hil-client method that calls it, and every client method calls
 * a documented route.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Validator } from '@seriousme/openapi-schema-validator';
import { HilClient } from '../../src/client/index.ts';
import { testDatabases, type FreshDb } from '../support/databases.ts';
import { startTestHil, type TestHil } from '../support/hil.ts';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

interface Operation {
  method: string;
  path: string;
  operationId?: string;
  tags?: string[];
  description?: string;
  responses: Record<string, unknown>;
}

/** Client methods that only combine others (polling) or open a WebSocket, which a fetch cannot record. */
const NOT_A_REQUEST = new Set(['node.waitProvisioning', 'node.openConsole', 'headnode.openConsole', 'waitForAction']);

/**
 * The requests each client method sends, found by calling it against a
 * recording fetch with placeholder arguments, and with none (optional
 * arguments choose the route: disk.list() and disk.list(project)).
 */
async function clientRequests(): Promise<Array<[string, string]>> {
  const sent: Array<[string, string]> = [];
  const realFetch = globalThis.fetch;
  let current = '';
  globalThis.fetch = (async (url: string | URL, init?: RequestInit) => {
    sent.push([current, `${init?.method ?? 'GET'} ${new URL(url).pathname}`]);
    return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  try {
    const client = new HilClient({ endpoint: 'http://hil.invalid' }) as unknown as Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>>;
    for (const [group, methods] of Object.entries(client)) {
      if (group === 'http' || typeof methods !== 'object') continue;
      for (const [name, method] of Object.entries(methods)) {
        current = `${group}.${name}`;
        if (NOT_A_REQUEST.has(current)) continue;
        await method('a1', 'b2', 'c3', 'd4');
        await method().catch(() => undefined); // some need their arguments; those are covered above
      }
    }
  } finally {
    globalThis.fetch = realFetch;
  }
  return sent;
}

const camel = (qualified: string) => qualified.replace(/\.(\w)/, (_, c: string) => c.toUpperCase());

function pathPattern(path: string): RegExp {
  return new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/]+')}$`);
}

const sqlite = testDatabases().find((d) => d.name === 'sqlite')!;

describe('the OpenAPI document', () => {
  let db: FreshDb;
  let t: TestHil;
  let doc: { openapi: string; paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>> };
  let operations: Operation[];

  before(async () => {
    db = await sqlite.create();
    // Database auth: its /auth/basic routes are part of the API only then.
    t = await startTestHil(db, { auth: 'database' });
    doc = (await t.as()('GET', '/openapi.json')).body;
    // And the keystone backend's own routes, as a server with that backend documents them (Keystone itself is not asked).
    const kdb = await sqlite.create();
    const k = await startTestHil(kdb, {
      auth: 'keystone',
      config: (c) => Object.assign(c.keystone, { url: 'http://127.0.0.1:9/v3', username: 'hil', password: 'unused', project_mapping: 'table' }),
    });
    try {
      const kdoc: typeof doc = (await k.as()('GET', '/openapi.json')).body;
      const keystoneOnly = Object.keys(kdoc.paths).filter((p) => p.startsWith('/v0/auth/keystone/'));
      assert.ok(keystoneOnly.length >= 2 && !keystoneOnly.some((p) => p in doc.paths), keystoneOnly.join(', '));
      for (const p of keystoneOnly) doc.paths[p] = kdoc.paths[p]!;
    } finally {
      await k.close();
      await kdb.drop();
    }
    operations = Object.entries(doc.paths).flatMap(([path, ops]) => METHODS.filter((m) => ops[m]).map((m) => ({ method: m.toUpperCase(), path, ...ops[m]! })));
  });

  after(async () => {
    await t?.close();
    await db?.drop();
  });

  it('is valid OpenAPI 3.1', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 3000));
    // And the validator is not a yes-man: a document with an operation that lacks its responses is refused.
    const broken = structuredClone(doc) as { paths: Record<string, Record<string, { responses?: unknown; operationId?: unknown }>> };
    broken.paths['/v0/projects']!.get!.responses = 'none';
    assert.equal((await new Validator().validate(broken as unknown as Record<string, unknown>)).valid, false);
  });

  it('gives every operation a unique operationId and a resource tag', () => {
    assert.ok(operations.length > 60, `${operations.length} operations`);
    const ids = operations.map((o) => o.operationId);
    for (const o of operations) {
      assert.match(o.operationId ?? '', /^[a-z][A-Za-z]+$/, `${o.method} ${o.path}`);
      assert.equal(o.tags?.length, 1, `${o.method} ${o.path}: ${o.tags}`);
    }
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
    assert.ok(operations.some((o) => o.path.startsWith('/v0/auth/basic/')), 'the database auth routes are documented');
  });

  it('documents the WebSocket console: the upgrade, 101, and what flows each way', () => {
    const ws = operations.find((o) => o.path === '/v0/node/{node}/console/ws' && o.method === 'GET');
    assert.ok(ws, 'the WebSocket route is in the document');
    assert.equal(ws.operationId, 'nodeOpenConsole');
    assert.ok('101' in ws.responses, Object.keys(ws.responses).join(','));
    assert.match(ws.description ?? '', /Upgrade: websocket/);
    assert.equal(typeof new HilClient({ endpoint: 'http://hil.invalid' }).node.openConsole, 'function', 'the client method the operationId names');
    const hn = operations.find((o) => o.path === '/v0/headnode/{headnode}/console/ws' && o.method === 'GET');
    assert.equal(hn?.operationId, 'headnodeOpenConsole');
    assert.ok(hn && '101' in hn.responses);
    assert.equal(typeof new HilClient({ endpoint: 'http://hil.invalid' }).headnode.openConsole, 'function');
  });

  it("names each operation after the client method that calls it, and every client method's route is documented", async () => {
    const requests = await clientRequests();
    const byRoute = new Map<Operation, string[]>();
    for (const [method, request] of requests) {
      const [verb, path] = request.split(' ') as [string, string];
      if (path === '/version') continue; // the server's version: a probe, outside the /v0 API
      const matches = operations.filter((o) => o.method === verb && pathPattern(o.path).test(path));
      // The most literal template wins: /v0/image/{image}/disk/import over /v0/image/{image}/{part}/….
      const op = matches.sort((a, b) => (a.path.match(/\{/g)?.length ?? 0) - (b.path.match(/\{/g)?.length ?? 0))[0];
      assert.ok(op, `client ${method} sends ${request}, which no documented route serves`);
      byRoute.set(op, [...(byRoute.get(op) ?? []), method]);
    }
    for (const o of operations) {
      if (o.operationId === 'nodeOpenConsole' || o.operationId === 'headnodeOpenConsole') continue; // WebSockets: checked above
      const callers = byRoute.get(o) ?? [];
      assert.ok(callers.length, `no client method calls ${o.method} ${o.path} (${o.operationId})`);
      assert.ok(callers.map(camel).includes(o.operationId!), `${o.method} ${o.path} is ${o.operationId}, but the client calls it ${callers.join(', ')}`);
    }
  });
});
