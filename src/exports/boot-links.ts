/**
 * The storage host's side of the boot networks: one VLAN interface per boot
 * network (`<trunk>.<vlan>`) on the NIC whose switch port carries them all
 * tagged, with the storage host's address of that network's /24 (and an
 * IPv6 ULA, which only serves router advertisements: iPXE waits ~15 s for
 * IPv6 autoconfiguration when nothing sends one). Idempotent both ways.
 */
import { runTool } from '../util/run-tool.ts';

export interface BootLink {
  vlan: number;
  /** "10.130.0.1/24". */
  address: string;
  /** "fd48:494c:b007:0::1/64". */
  ipv6: string;
}

export const linkName = (trunk: string, vlan: number) => `${trunk}.${vlan}`;

const ip = (args: string[], signal: AbortSignal) => runTool('ip', args, { signal, timeoutMs: 10_000 });

/** The VLAN interfaces on `trunk` that exist now, by VLAN. */
export async function currentLinks(trunk: string, signal: AbortSignal): Promise<Map<number, string>> {
  const out = await ip(['-j', 'link', 'show'], signal);
  const links = JSON.parse(out || '[]') as { ifname: string }[];
  const found = new Map<number, string>();
  for (const { ifname } of links) {
    const m = ifname.startsWith(`${trunk}.`) ? /^(\d{1,4})$/.exec(ifname.slice(trunk.length + 1)) : null;
    if (m) found.set(Number(m[1]), ifname);
  }
  return found;
}

/** Makes the link if it is missing, gives it its addresses if it lacks them, and brings it up. */
export async function ensureLink(trunk: string, link: BootLink, exists: boolean, signal: AbortSignal): Promise<void> {
  const name = linkName(trunk, link.vlan);
  if (!exists) await ip(['link', 'add', 'link', trunk, 'name', name, 'type', 'vlan', 'id', String(link.vlan)], signal);
  const shown = JSON.parse((await ip(['-j', 'addr', 'show', 'dev', name], signal)) || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[];
  const has = new Set((shown[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  if (!has.has(link.address)) await ip(['addr', 'add', link.address, 'dev', name], signal);
  if (!has.has(link.ipv6)) await ip(['-6', 'addr', 'add', link.ipv6, 'dev', name, 'nodad'], signal);
  await ip(['link', 'set', trunk, 'up'], signal);
  await ip(['link', 'set', name, 'up'], signal);
}

export async function removeLink(name: string, signal: AbortSignal): Promise<void> {
  await ip(['link', 'del', name], signal);
}
