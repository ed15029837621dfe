/** Fast provisioning (not in upstream): deploy an image by kexec, reclaim, and the state of a node. */
import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { Args, Path } from '../schemas.ts';
import type { Services } from '../services.ts';
import { provisioningDisabled } from '../../provisioning/provisioning.service.ts';

export const ProvisioningView = Type.Object({
  node: Type.String(),
  state: Type.String({ description: 'booting-fpbl, ready, deploying, deployed, reclaiming or error' }),
  phase: Type.String(),
  path: Type.Union([Type.String(), Type.Null()], { description: 'How the node last went back to the FPBL: kexec or power-cycle' }),
  image: Type.Union([Type.String(), Type.Null()]),
  networks: Type.Record(Type.String(), Type.String()),
  error: Type.Union([Type.String(), Type.Null()]),
  since: Type.String(),
  deadline: Type.Union([Type.String(), Type.Null()]),
  last_seen: Type.Union([Type.String(), Type.Null()]),
});

export function provisioningRoutes(app: FastifyInstance, s: Services): void {
  const tags = ['provisioning'];
  const node = Path('node');
  const response = { 200: ProvisioningView };
  const service = () => s.provisioning ?? provisioningDisabled();

  route(
    app,
    {
      method: 'POST',
      url: '/v0/node/:node/deploy',
      summary: "Boot an image on a ready node of the caller's project by kexec from its FPBL; its NICs move to \"networks\" ({nic: network}) first.",
      tags,
      params: node,
      body: Args({ image: Type.String(), networks: Type.Optional(Type.Record(Type.String(), Type.String())) }),
      response,
    },
    (req) => service().deploy(req.principal, req.params.node, req.body.image, req.body.networks ?? {}),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/node/:node/reclaim',
      summary:
        'Take the node back into its FPBL and wipe its disks: by kexec when its OS cooperates, else (or with "power_cycle": true) by power cycle and PXE. Enrolls a node the service does not hold yet.',
      tags,
      params: node,
      body: Args({ power_cycle: Type.Optional(Type.Boolean()) }),
      response,
    },
    (req) => service().reclaim(req.principal, req.params.node, { powerCycle: req.body?.power_cycle ?? false }),
  );
  route(
    app,
    { method: 'GET', url: '/v0/node/:node/provisioning', summary: "The node's provisioning state.", tags, params: node, response },
    (req) => service().status(req.principal, req.params.node),
  );
}
