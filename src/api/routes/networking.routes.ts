/** Connecting nics to networks: queued networking actions, and their state. */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { route, WithStatus } from '../route.ts';
import { Path, StatusId } from '../../wire/common.ts';
import { ActionView, ConnectNetworkBody, DetachNetworkBody } from '../../wire/networking.ts';
import type { Services } from '../services.ts';

export function networkingRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['networking'];
  const nic = Path('node', 'nic');

  route(
    app,
    {
      method: 'POST',
      url: '/v0/node/:node/nic/:nic/connect_network',
      operationId: 'nodeConnectNetwork',
      summary: 'Queue connecting a nic to a network; poll the returned status_id.',
      tags,
      params: nic,
      body: ConnectNetworkBody,
      response: { 202: StatusId },
    },
    async (req) => new WithStatus(202, await s.nodeNetwork.connect(req.principal, req.params.node, req.params.nic, req.body.network, req.body.channel)),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/node/:node/nic/:nic/detach_network',
      operationId: 'nodeDetachNetwork',
      summary: 'Queue detaching a nic from a network; poll the returned status_id.',
      tags,
      params: nic,
      body: DetachNetworkBody,
      response: { 202: StatusId },
    },
    async (req) => new WithStatus(202, await s.nodeNetwork.detach(req.principal, req.params.node, req.params.nic, req.body.network)),
  );
  route(
    app,
    {
      method: 'GET',
      url: '/v0/networking_action/:status_id',
      operationId: 'networkingActionShow',
      summary: 'The state of a queued networking action.',
      tags,
      params: Path('status_id'),
      response: { 200: ActionView },
    },
    // Narrowed here while core's ActionView types status and type as strings (they are the store's ActionStatus and ActionType).
    (req) => s.nodeNetwork.showAction(req.principal, req.params.status_id) as Promise<Static<typeof ActionView>>,
  );
}
