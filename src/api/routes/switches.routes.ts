import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { Labels, NoArgs, Path, StatusId } from '../../wire/common.ts';
import type { DriverFields } from '../../wire/driver-fields.ts';
import { ConnectNicBody, documentedRegisterSwitchBody, PortView, RegisterSwitchBody, SwitchView, VerifyBody, VerifyQuery, VerifyReport } from '../../wire/switches.ts';
import type { Services } from '../services.ts';

const tags = ['switches'];

/** `switchTypes`: the switch models registrations may name, shown with their fields in /openapi.json. */
export function switchRoutes(app: FastifyInstance, s: Services, switchTypes: readonly DriverFields[]): void {
  const sw = Path('switch');

  route(app, { method: 'GET', url: '/v0/switches', operationId: 'switchList', summary: 'List switches (sorted). Admin only.', tags, response: { 200: Labels } }, (req) =>
    s.switches.list(req.principal),
  );
  route(
    app,
    {
      method: 'PUT',
      url: '/v0/switch/:switch',
      operationId: 'switchRegister',
      summary: 'Register a switch: {"type": <driver type URL>, ...driver fields}. Admin only.',
      tags,
      params: sw,
      body: RegisterSwitchBody,
      documentedBody: documentedRegisterSwitchBody(switchTypes),
    },
    (req) => {
      const { type, ...fields } = req.body;
      return s.switches.register(req.principal, req.params.switch, type, fields);
    },
  );
  route(app, { method: 'DELETE', url: '/v0/switch/:switch', operationId: 'switchDelete', summary: 'Delete a switch with no ports. Admin only.', tags, params: sw, body: NoArgs }, (req) =>
    s.switches.delete(req.principal, req.params.switch),
  );
  route(app, { method: 'GET', url: '/v0/switch/:switch', operationId: 'switchShow', summary: 'Show a switch. Admin only.', tags, params: sw, response: { 200: SwitchView } }, (req) =>
    s.switches.show(req.principal, req.params.switch),
  );
  verifyRoutes(app, s);
  portRoutes(app, s);
}

function verifyRoutes(app: FastifyInstance, s: Services): void {
  route(
    app,
    {
      method: 'GET',
      url: '/v0/verify_networks',
      operationId: 'switchVerify',
      summary: "Compare every port's switch configuration with the database (not in upstream). Admin only.",
      tags,
      query: VerifyQuery,
      response: { 200: VerifyReport },
    },
    (req) => s.verify.verify(req.principal, { switch: req.query.switch }),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/verify_networks',
      operationId: 'switchFix',
      summary: 'Compare, and with fix: true repair, switch ports that differ from the database (not in upstream). Admin only.',
      tags,
      body: VerifyBody,
      response: { 200: VerifyReport },
    },
    (req) => s.verify.verify(req.principal, { switch: req.body.switch, fix: req.body.fix ?? false }),
  );
}

function portRoutes(app: FastifyInstance, s: Services): void {
  const port = Path('switch', 'port');
  const portNote = ' The port name may contain "/".';

  route(app, { method: 'PUT', url: '/v0/switch/:switch/port/:port', operationId: 'portRegister', summary: 'Register a port.' + portNote, tags, params: port, body: NoArgs }, (req) =>
    s.switches.registerPort(req.principal, req.params.switch, req.params.port),
  );
  route(
    app,
    { method: 'DELETE', url: '/v0/switch/:switch/port/:port', operationId: 'portDelete', summary: 'Delete a port no nic is cabled to.' + portNote, tags, params: port, body: NoArgs },
    (req) => s.switches.deletePort(req.principal, req.params.switch, req.params.port),
  );
  route(
    app,
    { method: 'GET', url: '/v0/switch/:switch/port/:port', operationId: 'portShow', summary: 'Show what is cabled to a port.' + portNote, tags, params: port, response: { 200: PortView } },
    (req) => s.switches.showPort(req.principal, req.params.switch, req.params.port),
  );
  route(
    app,
    { method: 'POST', url: '/v0/switch/:switch/port/:port/connect_nic', operationId: 'portConnectNic', summary: 'Record that a nic is cabled to the port.' + portNote, tags, params: port, body: ConnectNicBody },
    (req) => s.switches.connectNic(req.principal, req.params.switch, req.params.port, req.body.node, req.body.nic),
  );
  route(
    app,
    { method: 'POST', url: '/v0/switch/:switch/port/:port/detach_nic', operationId: 'portDetachNic', summary: "Forget the cabling of a free node's nic." + portNote, tags, params: port, body: NoArgs },
    (req) => s.switches.detachNic(req.principal, req.params.switch, req.params.port),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/switch/:switch/port/:port/revert',
      operationId: 'portRevert',
      summary: 'Queue removing every network from the port (200, not 202, as upstream).' + portNote,
      tags,
      params: port,
      body: NoArgs,
      response: { 200: StatusId },
    },
    (req) => s.switches.revertPort(req.principal, req.params.switch, req.params.port),
  );
}
