/**
 * route(): what a handler answers becomes the response, and the route's
 * schemas type the handler. The `@ts-expect-error` lines are the type test:
 * `npm run typecheck` fails if a schema stops typing what it validates.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { route, WithStatus } from '../../src/api/route.ts';
import { Delegated } from '../../src/core/obm.service.ts';
import { Args, Path, StatusId } from '../../src/wire/common.ts';
import { NodeView } from '../../src/wire/nodes.ts';

const base = { summary: 'a test route', tags: ['test'] };

function routes(app: FastifyInstance): void {
  route(app, { ...base, operationId: 'test1', method: 'PUT', url: '/empty/:name', params: Path('name'), body: Args({ n: Type.Integer() }) }, async (req) => {
    const n: number = req.body.n;
    const name: string = req.params.name;
    // @ts-expect-error: the body schema has no `m`
    void req.body.m;
    // @ts-expect-error: the route declares no query
    void req.query.q;
    void [n, name];
  });
  route(app, { ...base, operationId: 'test2', method: 'POST', url: '/queued', response: { 202: StatusId } }, async () => new WithStatus(202, { status_id: '1c1b2a6e-96c6-4b5f-9d0c-3f1a8d2c9e10' }));
  route(app, { ...base, operationId: 'test3', method: 'GET', url: '/elsewhere' }, async () => new Delegated('http://obmd.example/node/n1/power_off'));
  route(app, { ...base, operationId: 'test4', method: 'GET', url: '/node', response: { 200: NodeView } }, async () => ({ metadata: {}, name: 'n1', nics: [], project: null, secret: 'not in the schema' }));
}

// Never called: handlers whose answers do not match their route's responses.
export function mistypedRoutes(app: FastifyInstance): void {
  // @ts-expect-error: a NodeView needs its nics, metadata and project
  route(app, { ...base, operationId: 'test5', method: 'GET', url: '/x', response: { 200: NodeView } }, async () => ({ name: 'n1' }));
  // @ts-expect-error: a route with a 200 body may not answer nothing
  route(app, { ...base, operationId: 'test6', method: 'GET', url: '/x', response: { 200: NodeView } }, async () => {});
  // @ts-expect-error: the route declares 202, not 200
  route(app, { ...base, operationId: 'test7', method: 'POST', url: '/x', response: { 202: StatusId } }, async () => new WithStatus(200, { status_id: 'x' }));
  // @ts-expect-error: a route without a response answers an empty 200
  route(app, { ...base, operationId: 'test8', method: 'PUT', url: '/x' }, async () => ({ a: 1 }));
}

describe('route()', () => {
  it('answers nothing as an empty 200, WithStatus with its status, Delegated as a 307, a body through its schema', async () => {
    const app = Fastify();
    // Errors answer in the shape route() documents for them (src/api/app.ts maps each to its status).
    app.setErrorHandler((err: Error, _req, reply) => reply.code(400).send({ type: 'ValidationError', msg: err.message }));
    routes(app);
    await app.ready();
    try {
      const empty = await app.inject({ method: 'PUT', url: '/empty/x', payload: { n: 1 } });
      assert.equal(empty.statusCode, 200);
      assert.equal(empty.body, '');
      const refused = await app.inject({ method: 'PUT', url: '/empty/x', payload: { n: 'one' } });
      assert.equal(refused.statusCode, 400, 'the body schema validates');
      const queued = await app.inject({ method: 'POST', url: '/queued' });
      assert.equal(queued.statusCode, 202);
      assert.deepEqual(queued.json(), { status_id: '1c1b2a6e-96c6-4b5f-9d0c-3f1a8d2c9e10' });
      const elsewhere = await app.inject({ method: 'GET', url: '/elsewhere' });
      assert.equal(elsewhere.statusCode, 307);
      assert.equal(elsewhere.headers.location, 'http://obmd.example/node/n1/power_off');
      const node = await app.inject({ method: 'GET', url: '/node' });
      assert.deepEqual(node.json(), { metadata: {}, name: 'n1', nics: [], project: null }, 'a field not in the schema is not sent');
    } finally {
      await app.close();
    }
  });
});
