import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { Labels, NoArgs, Path } from '../../wire/common.ts';
import { ConnectNodeAnswer, ConnectNodeBody, DetachNodeBody } from '../../wire/projects.ts';
import type { Services } from '../services.ts';

export function projectRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['projects'];
  const project = Path('project');

  route(app, { method: 'GET', url: '/v0/projects', operationId: 'projectList', summary: 'List projects (sorted). Admin only.', tags, response: { 200: Labels } }, (req) =>
    s.projects.list(req.principal),
  );
  route(app, { method: 'PUT', url: '/v0/project/:project', operationId: 'projectCreate', summary: 'Create a project. Admin only.', tags, params: project, body: NoArgs }, (req) =>
    s.projects.create(req.principal, req.params.project),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/project/:project', operationId: 'projectDelete', summary: 'Delete a project with no nodes, networks or network access. Admin only.', tags, params: project, body: NoArgs },
    (req) => s.projects.delete(req.principal, req.params.project),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/project/:project/connect_node',
      operationId: 'projectConnectNode',
      summary: 'Take a free node into the project; with "ready": true and no "node" (not in upstream), any free node that waits in its FPBL, answered as {"node"}.',
      tags,
      params: project,
      // Either upstream's {"node"} or {"ready": true}: anything else fails the schema, before authentication, as upstream.
      body: ConnectNodeBody,
      response: { 200: ConnectNodeAnswer },
    },
    (req) => ('node' in req.body ? s.projects.connectNode(req.principal, req.params.project, req.body.node) : s.projects.connectReadyNode(req.principal, req.params.project)),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/project/:project/detach_node',
      operationId: 'projectDetachNode',
      summary: 'Return a node to the free pool (or the maintenance project). Its OBM must be disabled and its nics off every network.',
      tags,
      params: project,
      body: DetachNodeBody,
    },
    (req) => s.projects.detachNode(req.principal, req.params.project, req.body.node),
  );
  route(app, { method: 'GET', url: '/v0/project/:project/nodes', operationId: 'projectNodes', summary: "The project's nodes.", tags, params: project, response: { 200: Labels } }, (req) =>
    s.projects.nodes(req.principal, req.params.project),
  );
  route(
    app,
    { method: 'GET', url: '/v0/project/:project/networks', operationId: 'projectNetworks', summary: 'Networks the project can access (sorted).', tags, params: project, response: { 200: Labels } },
    (req) => s.projects.networks(req.principal, req.params.project),
  );
  route(
    app,
    { method: 'GET', url: '/v0/project/:project/headnodes', operationId: 'projectHeadnodes', summary: "The project's headnodes, sorted.", tags, params: project, response: { 200: Labels } },
    (req) => s.projects.headnodes(req.principal, req.params.project),
  );
}
