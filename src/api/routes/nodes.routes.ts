import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { Labels, NoArgs, Path } from '../../wire/common.ts';
import type { DriverFields } from '../../wire/driver-fields.ts';
import { AddNicBody, documentedRegisterNodeBody, NodeView, RegisterNodeBody, SetMetadataBody } from '../../wire/nodes.ts';
import type { Services } from '../services.ts';
import { OBMD_TYPE } from '../../drivers/bmc/obmd.ts';

const tags = ['nodes'];

/** `bmcTypes`: the BMC types registrations may name, shown with their fields in /openapi.json. */
export function nodeRoutes(app: FastifyInstance, s: Services, bmcTypes: readonly DriverFields[]): void {
  const node = Path('node');

  route(
    app,
    {
      method: 'PUT',
      url: '/v0/node/:node',
      operationId: 'nodeRegister',
      summary: 'Register a node with an external obmd or a built-in OBM driver. Admin only.',
      tags,
      params: node,
      body: RegisterNodeBody,
      documentedBody: documentedRegisterNodeBody(bmcTypes, bmcTypes.find((t) => t.type === OBMD_TYPE)),
    },
    (req) => {
      const b = req.body;
      const spec = 'obmd' in b ? { type: OBMD_TYPE, params: b.obmd } : { type: b.obm.type, params: withoutType(b.obm) };
      return s.nodes.register(req.principal, req.params.node, spec, b.metadata);
    },
  );
  route(app, { method: 'DELETE', url: '/v0/node/:node', operationId: 'nodeDelete', summary: 'Delete a free node with no nics. Admin only.', tags, params: node, body: NoArgs }, (req) =>
    s.nodes.delete(req.principal, req.params.node),
  );
  route(
    app,
    { method: 'GET', url: '/v0/node/:node', operationId: 'nodeShow', summary: 'Show a node. Port and switch of each nic are shown to admins only.', tags, params: node, response: { 200: NodeView } },
    (req) => s.nodes.show(req.principal, req.params.node),
  );
  route(
    app,
    { method: 'GET', url: '/v0/nodes/:is_free', operationId: 'nodeList', summary: '"free": nodes in no project; anything else: all nodes. Sorted.', tags, params: Path('is_free'), response: { 200: Labels } },
    (req) => s.nodes.list(req.principal, req.params.is_free),
  );
  nicRoutes(app, s);
  metadataRoutes(app, s);
}

function nicRoutes(app: FastifyInstance, s: Services): void {
  const nic = Path('node', 'nic');

  route(app, { method: 'PUT', url: '/v0/node/:node/nic/:nic', operationId: 'nodeAddNic', summary: 'Add a nic to a node. Admin only.', tags, params: nic, body: AddNicBody }, (req) =>
    s.nodes.addNic(req.principal, req.params.node, req.params.nic, req.body.macaddr),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/node/:node/nic/:nic', operationId: 'nodeRemoveNic', summary: 'Remove a nic from a free node. Admin only.', tags, params: nic, body: NoArgs },
    (req) => s.nodes.deleteNic(req.principal, req.params.node, req.params.nic),
  );
}

function metadataRoutes(app: FastifyInstance, s: Services): void {
  const label = Path('node', 'label');

  route(
    app,
    { method: 'PUT', url: '/v0/node/:node/metadata/:label', operationId: 'nodeSetMetadata', summary: 'Set a metadata entry (any JSON value). Admin only.', tags, params: label, body: SetMetadataBody },
    (req) => s.nodes.setMetadata(req.principal, req.params.node, req.params.label, req.body.value),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/node/:node/metadata/:label', operationId: 'nodeDeleteMetadata', summary: 'Delete a metadata entry. Admin only.', tags, params: label, body: NoArgs },
    (req) => s.nodes.deleteMetadata(req.principal, req.params.node, req.params.label),
  );
}

function withoutType(obm: Record<string, unknown>): Record<string, unknown> {
  const { type: _type, ...rest } = obm;
  return rest;
}
