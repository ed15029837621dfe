/** Fast provisioning (not in upstream): deploy an image by kexec, reclaim, and the state of a node. */
import type { FastifyInstance } from 'fastify';
import { route } from '../route.ts';
import { Path } from '../../wire/common.ts';
import { DeployBody, ProvisioningView, ReclaimBody } from '../../wire/provisioning.ts';
import type { Services } from '../services.ts';
import { provisioningDisabled } from '../../provisioning/provisioning.service.ts';

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
      operationId: 'nodeDeploy',
      summary:
        "Boot an image on a ready node of the caller's project by kexec from its FPBL; its NICs move to \"networks\" ({nic: network}) first. With \"disk\", the root filesystem is that disk's, over iSCSI on the project's boot network.",
      tags,
      params: node,
      body: DeployBody,
      response,
    },
    (req) => service().deploy(req.principal, req.params.node, req.body.image, req.body.networks ?? {}, req.body.disk),
  );
  route(
    app,
    {
      method: 'POST',
      url: '/v0/node/:node/reclaim',
      operationId: 'nodeReclaim',
      summary:
        'Take the node back into its FPBL and wipe its disks: by kexec when its OS cooperates (a diskless OS through its boot network), else (or with "power_cycle": true) by power cycle and PXE. A disk a deploy booted from is deleted unless "keep_disk": true. Enrolls a node the service does not hold yet.',
      tags,
      params: node,
      body: ReclaimBody,
      response,
    },
    (req) => service().reclaim(req.principal, req.params.node, { powerCycle: req.body.power_cycle ?? false, keepDisk: req.body.keep_disk ?? false }),
  );
  route(
    app,
    { method: 'GET', url: '/v0/node/:node/provisioning', operationId: 'nodeProvisioning', summary: "The node's provisioning state.", tags, params: node, response },
    (req) => service().status(req.principal, req.params.node),
  );
}
