/**
 * Where a network's VPN endpoint is, from its slot (one source of truth for
 * the service that tells tenants and the keeper that sets it up): its UDP
 * port, its tunnel /24 (gateway .1, peers .2–.254) and the subnet of its
 * address on the network, which is what a peer's tunnel reaches.
 */
import { TRANSIT_SLOTS } from './names.ts';

export interface VpnPlan {
  /** What tenants' configurations name as the host. */
  endpointHost: string;
  ports: { first: number; last: number };
  /** The first tunnel /24 as a 32-bit number, and how many there are. */
  tunnels: { first: number; count: number };
  defaultLanAddress: string;
  /** How many networks may have an endpoint at once. */
  slots: number;
}

export function vpnPlan(o: Omit<VpnPlan, 'slots'>): VpnPlan {
  return { ...o, slots: Math.min(o.ports.last - o.ports.first + 1, o.tunnels.count, TRANSIT_SLOTS) };
}

const dotted = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

export function vpnAddresses(plan: VpnPlan, slot: number, lanAddress: string) {
  const base = plan.tunnels.first + slot * 256;
  const [ip, bits] = lanAddress.split('/') as [string, string];
  const prefix = Number(bits);
  const n = ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const network = n - (n % 2 ** (32 - prefix));
  return {
    listenPort: plan.ports.first + slot,
    endpoint: `${plan.endpointHost}:${plan.ports.first + slot}`,
    gateway: `${dotted(base + 1)}/24`,
    peer: (host: number) => `${dotted(base + host)}/32`,
    lanSubnet: `${dotted(network)}/${prefix}`,
  };
}
