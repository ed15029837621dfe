import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { NoArgs, Path } from '../../wire/common.ts';
import { KeystoneMapBody, KeystoneProjectList } from '../../wire/keystone.ts';
import type { Services } from '../services.ts';

/** Only mounted with the keystone auth backend and project_mapping = "table" (docs/auth.md). All admin only. */
export function keystoneRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['auth'];
  const id = Path('keystone_project');

  route(
    app,
    { method: 'GET', url: '/v0/auth/keystone/projects', operationId: 'keystoneProjectList', summary: 'List Keystone projects mapped to HIL projects (project_mapping = "table").', tags, response: { 200: KeystoneProjectList } },
    (req) => s.keystoneProjects.list(req.principal),
  );
  route(
    app,
    { method: 'PUT', url: '/v0/auth/keystone/project/:keystone_project', operationId: 'keystoneProjectMap', summary: 'Map a Keystone project (by id) to a HIL project.', tags, params: id, body: KeystoneMapBody },
    (req) => s.keystoneProjects.map(req.principal, req.params.keystone_project, req.body.project),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/auth/keystone/project/:keystone_project', operationId: 'keystoneProjectUnmap', summary: 'Remove a Keystone project\'s mapping.', tags, params: id, body: NoArgs },
    (req) => s.keystoneProjects.unmap(req.principal, req.params.keystone_project),
  );
}
