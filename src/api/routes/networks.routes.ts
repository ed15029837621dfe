import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { NoArgs, Path } from '../../wire/common.ts';
import { AttachmentList, AttachmentsQuery, CreateNetworkBody, NetworkList, NetworkView } from '../../wire/networks.ts';
import type { Services } from '../services.ts';

export function networkRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['networks'];
  const network = Path('network');
  const access = Path('network', 'project');

  route(
    app,
    {
      method: 'PUT',
      url: '/v0/network/:network',
      operationId: 'networkCreate',
      summary: 'Create a network. owner: a project or "admin"; access: a project, or "" for public; net_id: "" to allocate.',
      tags,
      params: network,
      body: CreateNetworkBody,
    },
    (req) => s.networks.create(req.principal, req.params.network, req.body.owner, req.body.access, req.body.net_id),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/network/:network', operationId: 'networkDelete', summary: 'Delete a network no nic is on.', tags, params: network, body: NoArgs },
    (req) => s.networks.delete(req.principal, req.params.network),
  );
  route(app, { method: 'GET', url: '/v0/network/:network', operationId: 'networkShow', summary: 'Show a network.', tags, params: network, response: { 200: NetworkView } }, (req) =>
    s.networks.show(req.principal, req.params.network),
  );
  route(
    app,
    { method: 'GET', url: '/v0/networks', operationId: 'networkList', summary: 'All networks for admins; public networks for everyone else.', tags, response: { 200: NetworkList } },
    (req) => s.networks.list(req.principal),
  );
  route(
    app,
    {
      method: 'GET',
      url: '/v0/network/:network/attachments',
      operationId: 'networkAttachments',
      summary: 'Nodes on the network, optionally only those of one project.',
      tags,
      params: network,
      query: AttachmentsQuery,
      response: { 200: AttachmentList },
    },
    (req) => s.networks.attachments(req.principal, req.params.network, req.query.project),
  );
  route(app, { method: 'PUT', url: '/v0/network/:network/access/:project', operationId: 'networkGrantAccess', summary: 'Let a project use the network.', tags, params: access, body: NoArgs }, (req) =>
    s.networks.grantAccess(req.principal, req.params.network, req.params.project),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/network/:network/access/:project', operationId: 'networkRevokeAccess', summary: "Revoke a project's access (never the owner's).", tags, params: access, body: NoArgs },
    (req) => s.networks.revokeAccess(req.principal, req.params.network, req.params.project),
  );
}
