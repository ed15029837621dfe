/**
 * Routes other HIL processes call, not clients: the console a process holds,
 * relayed to readers connected elsewhere (src/core/console-owner.ts). They
 * are not in the OpenAPI document and take no user credentials: the caller
 * presents the token this process put in its process row, which only
 * something that can read the database knows.
 */
import { timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuthorizationError, ValidationError } from '../../errors.ts';
import type { Services } from '../services.ts';

export const INTERNAL_PREFIX = '/_hil/internal';
export const INTERNAL_TOKEN_HEADER = 'x-hil-internal-token';

interface NodeParams {
  Params: { node: string };
  Querystring: { project?: string };
}

export function internalRoutes(app: FastifyInstance, s: Services, token: string | undefined): void {
  if (!token) return; // a process no other relays to
  void app.register(async (scope) => internalScope(scope, s, token));
}

function internalScope(app: FastifyInstance, s: Services, token: string): void {
  // Typed bytes are bytes, not text.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, body, done) => done(null, body));
  const expected = Buffer.from(token);
  const authorize = async (req: FastifyRequest) => {
    const given = Buffer.from(String(req.headers[INTERNAL_TOKEN_HEADER] ?? ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new AuthorizationError('Authentication failed.');
  };
  const nodeId = (req: FastifyRequest<NodeParams>) => {
    const id = Number(req.params.node);
    if (!Number.isSafeInteger(id)) throw new ValidationError('Request arguments are not valid for this request: a node id');
    return id;
  };
  const config = { public: true };
  const schema = { hide: true };

  app.get<NodeParams>(`${INTERNAL_PREFIX}/console/:node`, { config, schema, preHandler: authorize }, async (req, reply) => {
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    const output = s.obm.servedConsole(nodeId(req), gone.signal);
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'application/octet-stream' });
    reply.raw.flushHeaders();
    // A stream that fails here (the console moved) is cut, not ended: the relaying process then looks for the next holder.
    await pipeline(Readable.from(output), reply.raw).catch(() => reply.raw.destroy());
    return reply;
  });

  app.get<NodeParams>(`${INTERNAL_PREFIX}/console/:node/log`, { config, schema, preHandler: authorize }, async (req, reply) => {
    const project = req.query.project === undefined || req.query.project === '' ? null : Number(req.query.project);
    return reply.type('application/octet-stream').send(s.obm.servedLog(nodeId(req), project));
  });

  app.post<NodeParams>(`${INTERNAL_PREFIX}/console/:node/input`, { config, schema, preHandler: authorize }, async (req, reply) => {
    const typed = s.obm.servedWrite(nodeId(req), req.body as Buffer);
    return reply.code(typed ? 204 : 409).send();
  });
}
