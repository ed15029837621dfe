import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import { route, WithStatus } from '../route.ts';
import { Args, Labels, NoArgs, Nullable, Path, StatusId, StringEnum, StringMap } from '../schemas.ts';
import { ACTION_STATUSES, ACTION_TYPES } from '../../store/schema.ts';
import type { Services } from '../services.ts';
import { OBMD_TYPE } from '../../drivers/bmc/obmd.ts';

const Metadata = Type.Optional(StringMap(Type.Unknown()));

const RegisterNode = Type.Union([
  Args({ obmd: Args({ uri: Type.String(), admin_token: Type.String() }), metadata: Metadata }),
  Args({
    obm: Type.Object({ type: Type.String() }, { additionalProperties: true, description: 'A built-in OBM driver ("mock", …) and its fields' }),
    metadata: Metadata,
  }),
]);

const NicView = Type.Object({
  label: Type.String(),
  macaddr: Nullable(Type.String()),
  networks: StringMap(Type.String()),
  port: Type.Optional(Nullable(Type.String())),
  switch: Type.Optional(Nullable(Type.String())),
});

// Keys in sorted order: fields are written in schema order, and upstream sorted them.
export const NodeView = Type.Object({
  metadata: StringMap(Type.String()),
  name: Type.String(),
  nics: Type.Array(NicView),
  project: Nullable(Type.String()),
});

export const ActionView = Type.Object({
  status: StringEnum(ACTION_STATUSES),
  node: Type.String(),
  nic: Type.String(),
  type: StringEnum(ACTION_TYPES),
  channel: Type.String(),
  new_network: Nullable(Type.String()),
  error: Nullable(Type.String()),
});

export function nodeRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['nodes'];
  const node = Path('node');
  const nic = Path('node', 'nic');

  route(
    app,
    { method: 'PUT', url: '/v0/node/:node', summary: 'Register a node with an external obmd or a built-in OBM driver. Admin only.', tags, params: node, body: RegisterNode },
    (req) => {
      const b = req.body as { obmd?: { uri: string; admin_token: string }; obm?: { type: string } & Record<string, unknown>; metadata?: Record<string, unknown> };
      const spec = b.obmd ? { type: OBMD_TYPE, params: b.obmd } : { type: b.obm!.type, params: withoutType(b.obm!) };
      return s.nodes.register(req.principal, req.params.node, spec, b.metadata);
    },
  );
  route(app, { method: 'DELETE', url: '/v0/node/:node', summary: 'Delete a free node with no nics. Admin only.', tags, params: node, body: NoArgs }, (req) =>
    s.nodes.delete(req.principal, req.params.node),
  );
  route(
    app,
    { method: 'GET', url: '/v0/node/:node', summary: 'Show a node. Port and switch of each nic are shown to admins only.', tags, params: node, response: { 200: NodeView } },
    (req) => s.nodes.show(req.principal, req.params.node),
  );
  route(
    app,
    { method: 'GET', url: '/v0/nodes/:is_free', summary: '"free": nodes in no project; anything else: all nodes. Sorted.', tags, params: Path('is_free'), response: { 200: Labels } },
    (req) => s.nodes.list(req.principal, req.params.is_free),
  );
  route(
    app,
    { method: 'PUT', url: '/v0/node/:node/nic/:nic', summary: 'Add a nic to a node. Admin only.', tags, params: nic, body: Args({ macaddr: Type.String() }) },
    (req) => s.nodes.addNic(req.principal, req.params.node, req.params.nic, req.body.macaddr),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/node/:node/nic/:nic', summary: 'Remove a nic from a free node. Admin only.', tags, params: nic, body: NoArgs },
    (req) => s.nodes.deleteNic(req.principal, req.params.node, req.params.nic),
  );
  route(
    app,
    {
      method: 'PUT',
      url: '/v0/node/:node/metadata/:label',
      summary: 'Set a metadata entry (any JSON value). Admin only.',
      tags,
      params: Path('node', 'label'),
      body: Args({ value: Type.Unknown() }),
    },
    (req) => s.nodes.setMetadata(req.principal, req.params.node, req.params.label, req.body.value),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/node/:node/metadata/:label', summary: 'Delete a metadata entry. Admin only.', tags, params: Path('node', 'label'), body: NoArgs },
    (req) => s.nodes.deleteMetadata(req.principal, req.params.node, req.params.label),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/node/:node/nic/:nic/connect_network',
      summary: 'Queue connecting a nic to a network; poll the returned status_id.',
      tags: ['networking'],
      params: nic,
      body: Args({ network: Type.String(), channel: Type.Optional(Nullable(Type.String())) }),
      response: { 202: StatusId },
    },
    async (req) => new WithStatus(202, await s.nodeNetwork.connect(req.principal, req.params.node, req.params.nic, req.body.network, req.body.channel)),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/node/:node/nic/:nic/detach_network',
      summary: 'Queue detaching a nic from a network; poll the returned status_id.',
      tags: ['networking'],
      params: nic,
      body: Args({ network: Type.String() }),
      response: { 202: StatusId },
    },
    async (req) => new WithStatus(202, await s.nodeNetwork.detach(req.principal, req.params.node, req.params.nic, req.body.network)),
  );
  route(
    app,
    {
      method: 'GET',
      url: '/v0/networking_action/:status_id',
      summary: 'The state of a queued networking action.',
      tags: ['networking'],
      params: Path('status_id'),
      response: { 200: ActionView },
    },
    (req) => s.nodeNetwork.showAction(req.principal, req.params.status_id),
  );
}

function withoutType(obm: Record<string, unknown>): Record<string, unknown> {
  const { type: _type, ...rest } = obm;
  return rest;
}
