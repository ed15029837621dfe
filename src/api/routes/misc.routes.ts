import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../../core/principal.ts';
import { route } from '../route.ts';
import { Labels } from '../../wire/common.ts';

export function miscRoutes(app: FastifyInstance, extensions: () => string[]): void {
  route(app, { method: 'GET', url: '/v0/active_extensions', operationId: 'extensionsList', summary: 'The active extensions (sorted). Admin only.', tags: ['misc'], response: { 200: Labels } }, async (req) => {
    requireAdmin(req.principal);
    return extensions();
  });
}
