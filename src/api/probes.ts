/**
 * The routes an orchestrator and a monitoring system call (docs/operations.md):
 * GET /healthz (the process is alive), GET /readyz (it can serve: database,
 * schema, worker), GET /version, and GET /metrics (Prometheus text). None
 * needs credentials, except /metrics with metrics.require_auth; none says
 * anything secret (no connection string, no database host). They are not in
 * /openapi.json, which documents the /v0 API, and they answer while the
 * process stops: that is when an orchestrator most needs to hear from it.
 */
import type { FastifyInstance } from 'fastify';
import type { AuthBackend } from '../drivers/auth/interface.ts';
import { requireAdminCredentials } from './authentication.ts';

/** Each check's verdict: "ok", or what failed in words fit for anyone to read. */
export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, string>;
}

export interface ProbeOptions {
  version: string;
  stopping: () => boolean;
  readiness: () => Promise<ReadinessReport>;
  /** Absent: GET /metrics is served elsewhere (metrics.listen), not here. */
  metrics?: {
    render(): Promise<string>;
    contentType: string;
    requireAuth: boolean;
    auth: AuthBackend;
  };
}

const PROBE = { public: true, duringShutdown: true } as const;
const HIDDEN = { hide: true } as const;

export function probeRoutes(app: FastifyInstance, o: ProbeOptions): void {
  app.get('/healthz', { schema: HIDDEN, config: PROBE }, async (_req, reply) => {
    if (o.stopping()) return reply.code(503).send({ status: 'stopping' });
    return { status: 'ok' };
  });

  app.get('/readyz', { schema: HIDDEN, config: PROBE }, async (_req, reply) => {
    const report = await o.readiness();
    return reply.code(report.ready ? 200 : 503).send({ status: report.ready ? 'ready' : 'unavailable', checks: report.checks });
  });

  app.get('/version', { schema: HIDDEN, config: PROBE }, async () => ({ version: o.version, node: process.version }));

  const metrics = o.metrics;
  if (!metrics) return;
  // Public to the API's authentication hook either way: the check is here, so that the metrics listener makes it too.
  app.get('/metrics', { schema: HIDDEN, config: PROBE }, async (req, reply) => {
    if (metrics.requireAuth) await requireAdminCredentials(metrics.auth, req.headers);
    return reply.type(metrics.contentType).send(await metrics.render());
  });
}
