/**
 * Registers one route: schema in, principal resolved, one call into core,
 * reply out. A handler returns the response body; `undefined` means an
 * empty 200, a `Delegated` a 307 to the service that does the work (obmd),
 * `{status, body}` another status.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { TSchema } from 'typebox';
import type { Principal } from '../core/principal.ts';
import { Delegated } from '../core/obm.service.ts';
import { Empty, ERROR_RESPONSES } from '../wire/common.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** Reachable without credentials (e.g. /openapi.json). */
    public?: boolean;
  }
}

export class WithStatus {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    this.status = status;
    this.body = body;
  }
}

export interface RouteSpec {
  method: HTTPMethods;
  url: string;
  summary: string;
  tags: string[];
  params?: TSchema;
  body?: TSchema;
  query?: TSchema;
  /** The success response: status → schema. Omitted: an empty 200. */
  response?: Record<number, TSchema>;
  public?: boolean;
}

// The typed request is too deep for generic helpers; handlers declare what they read.
export type Req<P = Record<string, string>, B = Record<string, unknown>> = FastifyRequest & { params: P; body: B; query: B };

export function route(app: FastifyInstance, spec: RouteSpec, handler: (req: Req<any, any>, reply: FastifyReply) => Promise<unknown>): void {
  app.route({
    method: spec.method,
    url: spec.url,
    config: { public: spec.public ?? false },
    ...(spec.method === 'GET' ? {} : { onResponse: audit }),
    schema: {
      summary: spec.summary,
      tags: spec.tags,
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.body ? { body: spec.body } : {}),
      ...(spec.query ? { querystring: spec.query } : {}),
      response: { ...(spec.response ?? { 200: Empty }), ...ERROR_RESPONSES },
    },
    handler: async (req, reply) => {
      const result = await handler(req as Req, reply);
      if (reply.sent) return reply;
      if (result === undefined) return reply.code(200).send('');
      if (result instanceof WithStatus) return reply.code(result.status).send(result.body);
      if (result instanceof Delegated) return reply.code(307).header('location', result.location).send('');
      return reply.send(result);
    },
  });
}

/** One audit line per mutating call: who, what, result. Bodies are never logged. */
function audit(req: FastifyRequest, reply: FastifyReply, done: () => void): void {
  req.log.info(
    { audit: true, user: req.principal?.username ?? null, method: req.method, route: req.routeOptions.url, params: req.params, status: reply.statusCode },
    'api call',
  );
  done();
}
