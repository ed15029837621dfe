/**
 * Builds the HTTP application (never listens; see src/assembly/server.ts). Order of
 * processing is upstream's: routing (404/405), schema validation (400),
 * authentication (401), then the handler. Beside /v0: the probes and
 * /metrics (./probes.ts), and the shutdown's refusals (./drain.ts).
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import type { Logger } from 'pino';
import type { AuthBackend } from '../drivers/auth/interface.ts';
import type { InstanceMetrics } from '../metrics/instance.ts';
import type { DriverParams } from '../drivers/params.ts';
import type { DriverFields } from '../wire/driver-fields.ts';
import { installAuthentication } from './authentication.ts';
import { installBinding, rewritePortUrl } from './binding.ts';
import type { Drain } from './drain.ts';
import { edgeServerOptions, installEdge } from './edge.ts';
import { installErrorReplies } from './error-replies.ts';
import { probeRoutes, type ProbeOptions } from './probes.ts';
import { installRequestMetrics } from './request-metrics.ts';
import type { Services } from './services.ts';
import { projectRoutes } from './routes/projects.routes.ts';
import { nodeRoutes } from './routes/nodes.routes.ts';
import { networkingRoutes } from './routes/networking.routes.ts';
import { obmRoutes } from './routes/obm.routes.ts';
import { consoleRoutes } from './routes/console.routes.ts';
import { networkRoutes } from './routes/networks.routes.ts';
import { switchRoutes } from './routes/switches.routes.ts';
import { userRoutes } from './routes/users.routes.ts';
import { keystoneRoutes } from './routes/keystone.routes.ts';
import { miscRoutes } from './routes/misc.routes.ts';
import { headnodeRoutes } from './routes/headnode.routes.ts';
import { imageRoutes } from './routes/images.routes.ts';
import { diskRoutes } from './routes/disks.routes.ts';
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
  /** The keystone backend maps projects by its table: its routes are mounted (with another mapping they would change nothing). */
  keystoneProjectTable?: boolean;
  log: Logger;
  /** Names for GET /v0/active_extensions. */
  extensions: () => string[];
  /** The switch and BMC types registrations may name; /openapi.json shows each one's fields. */
  driverTypes: { switches: readonly DriverType[]; bmcs: readonly DriverType[] };
  version: string;
  /** What other HIL processes present on the internal routes (console relay); none: no internal routes. */
  internalToken?: string;
  /** Tracks requests for the graceful close, and refuses new ones once the process stops. */
  drain: Drain;
  /** The probes; `probes.metrics` absent when /metrics has a listener of its own. */
  probes: Omit<ProbeOptions, 'version'>;
  /** Where this app's requests are counted. */
  metrics: Pick<InstanceMetrics, 'observeRequest'>;
}

export async function buildApp(o: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    // Our own audit line replaces Fastify's two lines per request.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    rewriteUrl: (req) => rewritePortUrl(req.method ?? 'GET', req.url ?? '/'),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
    // While closing, ./drain.ts answers new requests in our error shape (Fastify's own 503 is not) and
    // lets those in flight finish; idle keep-alive connections are closed at once.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
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
  o.drain.install(app);
  installRequestMetrics(app, o.metrics);
  installEdge(app);
  installBinding(app);
  installAuthentication(app, o);
  installErrorReplies(app);
  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());
  probeRoutes(app, { ...o.probes, version: o.version });
  installRoutes(app, o);

  await app.ready();
  return app;
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
  diskRoutes(app, o.services);
  headnodeRoutes(app, o.services);
  if (o.auth.extensionName === 'hil.ext.auth.database') userRoutes(app, o.services);
  if (o.keystoneProjectTable) keystoneRoutes(app, o.services);
  miscRoutes(app, o.extensions);
  internalRoutes(app, o.services, o.internalToken);
}
