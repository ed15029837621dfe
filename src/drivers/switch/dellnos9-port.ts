/**
 * A Dell OS9 port as the driver sees it: how it is configured (its mode, its
 * memberships), what that makes it carry, how its memberships change
 * (VLAN-centric CLI commands), and how the switch's answers are read.
 * The session that uses them is ./dellnos9.ts.
 */
import { formatVlanList, NO_VLANS, parseVlanList, portVlans, type PortVlans } from './port-vlans.ts';
import { at, child, parseXml, XmlError } from './xml.ts';

/** OS9's interface types and the prefix of each one's REST resource name ("tengig-1-3"). */
export const INTERFACE_TYPES = {
  GigabitEthernet: 'gige-',
  TenGigabitEthernet: 'tengig-',
  TwentyfiveGigabitEthernet: 'twentyfivegig-',
  fortyGigE: 'fortygig-',
  peGigabitEthernet: 'pegig-',
  FiftyGigabitEthernet: 'fiftygig-',
  HundredGigabitEthernet: 'hundredgig-',
} as const;
export type InterfaceType = keyof typeof INTERFACE_TYPES;

/** OS9's default VLAN: every Layer 2 port not untagged elsewhere is untagged in it. */
export const DEFAULT_VLAN = 1;

/** A port as the switch has it configured. */
export interface PortConfig {
  shutdown: boolean;
  switchport: boolean;
  hybrid: boolean;
  /** Its untagged VLAN as `show interfaces switchport` lists it (DEFAULT_VLAN for a Layer 2 port not placed elsewhere), or null. */
  untagged: number | null;
  tagged: number[];
  /** False when the VLANs were not read (a shut-down Layer 2 port, which carries nothing whatever they are). */
  vlansRead: boolean;
}

export type PortMode = Pick<PortConfig, 'shutdown' | 'switchport' | 'hybrid'>;

/** What a configured port carries: nothing unless it is up and in Layer 2 mode. */
export function carried(c: PortConfig): PortVlans {
  if (c.shutdown || !c.switchport) return NO_VLANS;
  return portVlans(c.untagged, c.tagged);
}

/**
 * The CLI commands (each group one `interface vlan` and its member
 * command) that take a hybrid Layer 2 port's memberships from `from` to
 * `to` (null: none but the default VLAN's). Removals come first: OS9
 * refuses to make a port untagged in a VLAN while it is untagged in
 * another (other than the default one) or tagged in that one.
 */
export function membershipCommands(type: InterfaceType, port: string, from: Pick<PortConfig, 'untagged' | 'tagged'>, to: PortVlans | null): string[][] {
  const member = `${type} ${port}`;
  const wantNative = to?.native ?? DEFAULT_VLAN;
  const wantTagged = new Set(to?.tagged ?? []);
  const haveNative = from.untagged ?? DEFAULT_VLAN;
  const groups: string[][] = [];
  for (const t of from.tagged) if (!wantTagged.has(t) || t === wantNative) groups.push([`interface vlan ${t}`, `no tagged ${member}`]);
  if (haveNative !== wantNative) {
    // Leaving a VLAN sends the port back to the default VLAN; joining one takes it from there.
    if (haveNative !== DEFAULT_VLAN) groups.push([`interface vlan ${haveNative}`, `no untagged ${member}`]);
    if (wantNative !== DEFAULT_VLAN) groups.push([`interface vlan ${wantNative}`, `untagged ${member}`]);
  }
  const haveTagged = new Set(from.tagged);
  for (const t of wantTagged) if (!haveTagged.has(t) || t === haveNative) groups.push([`interface vlan ${t}`, `tagged ${member}`]);
  return groups;
}

/** shutdown, switchport and hybrid from a GET of the interface resource (with defaults). */
export function parseInterface(body: string, port: string, fail: (m: string) => never): Pick<PortConfig, 'shutdown' | 'switchport' | 'hybrid'> {
  let root;
  try {
    root = parseXml(body);
  } catch (err) {
    if (err instanceof XmlError) fail(`port ${port}: cannot read the interface resource: ${err.message}`);
    throw err;
  }
  const iface = root.name === 'interface' ? root : (child(root, 'interface') ?? fail(`port ${port}: the answer has no <interface>`));
  const bool = (text: string | undefined, dflt: boolean) => (text === undefined ? dflt : text.trim() === 'true');
  return {
    // Absent leaves take OS9's defaults: a physical port is shut down and not hybrid.
    shutdown: bool(child(iface, 'shutdown')?.text, true),
    switchport: child(iface, 'switchport') !== undefined,
    hybrid: bool(at(iface, 'portmode', 'hybrid')?.text, false),
  };
}

/**
 * The untagged and tagged VLANs in `show interfaces switchport <type>
 * <port>` output: after "Vlan membership:" and its "Q Vlans" heading,
 * lines "U <list>" and "T <list>", a long list continued on lines that
 * start with spaces. (Upstream read "Native VlanId: N." for the native
 * VLAN; the U line is the port's actual untagged membership, and the two
 * agree on a hybrid port.)
 */
export function parseSwitchport(text: string, port: string, fail: (m: string) => never): Pick<PortConfig, 'untagged' | 'tagged'> {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => /^Name:\s+\S+\s+(\S+)\s*$/.test(l.trim()) && l.trim().endsWith(` ${port}`));
  if (start < 0) fail(`port ${port}: "show interfaces switchport" does not show the port: ${text.trim().slice(0, 200)}`);
  let i = lines.findIndex((l, k) => k > start && l.trim() === 'Vlan membership:');
  if (i < 0) fail(`port ${port}: "show interfaces switchport" has no "Vlan membership:"`);
  const lists: Record<string, string> = {};
  let code: string | null = null;
  for (i++; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^Q\s+Vlans\s*$/.test(line.trim())) continue;
    if (line.trim() === '' || /^(Name|Native VlanId|802\.1QTagged|Description)\b/.test(line.trim())) break;
    const m = /^([A-Za-z])\s+(\S.*)$/.exec(line);
    if (m) {
      code = m[1]!;
      lists[code] = (lists[code] ? `${lists[code]},` : '') + m[2]!.trim();
    } else if (/^\s+\S/.test(line) && code) {
      lists[code] += `,${line.trim()}`;
    } else break;
  }
  const read = (code: string) => {
    try {
      return parseVlanList((lists[code] ?? '').replace(/,+/g, ','));
    } catch {
      return fail(`port ${port}: cannot read its ${code} VLANs ${JSON.stringify(lists[code])}`);
    }
  };
  const untagged = read('U');
  if (untagged.length > 1) fail(`port ${port}: untagged in several VLANs (${formatVlanList(untagged)})`);
  return { untagged: untagged[0] ?? null, tagged: read('T') };
}
