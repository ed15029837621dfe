/**
 * The host's part of reaching a VPN endpoint: the table `ip hil_vpn`.
 *  - DNAT of `udp dport <listenPort>` addressed to any of the host's own
 *    addresses to the namespace's transit address, both for packets arriving
 *    (prerouting) and for packets the host sends itself (output), so the
 *    endpoint a client is given is `<host address>:<listenPort>`;
 *    (each with a counter: how many new flows an endpoint got, for operators);
 *  - a forward chain of its own that passes the uplinks' DNATed flows and
 *    drops anything else to or from an uplink. Its policy is accept: other
 *    tables' traffic is not this table's business (and an accept here cannot
 *    overrule another table's drop anyway).
 *
 * The table is shared by every network on the host. Each network's rules
 * carry a comment naming the VLAN and everything the rule depends on, so
 * apply compares comments (no parsing nft's rendering of rules back), and
 * remove deletes by the VLAN alone. Every change is one nft transaction, and
 * this process makes them one at a time.
 */
import { ServerError } from '../errors.ts';
import { KeyedLock } from '../util/keyed-lock.ts';
import { UPLINK_WILDCARD } from './names.ts';
import { attempt, run } from './run.ts';

export const HOST_TABLE = 'hil_vpn';
const NAT_CHAINS = ['prerouting', 'output'] as const;
const lock = new KeyedLock();
/** How many rules baseRuleset() puts in the forward chain. */
const FORWARD_RULES = 4;

export interface HostForward {
  vlan: number;
  listenPort: number;
  /** The namespace's transit address. */
  target: string;
}

interface TableRule {
  chain: string;
  handle: number;
  comment?: string;
}

const tag = (vlan: number) => `hilvpn-${vlan} `;
const commentOf = (f: HostForward) => `${tag(f.vlan)}udp ${f.listenPort} to ${f.target}`;

/** The table's rules, or [] when there is no table. */
async function readRules(): Promise<TableRule[]> {
  const r = await attempt('nft', ['-j', '-a', 'list', 'table', 'ip', HOST_TABLE]);
  if (!r.ok) {
    if (/No such file or directory/.test(r.stderr)) return [];
    throw new ServerError(`nft list table ip ${HOST_TABLE} failed: ${r.stderr.trim() || `exit ${r.exit}`}`);
  }
  const items = (JSON.parse(r.stdout) as { nftables: { rule?: TableRule }[] }).nftables;
  return items.flatMap((i) => (i.rule ? [i.rule] : []));
}

/** The table, its chains and the static forward rules (flushed and written again: idempotent). */
function baseRuleset(): string {
  const up = JSON.stringify(UPLINK_WILDCARD);
  return `add table ip ${HOST_TABLE}
add chain ip ${HOST_TABLE} prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain ip ${HOST_TABLE} output { type nat hook output priority -100; policy accept; }
add chain ip ${HOST_TABLE} forward { type filter hook forward priority filter; policy accept; }
flush chain ip ${HOST_TABLE} forward
add rule ip ${HOST_TABLE} forward oifname ${up} ct status dnat accept
add rule ip ${HOST_TABLE} forward iifname ${up} ct status dnat accept
add rule ip ${HOST_TABLE} forward oifname ${up} drop
add rule ip ${HOST_TABLE} forward iifname ${up} drop
`;
}

function dnatRule(chain: string, f: HostForward): string {
  return `add rule ip ${HOST_TABLE} ${chain} fib daddr type local udp dport ${f.listenPort} counter dnat to ${f.target} comment ${JSON.stringify(commentOf(f))}\n`;
}

const deleteRule = (r: TableRule) => `delete rule ip ${HOST_TABLE} ${r.chain} handle ${r.handle}\n`;

/** Makes the network's DNAT rules exactly those of `f`; touches nothing when they already are. */
export function applyHostForward(f: HostForward): Promise<void> {
  return lock.run('table', async () => {
    const rules = await readRules();
    const clash = rules.find((r) => r.comment && !r.comment.startsWith(tag(f.vlan)) && r.comment.includes(` udp ${f.listenPort} `));
    if (clash) throw new ServerError(`UDP port ${f.listenPort} is already the VPN endpoint of another network (${clash.comment})`);
    const ours = rules.filter((r) => r.comment?.startsWith(tag(f.vlan)));
    const want = commentOf(f);
    const right = NAT_CHAINS.every((c) => ours.filter((r) => r.chain === c && r.comment === want).length === 1) && ours.length === NAT_CHAINS.length;
    const staticRules = rules.filter((r) => r.chain === 'forward').length;
    if (right && staticRules === FORWARD_RULES) return;
    const script = baseRuleset() + ours.map(deleteRule).join('') + NAT_CHAINS.map((c) => dnatRule(c, f)).join('');
    await run('nft', ['-f', '-'], { input: script });
  });
}

/** Removes the network's rules; the whole table once no network has any. */
export function removeHostForward(vlan: number): Promise<void> {
  return lock.run('table', async () => {
    const rules = await readRules();
    if (rules.length === 0) return;
    const ours = rules.filter((r) => r.comment?.startsWith(tag(vlan)));
    const others = rules.filter((r) => r.comment?.startsWith('hilvpn-') && !ours.includes(r));
    const script = others.length === 0 ? `delete table ip ${HOST_TABLE}\n` : ours.map(deleteRule).join('');
    if (script) await run('nft', ['-f', '-'], { input: script });
  });
}

/** The VLANs with rules in the table. */
export async function hostForwardVlans(): Promise<number[]> {
  const rules = await readRules();
  const vlans = rules.flatMap((r) => /^hilvpn-(\d+) /.exec(r.comment ?? '')?.[1] ?? []).map(Number);
  return [...new Set(vlans)];
}
