/**
 * The port and VLAN model of an emulated Dell OS9 switch (S3048-ON and
 * kin), written from the Dell Networking OS9 configuration guides:
 *
 * - a physical port ships shut down and in Layer 3 mode: it carries nothing;
 * - `switchport` puts it in Layer 2 mode, which places it untagged in the
 *   default VLAN (VLAN 1); "untagged interfaces must be part of a VLAN", so
 *   leaving a VLAN (`no untagged`) sends it back to the default VLAN, and
 *   only `no switchport` (or shutdown) takes it off VLAN 1;
 * - "only untagged interfaces can belong to the default VLAN";
 * - a port is untagged in one VLAN or tagged in several, not both, unless
 *   it is a hybrid port (`portmode hybrid`), which can be untagged in one
 *   and tagged in others; a tagged non-hybrid port is in no untagged VLAN;
 * - `portmode hybrid` (and its removal) is refused while the port is in
 *   Layer 2 mode with VLAN memberships: "% Error: Port is in Layer-2 mode";
 * - VLANs 1..4094; `interface vlan N` creates VLAN N (active for Layer 2).
 *
 * The refusal words marked [unverified] paraphrase the guides' rules; the
 * exact wording of the real switch for those cases was not found.
 */
import { NO_VLANS, portVlans, type PortVlans } from '../../../src/drivers/switch/port-vlans.ts';

export const DEFAULT_VLAN = 1;
export const MAX_VLAN = 4094;

/** The interface type the emulated ports have, its REST prefix and its short CLI form. */
export const EMULATED_TYPE = { name: 'TenGigabitEthernet', prefix: 'tengig-', short: 'Te' } as const;

/** Interface type keywords the CLI knows (the driver's INTERFACE_TYPES), case-insensitive and abbreviable. */
export const TYPE_KEYWORDS = ['GigabitEthernet', 'TenGigabitEthernet', 'TwentyfiveGigabitEthernet', 'fortyGigE', 'peGigabitEthernet', 'FiftyGigabitEthernet', 'HundredGigabitEthernet'];

export interface Os9Port {
  shutdown: boolean;
  switchport: boolean;
  hybrid: boolean;
  /** The VLAN it was made untagged in, other than the default one; null: the default VLAN (when in Layer 2 mode and not tagged-only). */
  untagged: number | null;
  tagged: number[];
}

export const freshPort = (): Os9Port => ({ shutdown: true, switchport: false, hybrid: false, untagged: null, tagged: [] });

/** A refused command: the switch's words ("% Error: …"). */
export class Refusal extends Error {}

/** The VLAN a Layer 2 port is untagged in, as the switch lists it; null for a tagged-only non-hybrid port or a Layer 3 port. */
export function untaggedVlan(p: Os9Port): number | null {
  if (!p.switchport) return null;
  if (p.untagged !== null) return p.untagged;
  return p.hybrid || p.tagged.length === 0 ? DEFAULT_VLAN : null;
}

/** What the port forwards: nothing when shut down or in Layer 3 mode; VLANs that do not exist carry nothing. */
export function effective(p: Os9Port, vlans: ReadonlySet<number>): PortVlans {
  if (p.shutdown || !p.switchport) return NO_VLANS;
  const u = untaggedVlan(p);
  return portVlans(u !== null && vlans.has(u) ? u : null, p.tagged.filter((v) => vlans.has(v)));
}

const hasMemberships = (p: Os9Port) => p.untagged !== null || p.tagged.length > 0;
const shortName = (port: string) => `${EMULATED_TYPE.short} ${port}`;

function requireLayer2(p: Os9Port, port: string): void {
  if (!p.switchport) throw new Refusal(`% Error: Port is not in Layer-2 mode ${shortName(port)}.`);
}

/** `untagged <type> <port>` in `interface vlan <vlan>`. */
export function addUntagged(p: Os9Port, port: string, vlan: number): void {
  requireLayer2(p, port);
  if (p.tagged.includes(vlan)) throw new Refusal(`% Error: ${shortName(port)} is tagged in Vlan ${vlan}.`); // [unverified]
  if (untaggedVlan(p) === vlan) return;
  if (!p.hybrid && p.tagged.length) throw new Refusal(`% Error: ${shortName(port)} is not a hybrid port; it is tagged in other Vlans.`); // [unverified]
  if (p.untagged !== null) throw new Refusal(`% Error: ${shortName(port)} is untagged in Vlan ${p.untagged}.`); // [unverified]
  if (vlan !== DEFAULT_VLAN) p.untagged = vlan;
}

