/** Headnodes (spec §5.6, docs/headnodes.md) and VPNs: the routes over src/headnodes/ and src/vpn/. */
import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { Labels, NoArgs, Path } from '../../wire/common.ts';
import { HeadnodeCreateBody, HeadnodeView, HnicConnectBody, HnicCreateBody, VpnCreateBody, VpnCreated, VpnView } from '../../wire/headnodes.ts';
import { PowerStatusView } from '../../wire/obm.ts';
import type { Services } from '../services.ts';
import { headnodeConsoleRoutes } from './headnode-console.routes.ts';

export function headnodeRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['headnodes'];
  const hn = Path('headnode');
  const hnic = Path('headnode', 'hnic');
  const h = s.headnodes;

  route(app, { method: 'GET', url: '/v0/headnode_images/', operationId: 'headnodeImages', summary: 'The base images a headnode may be made from (sorted).', tags, response: { 200: Labels } }, async () => h.images());
  route(app, { method: 'PUT', url: '/v0/headnode/:headnode', operationId: 'headnodeCreate', summary: 'Create a headnode (a VM of the project, stopped). ssh_keys: not in upstream.', tags, params: hn, body: HeadnodeCreateBody }, (req) =>
    h.create(req.principal, req.params.headnode, req.body),
  );
  route(app, { method: 'DELETE', url: '/v0/headnode/:headnode', operationId: 'headnodeDelete', summary: 'Delete a headnode, its hnics and its VM.', tags, params: hn, body: NoArgs }, (req) =>
    h.delete(req.principal, req.params.headnode),
  );
  route(app, { method: 'GET', url: '/v0/headnode/:headnode', operationId: 'headnodeShow', summary: "A headnode: upstream's keys (vncport always null), then power, state, error, nics, ssh_keys.", tags, params: hn, response: { 200: HeadnodeView } }, (req) =>
    h.show(req.principal, req.params.headnode),
  );
  route(app, { method: 'POST', url: '/v0/headnode/:headnode/start', operationId: 'headnodeStart', summary: 'Start the VM (answers at once; state says when it runs).', tags, params: hn, body: NoArgs }, (req) =>
    h.start(req.principal, req.params.headnode),
  );
  route(app, { method: 'POST', url: '/v0/headnode/:headnode/stop', operationId: 'headnodeStop', summary: 'Stop the VM (its disk stays; it may be changed and started again).', tags, params: hn, body: NoArgs }, (req) =>
    h.stop(req.principal, req.params.headnode),
  );
  route(app, { method: 'POST', url: '/v0/headnode/:headnode/power_cycle', operationId: 'headnodePowerCycle', summary: 'Reset the VM, or start it if stopped. Not in upstream.', tags, params: hn, body: NoArgs }, (req) =>
    h.start(req.principal, req.params.headnode, { reset: true }),
  );
  route(app, { method: 'GET', url: '/v0/headnode/:headnode/power_status', operationId: 'headnodePowerStatus', summary: 'On or Off. Not in upstream.', tags, params: hn, response: { 200: PowerStatusView } }, (req) =>
    h.powerStatus(req.principal, req.params.headnode),
  );
  route(app, { method: 'PUT', url: '/v0/headnode/:headnode/hnic/:hnic', operationId: 'headnodeCreateNic', summary: 'Add an hnic (while stopped); address: not in upstream (none: DHCP).', tags, params: hnic, body: HnicCreateBody }, (req) =>
    h.createHnic(req.principal, req.params.headnode, req.params.hnic, req.body ?? {}),
  );
  route(app, { method: 'DELETE', url: '/v0/headnode/:headnode/hnic/:hnic', operationId: 'headnodeDeleteNic', summary: 'Remove an hnic (while stopped).', tags, params: hnic, body: NoArgs }, (req) =>
    h.deleteHnic(req.principal, req.params.headnode, req.params.hnic),
  );
  route(app, { method: 'POST', url: '/v0/headnode/:headnode/hnic/:hnic/connect_network', operationId: 'headnodeConnectNetwork', summary: 'Put an hnic on a network (replaces any; also while running).', tags, params: hnic, body: HnicConnectBody }, (req) =>
    h.connectNetwork(req.principal, req.params.headnode, req.params.hnic, req.body.network),
  );
  route(app, { method: 'POST', url: '/v0/headnode/:headnode/hnic/:hnic/detach_network', operationId: 'headnodeDetachNetwork', summary: 'Take an hnic off its network (nothing attached: nothing to do).', tags, params: hnic, body: NoArgs }, (req) =>
    h.detachNetwork(req.principal, req.params.headnode, req.params.hnic),
  );
  headnodeConsoleRoutes(app, s, tags);
  vpnRoutes(app, s);
}

function vpnRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['vpns'];
  const vpn = Path('vpn');
  route(app, { method: 'PUT', url: '/v0/vpn/:vpn', operationId: 'vpnCreate', summary: 'A WireGuard peer on a project network; the answer holds its wg-quick configuration. Not in upstream.', tags, params: vpn, body: VpnCreateBody, response: { 200: VpnCreated } }, (req) =>
    s.vpns.create(req.principal, req.params.vpn, req.body),
  );
  route(app, { method: 'DELETE', url: '/v0/vpn/:vpn', operationId: 'vpnDelete', summary: 'Revoke a VPN. Not in upstream.', tags, params: vpn, body: NoArgs }, (req) => s.vpns.delete(req.principal, req.params.vpn));
  route(app, { method: 'GET', url: '/v0/vpn/:vpn', operationId: 'vpnShow', summary: 'A VPN (no private key: none is kept). Not in upstream.', tags, params: vpn, response: { 200: VpnView } }, (req) =>
    s.vpns.show(req.principal, req.params.vpn),
  );
  route(app, { method: 'GET', url: '/v0/network/:network/vpns', operationId: 'vpnList', summary: "The network's VPNs the caller may see (sorted). Not in upstream.", tags, params: Path('network'), response: { 200: Labels } }, (req) =>
    s.vpns.list(req.principal, req.params.network),
  );
}
