/**
 * What a node on a boot network may reach on the storage host (docs/images.md,
 * "Trust model"): its own boot network's address and, there, only DHCP, TFTP,
 * the boot scripts' HTTP port and the export ports. Linux answers for every
 * local address on every interface (the weak host model), so without this a
 * tenant's node could address another project's storage address, the
 * provisioning network's, or the HIL API's through its own VLAN link; and a
 * host that forwards would route it anywhere. One nftables table per trunk
 * interface, replaced whole (atomically) when the set of boot links changes;
 * it stays when HIL stops, so the host fails closed.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../util/run-tool.ts';

export interface FirewalledLink {
  ifname: string;
  /** The storage host's IPv4 address there, the subnet's broadcast, and the IPv6 ULA (no prefix lengths). */
  address: string;
  broadcast: string;
  ipv6: string;
}

export interface FirewallSpec {
  /** Names the table (one per storage NIC). */
  table: string;
  /** An interface wildcard that matches every boot link (BootLinks.wildcard). */
  wildcard: string;
  links: FirewalledLink[];
  httpPort: number;
  exportPorts: { first: number; last: number };
}

/** nft identifiers take letters, digits and underscores. */
export const firewallTable = (name: string) => `hil_boot_${name.replace(/[^A-Za-z0-9]/g, '_')}`;

/** The ruleset text: the table replaced whole, or only removed when no link is left. */
export function firewallRules(s: FirewallSpec): string {
  const table = `inet ${firewallTable(s.table)}`;
  // Declaring it first makes the delete succeed when it does not exist yet.
  const head = [`table ${table} {}`, `delete table ${table}`];
  if (!s.links.length) return [...head, ''].join('\n');
  const chains = s.links.map((l, i) => [
    `  chain link${i} {`,
    `    ip daddr != { ${l.address}, ${l.broadcast}, 255.255.255.255 } drop`,
    `    ip6 daddr != { ${l.ipv6}, fe80::/10, ff02::/16 } drop`,
    '    udp dport { 67, 69 } accept',
    `    tcp dport { ${s.httpPort}, ${s.exportPorts.first}-${s.exportPorts.last} } accept`,
    '    meta l4proto { icmp, ipv6-icmp } accept',
    '    drop',
    '  }',
  ]);
  return [
    ...head,
    `table ${table} {`,
    '  chain input {',
    '    type filter hook input priority filter - 5; policy accept;',
    ...s.links.map((l, i) => `    iifname "${l.ifname}" jump link${i}`),
    // A link this table does not know yet (made, not yet listed): nothing until it is.
    `    iifname "${s.wildcard}" drop`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter - 5; policy accept;',
    `    iifname "${s.wildcard}" drop`,
    `    oifname "${s.wildcard}" drop`,
    '  }',
    ...chains.flat(),
    '}',
    '',
  ].join('\n');
}

/** Applies the ruleset in one nft transaction (from a file: nft reads no stdin from execFile). */
export async function applyFirewall(s: FirewallSpec, dir: string, signal: AbortSignal): Promise<void> {
  const file = join(dir, 'boot-firewall.nft');
  await writeFile(file, firewallRules(s), { mode: 0o600 });
  await runTool('nft', ['-f', file], { signal, timeoutMs: 10_000 });
}
