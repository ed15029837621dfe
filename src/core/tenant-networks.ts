/**
 * Upstream's rules for the networks a tenant's own access (a headnode's
 * hnic, a VPN) may join, and this server's one addition: never HIL's own
 * networks (the provisioning network, a project's boot network), which
 * carry other tenants' boots and disks.
 */
import { BadArgumentError, ProjectMismatchError } from '../errors.ts';
import type { Tx } from './context.ts';
import type { Selectable } from 'kysely';
import type { NetworkTable } from '../store/schema.ts';

type NetworkRow = Selectable<NetworkTable>;

/** The network's VLAN, which a tap or a veth on the host switch is tagged with. */
export function vlanOf(net: NetworkRow): number {
  const vlan = Number(net.network_id);
  if (!/^[0-9]{1,4}$/.test(net.network_id) || vlan < 1 || vlan > 4094) throw new BadArgumentError(`Network ${net.label} has no VLAN (network id "${net.network_id}"); headnodes and VPNs need a VLAN network.`);
  return vlan;
}

/**
 * May `projectId` put its own access on `net`? Upstream: only allocated
 * networks (#333), and none whose access list leaves the project out.
 */
export async function requireUsableNetwork(tx: Tx, net: NetworkRow, projectId: number, provisioningNetwork: string | undefined): Promise<number> {
  if (!net.allocated) throw new BadArgumentError(`Network ${net.label} is not allocated by HIL; headnodes and VPNs join only networks whose VLAN HIL allocated.`);
  if (net.label === provisioningNetwork) throw new BadArgumentError(`Network ${net.label} is HIL's provisioning network.`);
  const boot = await tx.selectFrom('boot_network').select('project_id').where('network_id', '=', net.id).executeTakeFirst();
  if (boot) throw new BadArgumentError(`Network ${net.label} is a boot network of HIL's.`);
  const access = await tx.selectFrom('network_access').select('project_id').where('network_id', '=', net.id).execute();
  if (access.length && !access.some((a) => a.project_id === projectId)) throw new ProjectMismatchError("Project does not have access to given network.");
  return vlanOf(net);
}

const IPV4 = /^((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])$/;

/** An IPv4 address with its prefix ("10.50.0.1/24"), a host address of its subnet. */
export function requireCidr(what: string, cidr: string): string {
  const [address, bits, extra] = cidr.split('/');
  const prefix = Number(bits);
  if (extra !== undefined || !IPV4.test(address ?? '') || !/^[0-9]{1,2}$/.test(bits ?? '') || prefix < 8 || prefix > 30) {
    throw new BadArgumentError(`${what} "${cidr}" is not an IPv4 address with a prefix from /8 to /30 (e.g. 10.50.0.1/24)`);
  }
  const n = address!.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const host = n % 2 ** (32 - prefix);
  if (host === 0 || host === 2 ** (32 - prefix) - 1) throw new BadArgumentError(`${what} "${cidr}" is its subnet's network or broadcast address`);
  return cidr;
}