/** `tagged <type> <port>` in `interface vlan <vlan>`. */
export function addTagged(p: Os9Port, port: string, vlan: number): void {
  requireLayer2(p, port);
  if (vlan === DEFAULT_VLAN) throw new Refusal(`% Error: Only untagged interfaces can belong to the default VLAN ${DEFAULT_VLAN}.`); // [unverified]
  if (p.untagged === vlan) throw new Refusal(`% Error: ${shortName(port)} is untagged in Vlan ${vlan}.`); // [unverified]
  if (!p.hybrid && p.untagged !== null) throw new Refusal(`% Error: ${shortName(port)} is not a hybrid port; it is untagged in Vlan ${p.untagged}.`); // [unverified]
  if (!p.tagged.includes(vlan)) p.tagged = [...p.tagged, vlan].sort((a, b) => a - b);
}

/** `no untagged <type> <port>`: back to the default VLAN. */
export function removeUntagged(p: Os9Port, port: string, vlan: number): void {
  requireLayer2(p, port);
  if (vlan === DEFAULT_VLAN) throw new Refusal(`% Error: ${shortName(port)} cannot leave the default VLAN; use "no switchport".`); // [unverified]
  if (p.untagged !== vlan) throw new Refusal(`% Error: ${shortName(port)} is not untagged in Vlan ${vlan}.`); // [unverified]
  p.untagged = null;
}

/** `no tagged <type> <port>`. */
export function removeTagged(p: Os9Port, port: string, vlan: number): void {
  requireLayer2(p, port);
  if (!p.tagged.includes(vlan)) throw new Refusal(`% Error: ${shortName(port)} is not tagged in Vlan ${vlan}.`); // [unverified]
  p.tagged = p.tagged.filter((v) => v !== vlan);
}

/** A PUT of the interface resource: replaces the port's own configuration (mode, switchport, shutdown). */
export function replaceInterface(p: Os9Port, port: string, want: { hybrid: boolean; switchport: boolean; shutdown: boolean }): void {
  const layer2Busy = p.switchport && hasMemberships(p);
  if ((want.hybrid !== p.hybrid || !want.switchport) && layer2Busy) throw new Refusal(`% Error: Port is in Layer-2 mode ${shortName(port)}.`);
  p.hybrid = want.hybrid;
  p.switchport = want.switchport;
  p.shutdown = want.shutdown;
  if (!p.switchport) {
    p.untagged = null;
    p.tagged = [];
  }
}

/** `no interface vlan <vlan>`: its members leave it. */
export function deleteVlan(vlans: Set<number>, ports: Iterable<Os9Port>, vlan: number): void {
  if (vlan === DEFAULT_VLAN) throw new Refusal('% Error: The default VLAN cannot be deleted.'); // [unverified]
  if (!vlans.has(vlan)) throw new Refusal(`% Error: Vlan ${vlan} does not exist.`); // [unverified]
  vlans.delete(vlan);
  for (const p of ports) {
    if (p.untagged === vlan) p.untagged = null;
    p.tagged = p.tagged.filter((v) => v !== vlan);
  }
}

/** `show interfaces switchport <type> <port>`, laid out as OS9 prints it. */
export function showSwitchport(p: Os9Port, port: string): string {
  const header = [
    'Codes:  U - Untagged, T - Tagged',
    '        x - Dot1x untagged, X - Dot1x tagged',
    '        G - GVRP tagged, M - Trunk',
    '        i - Internal untagged, I - Internal tagged, v - VLT untagged, V - VLT tagged',
    '',
  ];
  if (!p.switchport) return header.join('\n') + '\n';
  const u = untaggedVlan(p);
  const lines = [...header, `Name: ${EMULATED_TYPE.name} ${port}`, `802.1QTagged: ${p.hybrid ? 'Hybrid' : p.tagged.length ? 'True' : 'False'}`, 'Vlan membership:', 'Q       Vlans'];
  if (u !== null) lines.push(`U       ${u}`);
  if (p.tagged.length) lines.push(...wrapList('T       ', rangeList(p.tagged)));
  lines.push('', `Native VlanId:          ${u ?? DEFAULT_VLAN}.`, '');
  return lines.join('\n');
}

/** [1,3,4,5] → ["1", "3-5"]. */
function rangeList(vlans: number[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < vlans.length; ) {
    let j = i;
    while (j + 1 < vlans.length && vlans[j + 1] === vlans[j]! + 1) j++;
    out.push(j === i ? String(vlans[i]) : `${vlans[i]}-${vlans[j]}`);
    i = j + 1;
  }
  return out;
}

/** A long list goes on as lines indented under the first, cut after a comma. */
function wrapList(first: string, parts: string[], width = 72): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const part of parts) {
    const next = cur ? `${cur},${part}` : part;
    if (cur && first.length + next.length > width) {
      lines.push(cur + ',');
      cur = part;
    } else cur = next;
  }
  lines.push(cur);
  return lines.map((l, i) => (i === 0 ? first : ' '.repeat(first.length)) + l);
}
