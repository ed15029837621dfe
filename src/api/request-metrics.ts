/**
 * hil_http_requests_total and hil_http_request_duration_seconds: one
 * observation per answered request, labelled with the route's pattern
 * (/v0/node/:node), never the URL: names in URLs are unbounded, and a
 * series per node (or per random URL a scanner sends) would swamp Prometheus.
 */
import type { FastifyInstance } from 'fastify';
import { UNMATCHED, type InstanceMetrics } from '../metrics/instance.ts';

export function installRequestMetrics(app: FastifyInstance, metrics: Pick<InstanceMetrics, 'observeRequest'>): void {
  app.addHook('onResponse', (req, reply, done) => {
    // The not-found handler answers both 404 and 405: neither matched a route of that method.
    const route = req.is404 ? UNMATCHED : (req.routeOptions.url ?? UNMATCHED);
    metrics.observeRequest(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}
