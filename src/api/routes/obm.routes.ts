/** A node's BMC: enabling it, power and boot device. The consoles: ./console.routes.ts. */
import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { NoArgs, Path } from '../../wire/common.ts';
import { PowerCycleBody, PowerStatusView, SetBootDeviceBody, SetObmBody } from '../../wire/obm.ts';
import type { Services } from '../services.ts';

/** Said of every call an obmd-managed node delegates. */
export const REDIRECT_NOTE = ' For obmd-managed nodes the answer is a 307 to obmd.';

export function obmRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['obm'];
  const node = Path('node');

  route(
    app,
    { method: 'PUT', url: '/v0/node/:node/obm', operationId: 'nodeSetObm', summary: "Enable or disable the node's OBM (disabling cuts the console).", tags, params: node, body: SetObmBody },
    (req) => s.obm.setEnabled(req.principal, req.params.node, req.body.enabled),
  );
  route(
    app,
    { method: 'POST', url: '/v0/node/:node/power_cycle', operationId: 'nodePowerCycle', summary: 'Power-cycle the node (force: hard reset).' + REDIRECT_NOTE, tags, params: node, body: PowerCycleBody },
    (req) => s.obm.power(req.principal, req.params.node, 'power_cycle', req.body.force ?? false),
  );
  route(app, { method: 'POST', url: '/v0/node/:node/power_on', operationId: 'nodePowerOn', summary: 'Power the node on.' + REDIRECT_NOTE, tags, params: node, body: NoArgs }, (req) =>
    s.obm.power(req.principal, req.params.node, 'power_on'),
  );
  route(app, { method: 'POST', url: '/v0/node/:node/power_off', operationId: 'nodePowerOff', summary: 'Power the node off.' + REDIRECT_NOTE, tags, params: node, body: NoArgs }, (req) =>
    s.obm.power(req.principal, req.params.node, 'power_off'),
  );
  route(
    app,
    {
      method: 'PUT',
      url: '/v0/node/:node/boot_device',
      operationId: 'nodeSetBootdev',
      summary: 'Set the boot device: pxe, disk or none; for every boot (default) or, with "persistent": false (not in upstream), the next one only.' + REDIRECT_NOTE,
      tags,
      params: node,
      body: SetBootDeviceBody,
    },
    (req) => s.obm.setBootDevice(req.principal, req.params.node, req.body.bootdev, req.body.persistent ?? true),
  );
  route(
    app,
    { method: 'GET', url: '/v0/node/:node/power_status', operationId: 'nodePowerStatus', summary: 'The power state: on, off or unknown.' + REDIRECT_NOTE, tags, params: node, response: { 200: PowerStatusView } },
    (req) => s.obm.powerStatus(req.principal, req.params.node),
  );
}
