/**
 * Registers one route: schema in, principal resolved, one call into core,
 * reply out. The route's schemas (src/wire/) type its handler: `req.params`,
 * `req.body` and `req.query` are what they validate, and the handler returns
 * what the response schema serialises. A handler returns the response body;
 * `undefined` means an empty 200, a `Delegated` a 307 to the service that
 * does the work (obmd), a `WithStatus` another status, and the reply itself
 * a response the handler sent.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { Static, TSchema } from 'typebox';
import type { Principal } from '../core/principal.ts';
import { Delegated } from '../core/obm.service.ts';
import { Empty, ERROR_RESPONSES } from '../wire/common.ts';
import { answeredErrorType } from './error-replies.ts';
import { auditedArguments } from './audit-arguments.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** Reachable without credentials (e.g. /openapi.json). */
    public?: boolean;
  }
}

export class WithStatus<S extends number = number, B = unknown> {
  readonly status: S;
  readonly body: B;
  constructor(status: S, body: B) {
    this.status = status;
    this.body = body;
  }
}

/** Success responses: status → schema. */
type Responses = Record<number, TSchema>;

interface RouteSpec<P extends TSchema, B extends TSchema, Q extends TSchema, R extends Responses> {
  method: HTTPMethods;
  url: string;
  /** The name of the hil-client method that calls this route, group and method in camelCase: `nodeShow` is `client.node.show` (test/api/openapi-document.test.ts checks both ways). */
  operationId: string;
  summary: string;
  tags: string[];
  params?: P;
  body?: B;
  query?: Q;
  /** The success responses. Omitted: an empty 200. */
  response?: R;
  /**
   * The body as GET /openapi.json shows it, where it says more than `body`
   * checks: the fields of each driver type, which the driver validates.
   */
  documentedBody?: TSchema;
  public?: boolean;
}

/** The request's arguments as the route's schemas validated them (`unknown` where the route has no schema). */
type Arguments<P extends TSchema, B extends TSchema, Q extends TSchema> = { Params: Static<P>; Body: Static<B>; Querystring: Static<Q> };

/** A 200's body: what its schema describes; nothing (an empty 200) where the route declares no response, or a 200 that may be null. */
type Ok<R extends Responses> = R extends { 200: infer S extends TSchema } ? Static<S> | (null extends Static<S> ? void : never) : keyof R extends never ? void : never;

/** Any status the route declares, with its body. */
type AnyStatus<R extends Responses> = { [K in keyof R & number]: WithStatus<K, Static<R[K]>> }[keyof R & number];

/** What a handler may answer, given the route's success responses. */
type Answer<R extends Responses> = Ok<R> | AnyStatus<R> | Delegated | FastifyReply;

export function route<P extends TSchema = TSchema, B extends TSchema = TSchema, Q extends TSchema = TSchema, R extends Responses = {}>(
  app: FastifyInstance,
  spec: RouteSpec<P, B, Q, R>,
  handler: (req: FastifyRequest<Arguments<P, B, Q>>, reply: FastifyReply) => Promise<NoInfer<Answer<R>>>,
): void {
  const documentedBody = spec.documentedBody;
  app.route<Arguments<P, B, Q>>({
    method: spec.method,
    url: spec.url,
    config: {
      public: spec.public ?? false,
      ...(documentedBody ? { swaggerTransform: ({ schema, url }) => ({ schema: { ...schema, body: documentedBody }, url }) } : {}),
    },
    ...(spec.method === 'GET' ? {} : { onResponse: audit }),
    schema: {
      operationId: spec.operationId,
      summary: spec.summary,
      tags: spec.tags,
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.body ? { body: spec.body } : {}),
      ...(spec.query ? { querystring: spec.query } : {}),
      response: { ...(spec.response ?? { 200: Empty }), ...ERROR_RESPONSES },
    },
    handler: async (req, reply) => {
      const result: unknown = await handler(req, reply);
      if (reply.sent) return reply;
      if (result === undefined) return reply.code(200).send('');
      if (result instanceof WithStatus) return reply.code(result.status).send(result.body);
      if (result instanceof Delegated) return reply.code(307).header('location', result.location).send('');
      return reply.send(result);
    },
  });
}

/**
 * One audit line per mutating call: who, which route with which arguments
 * (path parameters and the JSON body's fields, secrets censored), and the
 * outcome: "ok", or the error type it was refused with.
 */
function audit(req: FastifyRequest, reply: FastifyReply, done: () => void): void {
  req.log.info(
    {
      audit: true,
      user: req.principal?.username ?? null,
      method: req.method,
      route: req.routeOptions.url,
      params: req.params,
      args: auditedArguments(req.body),
      status: reply.statusCode,
      outcome: answeredErrorType(req) ?? (reply.statusCode < 400 ? 'ok' : 'error'),
    },
    'api call',
  );
  done();
}
