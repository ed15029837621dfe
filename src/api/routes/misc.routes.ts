import type { FastifyInstance, HTTPMethods } from 'fastify';
import { NotImplementedError } from '../../errors.ts';
import { requireAdmin } from '../../core/principal.ts';
import { route } from '../route.ts';
import { Labels } from '../../wire/common.ts';

/** Upstream's headnode routes: libvirt VMs, not offered here (docs/compat.md). */
const HEADNODE_ROUTES: Array<[HTTPMethods, string]> = [
  ['PUT', '/v0/headnode/:headnode'],
  ['DELETE', '/v0/headnode/:headnode'],
  ['GET', '/v0/headnode/:headnode'],
  ['POST', '/v0/headnode/:headnode/start'],
  ['POST', '/v0/headnode/:headnode/stop'],
  ['PUT', '/v0/headnode/:headnode/hnic/:hnic'],
  ['DELETE', '/v0/headnode/:headnode/hnic/:hnic'],
  ['POST', '/v0/headnode/:headnode/hnic/:hnic/connect_network'],
  ['POST', '/v0/headnode/:headnode/hnic/:hnic/detach_network'],
  ['GET', '/v0/headnode_images/'],
];

export function miscRoutes(app: FastifyInstance, extensions: () => string[]): void {
  route(app, { method: 'GET', url: '/v0/active_extensions', operationId: 'extensionsList', summary: 'The active extensions (sorted). Admin only.', tags: ['misc'], response: { 200: Labels } }, async (req) => {
    requireAdmin(req.principal);
    return extensions();
  });

  for (const [method, url] of HEADNODE_ROUTES) {
    app.route({
      method,
      url,
      schema: { hide: true },
      handler: async () => {
        throw new NotImplementedError('Headnodes are not supported by this server; see docs/compat.md.');
      },
    });
  }
}
