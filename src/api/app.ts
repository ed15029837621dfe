/**
 * Builds the HTTP application (never listens; see src/assembly/server.ts). Order of
 * processing is upstream's: routing (404/405), schema validation (400),
 * authentication (401), then the handler.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import type { Logger } from 'pino';
import { AuthorizationError, HilError, MethodNotAllowedError, NotFoundError, NotImplementedError, ServerError, TooLargeError, ValidationError } from '../errors.ts';
import { ANONYMOUS } from '../core/principal.ts';
import type { AuthBackend } from '../drivers/auth/interface.ts';
import type { DriverParams } from '../drivers/params.ts';
import type { DriverFields } from '../wire/driver-fields.ts';
import { installBinding, INVALID_ARGS, rewritePortUrl } from './binding.ts';
import { edgeServerOptions, installEdge } from './edge.ts';
import { errorBody, statusOf } from './errors.ts';
import type { Services } from './services.ts';
import { projectRoutes } from './routes/projects.routes.ts';
import { nodeRoutes } from './routes/nodes.routes.ts';
import { networkingRoutes } from './routes/networking.routes.ts';
import { obmRoutes } from './routes/obm.routes.ts';
import { consoleRoutes } from './routes/console.routes.ts';
import { networkRoutes } from './routes/networks.routes.ts';
import { switchRoutes } from './routes/switches.routes.ts';
import { userRoutes } from './routes/users.routes.ts';
import { miscRoutes } from './routes/misc.routes.ts';
import { imageRoutes } from './routes/images.routes.ts';
import { provisioningRoutes } from './routes/provisioning.routes.ts';
import { internalRoutes } from './routes/internal.routes.ts';

/** A switch or BMC type, as far as the API needs it: its name and its registration fields. */
export interface DriverType {
  readonly type: string;
  readonly params: Pick<DriverParams<unknown>, 'schema'>;
}

export interface AppOptions {
  services: Services;
  auth: AuthBackend;
  requireAuthentication: boolean;
  log: Logger;
  /** Names for GET /v0/active_extensions. */
  extensions: () => string[];
  /** The switch and BMC types registrations may name; /openapi.json shows each one's fields. */
  driverTypes: { switches: readonly DriverType[]; bmcs: readonly DriverType[] };
  version: string;
  /** What other HIL processes present on the internal routes (console relay); none: no internal routes. */
  internalToken?: string;
}

const HTTP_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'] as const;
/** How long the rest of a refused request's body is read before its connection is cut. */
const LINGER_MS = 500;

export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    // Our own audit line replaces Fastify's two lines per request.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    rewriteUrl: (req) => rewritePortUrl(req.method ?? 'GET', req.url ?? '/'),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
    return503OnClosing: true,
    forceCloseConnections: true,
    ...edgeServerOptions,
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'hil',
        version: o.version,
        description: 'Hardware Isolation Layer, compatible with the upstream HIL /v0 API. Errors are {"type", "msg"}; authentication is HTTP Basic.',
      },
      components: { securitySchemes: { basic: { type: 'http', scheme: 'basic' } } },
      security: [{ basic: [] }],
    },
  });

  await app.register(websocket);
  installEdge(app);
  installBinding(app);
  installAuthentication(app, o);
  installErrorReplies(app);
  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
  installRoutes(app, o);

  await app.ready();
  return app;
}

function installAuthentication(app: FastifyInstance, o: AppOptions): void {
  // Callback-style hooks: on every request, a promise per hook is measurable.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    done();
  });

  app.addHook('preHandler', async (req) => {
    if (req.routeOptions.config.public) {
      req.principal = ANONYMOUS;
      return;
    }
    const principal = await o.auth.authenticate(req.headers.authorization);
    if (principal) req.principal = principal;
    else if (o.requireAuthentication) throw new AuthorizationError('Authentication failed. Authentication is required to use this service.');
    else req.principal = ANONYMOUS;
  });
}

/** Every failure as upstream's {"type", "msg"}: errors of ours by their type, Fastify's own (validation, 404, 405) mapped. */
function installErrorReplies(app: FastifyInstance): void {
  // An error answered before the request's body has all arrived (a 401 to an
  // upload) ends the connection instead of reading the rest: nobody may make
  // the server read 300 MB it will throw away. The rest is drained for a
  // moment first (a lingering close): closing on unread bytes would reset the
  // connection, and the client could lose the answer.
  app.addHook('onSend', (req, reply, payload, done) => {
    const socket = req.raw.socket;
    if (reply.statusCode >= 400 && !req.raw.complete && socket) {
      reply.header('connection', 'close');
      // Node ends such a connection with destroySoon() once the answer is written: instead,
      // end our side (the answer and a FIN reach the client) and cut it LINGER_MS later.
      socket.destroySoon = () => {
        socket.end();
        setTimeout(() => socket.destroy(), LINGER_MS).unref();
      };
    }
    done(null, payload);
  });
  app.setErrorHandler((err: FastifyError | HilError, req, reply) => {
    if (err instanceof HilError) {
      const status = statusOf(err);
      // Only a failure of ours is an error line (with its stack); what a client asked wrong, or a feature
      // this server does not offer, is not, so no client can flood the log at error level.
      if (status >= 500 && !(err instanceof NotImplementedError)) req.log.error({ err }, 'request failed');
      else req.log.info({ type: err.type, status }, 'request refused');
      return reply.code(status).send(errorBody(err));
    }
    if (err.validation) {
      return reply.code(400).send(errorBody(new ValidationError(`${INVALID_ARGS}: ${err.message}`)));
    }
    const code = err.statusCode;
    if (code && code >= 400 && code < 500) {
      // Fastify's own refusals, in our catalog (one status per type): a body over the limit, or a malformed request.
      const mine = code === 413 ? new TooLargeError(err.message) : new ValidationError(err.message);
      req.log.info({ type: mine.type, status: statusOf(mine) }, 'request refused');
      return reply.code(statusOf(mine)).send(errorBody(mine));
    }
    req.log.error({ err }, 'unexpected error');
    return reply.code(500).send(errorBody(new ServerError(`Internal server error (request ${req.id})`)));
  });

  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0];
    const other = HTTP_METHODS.filter((m) => m !== req.method && app.findRoute({ method: m, url: path }));
    if (other.length) {
      reply.header('allow', other.join(', '));
      return reply.code(405).send(errorBody(new MethodNotAllowedError(`${req.method} is not allowed on ${path}`)));
    }
    return reply.code(404).send(errorBody(new NotFoundError(`No such API route: ${req.method} ${path}`)));
  });
}

function installRoutes(app: FastifyInstance, o: AppOptions): void {
  const fields = (types: readonly DriverType[]): DriverFields[] => types.map((t) => ({ type: t.type, fields: t.params.schema }));
  projectRoutes(app, o.services);
  nodeRoutes(app, o.services, fields(o.driverTypes.bmcs));
  networkingRoutes(app, o.services);
  obmRoutes(app, o.services);
  consoleRoutes(app, o.services);
  provisioningRoutes(app, o.services);
  networkRoutes(app, o.services);
  switchRoutes(app, o.services, fields(o.driverTypes.switches));
  imageRoutes(app, o.services);
  if (o.auth.extensionName === 'hil.ext.auth.database') userRoutes(app, o.services);
  miscRoutes(app, o.extensions);
  internalRoutes(app, o.services, o.internalToken);
}
