/**
 * Every name and address the data plane derives from a network's VLAN and
 * slot, in one place, so that apply, remove and the crash sweep agree on
 * them. Interface names stay under Linux's 15 characters for any VLAN
 * (hilwg4094 is 9).
 */
import { BadArgumentError } from '../errors.ts';

/** The namespace holding one network's VPN endpoint. */
export const namespaceOf = (vlan: number) => `hilvpn-${vlan}`;
export const NAMESPACE_RE = /^hilvpn-(\d+)$/;
/** The WireGuard interface; unique per host because /var/run/wireguard/<name>.sock is shared by all namespaces. */
export const wgInterfaceOf = (vlan: number) => `hilwg${vlan}`;
export const WG_INTERFACE_RE = /^hilwg(\d+)$/;
/** The switch side of the tenant-network veth (an OVS access port). */
export const switchPortOf = (vlan: number) => `hvl${vlan}`;
export const SWITCH_PORT_RE = /^hvl(\d+)$/;
/** The host side of the uplink veth. */
export const uplinkOf = (vlan: number) => `hvu${vlan}`;
export const UPLINK_RE = /^hvu(\d+)$/;
/** Wildcard matching every uplink, for the host firewall's static rules. */
export const UPLINK_WILDCARD = 'hvu*';
/** Names inside the namespace (each namespace has its own). */
export const LAN_IF = 'lan0';
export const UPLINK_NS_IF = 'up0';

/** The transit /30s live in 169.254.64.0/18: 4096 slots. */
export const TRANSIT_SLOTS = 4096;
const TRANSIT_BASE = (169 << 24) | (254 << 16) | (64 << 8);

export interface Transit {
  /** The host side's address (the namespace's default gateway). */
  host: string;
  /** The namespace side's address (where the host DNATs the listen port to). */
  ns: string;
  prefix: 30;
}

export function transitOf(slot: number): Transit {
  if (!Number.isInteger(slot) || slot < 0 || slot >= TRANSIT_SLOTS) throw new BadArgumentError(`VPN slot ${slot} is outside 0..${TRANSIT_SLOTS - 1}`);
  const net = TRANSIT_BASE + slot * 4;
  return { host: ipv4(net + 1), ns: ipv4(net + 2), prefix: 30 };
}

export function ipv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export interface Cidr {
  address: string;
  prefix: number;
  /** The network it is in, as a.b.c.d/p. */
  network: string;
}

/** Parses a.b.c.d/p (IPv4 only: the tenant networks and tunnels are IPv4). */
export function parseCidr(text: string, what: string): Cidr {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : -1;
  if (!m || octets.some((o) => o > 255) || prefix > 32) throw new BadArgumentError(`${what} ${JSON.stringify(text)} is not an IPv4 address with a prefix (a.b.c.d/p)`);
  const n = octets.reduce((acc, o) => acc * 256 + o, 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { address: octets.join('.'), prefix, network: `${ipv4((n & mask) >>> 0)}/${prefix}` };
}
