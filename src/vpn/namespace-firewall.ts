/**
 * The firewall inside a network's VPN namespace, the whole of the
 * namespace's isolation policy:
 *  - from the tunnel, only forwarding out of lan0 onto the tenant network,
 *    masqueraded as the namespace's own LAN address (the tenant's hosts need
 *    no route back to the tunnel's addresses);
 *  - nothing forwarded between lan0 and the uplink, nor from the tunnel to
 *    the uplink (the host and whatever it routes to stay out of reach);
 *  - to the namespace itself: WireGuard's UDP on the uplink, pings, and
 *    replies; nothing else.
 * The namespace is ours alone, so the table is replaced whole (atomically, in
 * one nft transaction) and its chains may drop by policy.
 */
import { inNetns } from './run.ts';
import { LAN_IF, UPLINK_NS_IF } from './names.ts';

export const NS_TABLE = 'hilvpn';

export interface NamespaceFirewall {
  wgInterface: string;
  /** The tunnel's network (a.b.c.d/p), the sources that are masqueraded. */
  tunnelNetwork: string;
  listenPort: number;
}

export function namespaceRuleset(f: NamespaceFirewall): string {
  const wg = JSON.stringify(f.wgInterface);
  return `add table ip ${NS_TABLE}
delete table ip ${NS_TABLE}
table ip ${NS_TABLE} {
  chain input {
    type filter hook input priority filter; policy drop;
    iif lo accept
    ct state established,related accept
    iifname "${UPLINK_NS_IF}" udp dport ${f.listenPort} accept
    icmp type echo-request accept
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname ${wg} oifname "${LAN_IF}" ip saddr ${f.tunnelNetwork} accept
    iifname "${LAN_IF}" oifname ${wg} ct state established,related accept
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${LAN_IF}" ip saddr ${f.tunnelNetwork} masquerade
  }
}
`;
}

export async function applyNamespaceFirewall(ns: string, f: NamespaceFirewall): Promise<void> {
  await inNetns(ns, 'nft', ['-f', '-'], { input: namespaceRuleset(f) });
}
