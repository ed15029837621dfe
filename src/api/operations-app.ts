/**
 * The metrics listener (metrics.listen): /metrics and the probes on a port
 * of their own, e.g. an internal interface the API's clients cannot reach.
 * Everything else there is a 404 in upstream's error shape. A worker-only
 * process (serve-networks) has only this one.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { InstanceMetrics } from '../metrics/instance.ts';
import { installErrorReplies } from './error-replies.ts';
import { probeRoutes, type ProbeOptions } from './probes.ts';
import { installRequestMetrics } from './request-metrics.ts';

export interface OperationsAppOptions extends ProbeOptions {
  log: Logger;
  metrics: NonNullable<ProbeOptions['metrics']> & Pick<InstanceMetrics, 'observeRequest'>;
}

export async function buildOperationsApp(o: OperationsAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // Scrapes are short: a connection still open at the end is idle, or cut once the rest of the process has stopped.
    forceCloseConnections: true,
  });
  installErrorReplies(app);
  installRequestMetrics(app, o.metrics);
  probeRoutes(app, o);
  await app.ready();
  return app;
}
