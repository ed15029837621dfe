/**
 * What the two Dell emulators (./powerconnect.ts, ./n3000.ts) share: the
 * port names their CLIs accept (gi1/0/1, Gi1/0/1, gigabitethernet 1/0/1,
 * te1/0/1, tengigabitethernet1/0/1 …), VLAN list arguments, and the layout
 * of "Key: value" show output, and general-mode membership (`switchport
 * general allowed vlan add|remove`). Their VLAN models differ (the 55xx has
 * "native none", the N3000 does not; a fresh N3000 trunk allows every VLAN,
 * a 55xx trunk none), so each keeps its own.
 */
import { parseVlanList } from '../../../src/drivers/switch/port-vlans.ts';
import type { CliCommand, CommandContext } from './cli-engine.ts';

const KINDS: Array<[short: string, long: string]> = [
  ['gi', 'gigabitethernet'],
  ['te', 'tengigabitethernet'],
];

/**
 * "gi1/0/1", "Gi1/0/1", "gigabit 1/0/1", "TenGigabitEthernet1/0/2" → the
 * emulator's own name for the port ("gi1/0/1", "te1/0/2"), or null when the
 * words are not a port name at all.
 */
export function canonicalPort(words: string): string | null {
  const m = /^([a-z]+)\s*(\d+\/\d+(?:\/\d+)?)$/i.exec(words.trim());
  if (!m) return null;
  const word = m[1]!.toLowerCase();
  const kind = KINDS.find(([short, long]) => word.length >= 2 && long.startsWith(word) && word.startsWith(short));
  return kind ? `${kind[0]}${m[2]}` : null;
}

/** "gi1/0/1" → "Gi1/0/1", as DNOS prints a port. */
export const displayPort = (port: string) => port.charAt(0).toUpperCase() + port.slice(1);

/** A VLAN list argument ("101", "101-103,200") within [lo, hi], or null when it is not one. */
export function vlanListArg(text: string, [lo, hi]: readonly [number, number]): number[] | null {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) return null;
  try {
    const list = parseVlanList(text);
    return list.length && list.every((v) => v >= lo && v <= hi) ? list : null;
  } catch {
    return null;
  }
}

/** One VLAN argument within [lo, hi], or null. */
export function vlanArg(text: string, [lo, hi]: readonly [number, number]): number | null {
  if (!/^\d+$/.test(text)) return null;
  const v = Number(text);
  return v >= lo && v <= hi ? v : null;
}

/** VLANs that exist and that do not, of `list`. */
export function splitExisting(list: Iterable<number>, vlans: ReadonlySet<number>): { active: number[]; inactive: number[] } {
  const sorted = [...new Set(list)].sort((a, b) => a - b);
  return { active: sorted.filter((v) => vlans.has(v)), inactive: sorted.filter((v) => !vlans.has(v)) };
}

/** The VLANs in either list, sorted, once each. */
export const union = (a: number[], b: number[]) => [...new Set([...a, ...b])].sort((x, y) => x - y);
/** The VLANs of `a` that are not in `b`. */
export const minus = (a: number[], b: number[]) => a.filter((v) => !b.includes(v));

/** A port's general-mode members: a VLAN is untagged or tagged, not both. */
export interface GeneralMembers {
  generalUntagged: number[];
  generalTagged: number[];
}

/**
 * `switchport general allowed vlan add <vlans> [tagged|untagged]` (untagged
 * when not said; either word abbreviable) and `… remove <vlans>`, as both
 * Dell CLIs take them. `port`: the interface mode's port; `added` and
 * `removed`: the VLANs the command names, or the switch's refusal.
 */
export function generalAllowedCommands<P extends GeneralMembers>(
  port: (c: CommandContext<P>) => P,
  vlans: { added(c: CommandContext<P>): number[]; removed(c: CommandContext<P>): number[] },
): CliCommand<P>[] {
  const add = (c: CommandContext<P>, how: 'tagged' | 'untagged') => {
    const p = port(c);
    const list = vlans.added(c);
    if (how === 'tagged') {
      p.generalTagged = union(p.generalTagged, list);
      p.generalUntagged = minus(p.generalUntagged, list);
    } else {
      p.generalUntagged = union(p.generalUntagged, list);
      p.generalTagged = minus(p.generalTagged, list);
    }
  };
  return [
    { pattern: 'switchport general allowed vlan add <vlans>', run: (c) => add(c, 'untagged') },
    {
      pattern: 'switchport general allowed vlan add <vlans> <how>',
      accept: { how: /^(t|ta|tag|tagg|tagge|tagged|u|un|unt|unta|untag|untagg|untagge|untagged)$/i },
      run: (c) => add(c, /^t/i.test(c.args.how!) ? 'tagged' : 'untagged'),
    },
    {
      pattern: 'switchport general allowed vlan remove <vlans>',
      run: (c) => {
        const p = port(c);
        const list = vlans.removed(c);
        p.generalTagged = minus(p.generalTagged, list);
        p.generalUntagged = minus(p.generalUntagged, list);
      },
    },
  ];
}
