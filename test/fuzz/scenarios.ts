/**
 * Requests that fit the seeded world (world.ts) together: a project's own
 * node, nic and networks, its member or the admin as the caller. Drawn
 * independently, the schema-driven requests rarely line up like this, and
 * the networking journal, the VLAN pool and node moves would stay quiet;
 * these keep them busy (connect and detach, create networks until the pool
 * runs out, move nodes between projects, recable and revert ports, change
 * users).
 */
import fc from 'fast-check';
import type { FuzzRequest } from './requests.ts';
import { basicAuth } from '../support/hil.ts';
import { ACTORS, type ActorName } from './world.ts';

interface Tenant {
  project: string;
  member: ActorName;
  /** The network it owns in the seed. */
  own: string;
  /** Its nodes' nics, as [node, nic]. */
  nics: Array<[string, string]>;
  /** Networks it may use. */
  networks: string[];
}

const TENANTS: Tenant[] = [
  { project: 'p1', member: 'member', own: 'net1', nics: [['n1', 'eth0'], ['n1', 'eth1'], ['n2', 'eth0']], networks: ['net1', 'net2', 'pub', 'v100'] },
  { project: 'p2', member: 'other', own: 'net2', nics: [['n3', 'eth0']], networks: ['net2', 'pub'] },
];

/** Networks requests may create: more than the VLAN pool has left. */
const NEW_NETWORKS = ['net3', 'net4', 'net5', 'net6', 'net7', 'net8', 'net9'];

function call(method: string, template: string, path: string, body: unknown, as: ActorName): FuzzRequest {
  const a = ACTORS[as];
  return {
    via: 'inject',
    method,
    url: path,
    headers: { authorization: basicAuth(a.username, a.password), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    route: `${method} ${template}`,
    as,
  };
}

const tenant = fc.constantFrom(...TENANTS);
/** The tenant's member, or the admin. */
const callerOf = (t: Tenant) => fc.constantFrom<ActorName>(t.member, 'admin');

const networking = tenant.chain((t) =>
  fc
    .record({
      nic: fc.constantFrom(...t.nics),
      network: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...t.networks) }, { weight: 1, arbitrary: fc.constantFrom(...NEW_NETWORKS) }),
      channel: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.constant('vlan/native') }),
      detach: fc.boolean(),
      as: callerOf(t),
      // Now and then the next request comes while the action is PENDING.
      settle: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    })
    .map(({ nic: [node, nic], network, channel, detach, as, settle }) => ({
      ...(detach
        ? call('POST', '/v0/node/{node}/nic/{nic}/detach_network', `/v0/node/${node}/nic/${nic}/detach_network`, { network }, as)
        : call('POST', '/v0/node/{node}/nic/{nic}/connect_network', `/v0/node/${node}/nic/${nic}/connect_network`, channel ? { network, channel } : { network }, as)),
      settle,
    })),
);

/** New networks, or seeded ones again (after a generic request deleted them). */
const createNetwork = fc.oneof(
  tenant.chain((t) =>
    fc.tuple(fc.constantFrom(...NEW_NETWORKS, t.own), callerOf(t)).map(([name, as]) => call('PUT', '/v0/network/{network}', `/v0/network/${name}`, { owner: t.project, access: t.project, net_id: '' }, as)),
  ),
  fc
    .tuple(fc.constantFrom(...NEW_NETWORKS, 'pub', 'adm'), fc.constantFrom('', 'p3'), fc.constantFrom('', '', '44', '200', '4095'))
    .map(([name, access, netId]) => call('PUT', '/v0/network/{network}', `/v0/network/${name}`, { owner: 'admin', access, net_id: netId }, 'admin')),
);

const deleteNetwork = fc
  .tuple(fc.constantFrom(...NEW_NETWORKS), fc.constantFrom<ActorName>('admin', 'member'))
  .map(([name, as]) => call('DELETE', '/v0/network/{network}', `/v0/network/${name}`, undefined, as));

const access = fc
  .tuple(fc.constantFrom(...NEW_NETWORKS, 'net1', 'net2', 'pub', 'adm'), fc.constantFrom('p1', 'p2', 'p3'), fc.boolean())
  .map(([net, project, revoke]) => call(revoke ? 'DELETE' : 'PUT', '/v0/network/{network}/access/{project}', `/v0/network/${net}/access/${project}`, undefined, 'admin'));

/** n1 and n3 stay with their tenants (so that the networking above keeps working); the others move. */
const moveNode = fc
  .record({ node: fc.constantFrom('n2', 'n4', 'n5'), project: fc.constantFrom('p1', 'p2'), detach: fc.boolean(), as: fc.constantFrom<ActorName>('admin', 'member') })
  .map(({ node, project, detach, as }) => call('POST', `/v0/project/{project}/${detach ? 'detach_node' : 'connect_node'}`, `/v0/project/${project}/${detach ? 'detach_node' : 'connect_node'}`, { node }, as));

const PORTS = ['gi1/0/1', 'gi1/0/2', 'gi1/0/3', 'gi1/0/4', 'gi1/0/5', 'gi1/0/6'];

const cabling = fc.oneof(
  fc.constantFrom(...PORTS).map((port) => call('POST', '/v0/switch/{switch}/port/{port}/revert', `/v0/switch/sw0/port/${port}/revert`, undefined, 'admin')),
  fc.constantFrom(...PORTS).map((port) => call('POST', '/v0/switch/{switch}/port/{port}/detach_nic', `/v0/switch/sw0/port/${port}/detach_nic`, undefined, 'admin')),
  fc
    .tuple(fc.constantFrom(...PORTS), fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n6'), fc.constantFrom('eth0', 'eth1'))
    .map(([port, node, nic]) => call('POST', '/v0/switch/{switch}/port/{port}/connect_nic', `/v0/switch/sw0/port/${port}/connect_nic`, { node, nic }, 'admin')),
  fc.tuple(fc.constantFrom('n4', 'n6'), fc.constantFrom('eth0', 'eth1')).map(([node, nic]) => call('PUT', '/v0/node/{node}/nic/{nic}', `/v0/node/${node}/nic/${nic}`, { macaddr: '52:54:00:aa:bb:cc' }, 'admin')),
);

/** User administration, the callers themselves included (world.ts restores them afterwards). */
const users = fc
  .record({
    user: fc.constantFrom('u1', 'u2', 'admin', 'member'),
    project: fc.constantFrom('p1', 'p2'),
    change: fc.constantFrom('delete', 'demote', 'promote', 'add', 'remove', 'create'),
    as: fc.constantFrom<ActorName>('admin', 'admin', 'member'),
  })
  .map(({ user, project, change, as }) => {
    const path = `/v0/auth/basic/user/${user}`;
    const template = '/v0/auth/basic/user/{user}';
    switch (change) {
      case 'delete':
        return call('DELETE', template, path, undefined, as);
      case 'demote':
      case 'promote':
        return call('PATCH', template, path, { is_admin: change === 'promote' }, as);
      case 'add':
      case 'remove':
        return call('POST', `${template}/${change}_project`, `${path}/${change}_project`, { project }, as);
      default:
        return call('PUT', template, path, { password: 'pw', is_admin: false }, as);
    }
  });

export const scenarioRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 5, arbitrary: networking },
  // Created three times as often as deleted: the pool runs out now and then.
  { weight: 3, arbitrary: createNetwork },
  { weight: 1, arbitrary: deleteNetwork },
  { weight: 1, arbitrary: access },
  { weight: 2, arbitrary: moveNode },
  { weight: 2, arbitrary: cabling },
  { weight: 1, arbitrary: users },
);
