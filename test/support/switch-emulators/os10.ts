/**
 * An emulated Dell SmartFabric OS10 switch: its SSH CLI (prompts
 * "OS10# ", "OS10(config)# ", "OS10(conf-if-eth1/1/1)# ",
 * "OS10(conf-if-vl-100)# "; "% Error: …" refusals with no "^" marker; the
 * "--more--" pager until `terminal length 0`) over a port model with
 * OS10's rules, written from Dell's OS10 User Guide / CLI reference:
 *
 * - a fresh port is an L2 access port of the default VLAN 1 (`switchport
 *   access vlan 1` in its configuration; access mode is not printed);
 * - on a trunk the access VLAN is the untagged one; `switchport trunk
 *   allowed vlan <list>` adds tagged VLANs, its `no` form removes them;
 *   `no switchport access vlan` leaves the port with nothing untagged;
 * - a VLAN cannot be a port's access VLAN and one of its allowed VLANs at
 *   once (the switch's words for it, from a real OS10 session:
 *   "% Error: Interface cannot be an access and trunk member of the same
 *   VLAN. One of the vlan in the range provided is already an access vlan.");
 * - VLANs are 1–4093 (4094 is reserved for the VLT interconnect) and are
 *   made with `interface vlan <n>`; VLAN 1 is the default and cannot go;
 * - `write memory` / `copy running-configuration startup-configuration`
 *   save, printing nothing.
 *
 * What a port forwards (effective): nothing when shut down; its access
 * VLAN untagged if that VLAN exists; on a trunk, its allowed VLANs that
 * exist, tagged.
 *
 * Words not taken from a device capture (Dell's references do not print
 * them) and so only plausible: the refusals for a VLAN that does not exist,
 * an interface the switch lacks, a trunk command on an access port, and a
 * locked configuration (OS10_MESSAGES below). The driver depends on none
 * of them beyond "starts with % Error".
 */
import { formatVlanList, NO_VLANS, parseVlanList, portVlans, type PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { OS10_TYPE } from '../../../src/drivers/switch/os10.ts';
import { startCliEmulator, terminalLength, VendorError, type CliEmulator, type CliGrammar, type CommandContext, type Output } from './cli-engine.ts';
import { DeviceState } from './device-state.ts';
import type { EmulatorOptions, VendorFixture } from './model.ts';

export interface Os10Port {
  mode: 'access' | 'trunk';
  /** `switchport access vlan`: the untagged VLAN (access or trunk), or null after `no switchport access vlan`. */
  access: number | null;
  /** `switchport trunk allowed vlan`, ascending. */
  allowed: number[];
  shutdown: boolean;
}

export const OS10_MAX_VLAN = 4093;

export const OS10_MESSAGES = {
  unrecognized: '% Error: Unrecognized command.',
  incomplete: '% Error: Incomplete command.',
  ambiguous: '% Error: Ambiguous command.',
  illegal: '% Error: Illegal parameter.',
  accessAndTrunk: '% Error: Interface cannot be an access and trunk member of the same VLAN. One of the vlan in the range provided is already an access vlan.',
  trunkAndAccess: '% Error: Interface cannot be an access and trunk member of the same VLAN. The vlan provided is already a trunk vlan.',
  // Not from a capture: see the header.
  noSuchVlan: (v: number) => `% Error: VLAN ${v} does not exist.`,
  noSuchInterface: (name: string) => `% Error: Interface ${name} does not exist.`,
  notTrunk: '% Error: Interface is not in trunk mode.',
  defaultVlan: '% Error: Default VLAN cannot be deleted.',
  configLocked: '% Error: Configuration is locked by another session.',
} as const;

export const OS10_PORTS = Array.from({ length: 16 }, (_, i) => `ethernet1/1/${i + 1}`);

const freshPort = (): Os10Port => ({ mode: 'access', access: 1, allowed: [], shutdown: false });

/** What a port forwards, by OS10's rules (see the header). */
export function os10Effective(p: Os10Port, vlans: ReadonlySet<number>): PortVlans {
  if (p.shutdown) return NO_VLANS;
  const native = p.access !== null && vlans.has(p.access) ? p.access : null;
  return portVlans(native, p.mode === 'trunk' ? p.allowed.filter((v) => vlans.has(v)) : []);
}

/** An interface as typed after `interface` or `show running-configuration interface`: "ethernet 1/1/1", "ethernet1/1/1", "eth1/1/1", "e1/1/1"; "vlan 100", "vlan100". */
export function parseInterfaceName(typed: string): { kind: 'ethernet'; name: string } | { kind: 'vlan'; id: string } | undefined {
  const eth = /^e(?:t(?:h(?:e(?:r(?:n(?:e(?:t)?)?)?)?)?)?)? ?(\d+\/\d+\/\d+(?::\d+)?)$/i.exec(typed);
  if (eth) return { kind: 'ethernet', name: `ethernet${eth[1]}` };
  const vlan = /^v(?:l(?:an?)?)? ?(\d+)$/i.exec(typed);
  if (vlan) return { kind: 'vlan', id: vlan[1]! };
  return undefined;
}

/** A port's block as `show running-configuration interface` prints it (the leading "!" included). */
export function formatInterface(name: string, p: Os10Port): string[] {
  const lines = ['!', `interface ${name}`, p.shutdown ? ' shutdown' : ' no shutdown'];
  if (p.mode === 'trunk') lines.push(' switchport mode trunk');
  if (p.access !== null) lines.push(` switchport access vlan ${p.access}`);
  if (p.mode === 'trunk' && p.allowed.length) lines.push(` switchport trunk allowed vlan ${formatVlanList(p.allowed)}`);
  lines.push(' flowcontrol receive on');
  return lines;
}

export function formatVlanInterface(id: number): string[] {
  return ['!', `interface vlan${id}`, ' no shutdown'];
}

/** Port names as `show vlan` lists them: "Eth1/1/1-1/1/3,1/1/7" (consecutive ports of one node/slot joined). */
export function formatPortList(ports: readonly string[]): string {
  const parsed = ports.map((p) => /^ethernet(\d+\/\d+)\/(\d+)(:\d+)?$/.exec(p)!).map((m) => ({ slot: m[1]!, port: Number(m[2]), sub: m[3] ?? '' }));
  parsed.sort((a, b) => a.slot.localeCompare(b.slot) || a.port - b.port || a.sub.localeCompare(b.sub));
  const parts: string[] = [];
  for (let i = 0; i < parsed.length; ) {
    const first = parsed[i]!;
    let j = i;
    while (!first.sub && j + 1 < parsed.length && parsed[j + 1]!.slot === first.slot && !parsed[j + 1]!.sub && parsed[j + 1]!.port === parsed[j]!.port + 1) j++;
    const name = (x: typeof first) => `${x.slot}/${x.port}${x.sub}`;
    parts.push(j === i ? name(first) : `${name(first)}-${name(parsed[j]!)}`);
    i = j + 1;
  }
  return `Eth${parts.join(',')}`;
}

/** `show vlan`, in OS10's layout: code, number, status, description, then one "Q Ports" line per membership kind. */
export function formatShowVlan(vlans: ReadonlySet<number>, ports: ReadonlyMap<string, Os10Port>): string[] {
  const out = [
    'Codes: * - Default VLAN, M - Management VLAN, R - Remote Port Mirroring VLANs,',
    '       @ - Attached to Virtual Network, P - Primary, C - Community, I - Isolated',
    'Q: A - Access (Untagged), T - Tagged',
    `    ${'NUM'.padEnd(7)}${'Status'.padEnd(10)}${'Description'.padEnd(32)}Q Ports`,
  ];
  for (const v of [...vlans].sort((a, b) => a - b)) {
    const tagged: string[] = [];
    const untagged: string[] = [];
    for (const [name, p] of ports) {
      if (p.access === v) untagged.push(name);
      else if (p.mode === 'trunk' && p.allowed.includes(v)) tagged.push(name);
    }
    const active = [...tagged, ...untagged].some((n) => !ports.get(n)!.shutdown);
    const members = [...(tagged.length ? [`T ${formatPortList(tagged)}`] : []), ...(untagged.length ? [`A ${formatPortList(untagged)}`] : [])];
    const head = `${(v === 1 ? '*' : '').padEnd(4)}${String(v).padEnd(7)}${(active ? 'Active' : 'Inactive').padEnd(10)}${''.padEnd(32)}`;
    out.push(`${head}${members[0] ?? ''}`.trimEnd());
    for (const m of members.slice(1)) out.push(`${' '.repeat(head.length)}${m}`);
  }
  return out;
}

/** A VLAN number in a command: 1–4093, else OS10's "Illegal parameter". */
function vlanNumber(text: string): number {
  const v = Number(text);
  if (!/^\d+$/.test(text) || v < 1 || v > OS10_MAX_VLAN) throw new VendorError(OS10_MESSAGES.illegal);
  return v;
}

function vlanListOf(text: string): number[] {
  let list: number[];
  try {
    list = parseVlanList(text);
  } catch {
    throw new VendorError(OS10_MESSAGES.illegal);
  }
  if (!list.length || list.some((v) => v < 1 || v > OS10_MAX_VLAN)) throw new VendorError(OS10_MESSAGES.illegal);
  return list;
}

const portOf = (c: CommandContext<Os10Port>) => c.state.port(c.context as string)!;

function runningConfiguration(state: DeviceState<Os10Port>): string[] {
  const out = ['! Version 10.5.6.4'];
  for (const [name, p] of state.ports) out.push(...formatInterface(name, p));
  for (const v of [...state.vlans].sort((a, b) => a - b)) out.push(...formatVlanInterface(v));
  return out;
}

function showInterfaceConfig(c: CommandContext<Os10Port>, typed: string): Output {
  const parsed = parseInterfaceName(typed);
  if (!parsed) throw new VendorError(OS10_MESSAGES.unrecognized);
  if (parsed.kind === 'vlan') {
    const id = vlanNumber(parsed.id);
    if (!c.state.vlans.has(id)) throw new VendorError(OS10_MESSAGES.noSuchVlan(id));
    return formatVlanInterface(id);
  }
  const p = c.state.port(parsed.name);
  if (!p) throw new VendorError(OS10_MESSAGES.noSuchInterface(parsed.name));
  return formatInterface(parsed.name, p);
}

const save = (c: CommandContext<Os10Port>): Output => {
  c.state.save();
};

export const os10Grammar: CliGrammar<Os10Port> = {
  hostname: 'OS10',
  start: 'exec',
  builtins: { exit: true, end: true, do: true },
  pager: { prompt: '--more--', lines: 24 },
  messages: {
    // OS10 prints no "^" marker: the words alone.
    invalid: () => OS10_MESSAGES.unrecognized,
    incomplete: () => OS10_MESSAGES.incomplete,
    ambiguous: () => OS10_MESSAGES.ambiguous,
    configLocked: OS10_MESSAGES.configLocked,
  },
  modes: {
    exec: {
      prompt: (h) => `${h}# `,
      commands: [
        terminalLength((_, n) => {
          if (n > 512) throw new VendorError(OS10_MESSAGES.illegal);
        }),
        { pattern: 'configure terminal', run: (c) => c.enter('config') },
        { pattern: 'show running-configuration', run: (c) => runningConfiguration(c.state) },
        { pattern: 'show running-configuration interface <name...>', run: (c) => showInterfaceConfig(c, c.args.name!) },
        { pattern: 'show vlan', run: (c) => formatShowVlan(c.state.vlans, c.state.ports) },
        { pattern: 'show version', run: () => ['Dell SmartFabric OS10 Enterprise', 'OS Version: 10.5.6.4', 'System Type: S5248F-ON (emulated)', 'Architecture: x86_64'] },
        { pattern: 'write memory', run: save },
        { pattern: 'copy running-configuration startup-configuration', run: save },
      ],
    },
    config: {
      prompt: (h) => `${h}(config)# `,
      parent: 'exec',
      config: true,
      commands: [
        // Entering an interface changes nothing (except creating a VLAN), so it is no configuration command by itself.
        { pattern: 'interface <name...>', config: false, run: async (c) => {
          const parsed = parseInterfaceName(c.args.name!);
          if (!parsed) throw new VendorError(OS10_MESSAGES.unrecognized);
          if (parsed.kind === 'ethernet') {
            if (!c.state.port(parsed.name)) throw new VendorError(OS10_MESSAGES.noSuchInterface(parsed.name));
            c.enter('config-if', parsed.name);
            return;
          }
          const id = vlanNumber(parsed.id);
          if (!c.state.vlans.has(id)) await c.state.change(() => void c.state.vlans.add(id));
          c.enter('config-vlan', id);
        } },
        { pattern: 'no interface vlan <id>', run: (c) => {
          const id = vlanNumber(c.args.id!);
          if (id === 1) throw new VendorError(OS10_MESSAGES.defaultVlan);
          if (!c.state.vlans.delete(id)) return;
          for (const p of c.state.ports.values()) {
            if (p.access === id) p.access = null;
            p.allowed = p.allowed.filter((v) => v !== id);
          }
        } },
      ],
    },
    'config-if': {
      prompt: (h, s) => `${h}(conf-if-eth${String(s.context).slice('ethernet'.length)})# `,
      parent: 'config',
      config: true,
      inherit: true,
      commands: [
        { pattern: 'switchport mode access', run: (c) => {
          const p = portOf(c);
          p.mode = 'access';
          p.allowed = [];
        } },
        { pattern: 'switchport mode trunk', run: (c) => void (portOf(c).mode = 'trunk') },
        { pattern: 'switchport access vlan <vlan>', run: (c) => {
          const p = portOf(c);
          const v = vlanNumber(c.args.vlan!);
          if (!c.state.vlans.has(v)) throw new VendorError(OS10_MESSAGES.noSuchVlan(v));
          if (p.mode === 'trunk' && p.allowed.includes(v)) throw new VendorError(OS10_MESSAGES.trunkAndAccess);
          p.access = v;
        } },
        { pattern: 'no switchport access vlan', run: (c) => void (portOf(c).access = null) },
        { pattern: 'no switchport access vlan <vlan>', run: (c) => {
          vlanNumber(c.args.vlan!);
          portOf(c).access = null;
        } },
        { pattern: 'switchport trunk allowed vlan <vlans>', run: (c) => {
          const p = portOf(c);
          const list = vlanListOf(c.args.vlans!);
          if (p.mode !== 'trunk') throw new VendorError(OS10_MESSAGES.notTrunk);
          const missing = list.find((v) => !c.state.vlans.has(v));
          if (missing !== undefined) throw new VendorError(OS10_MESSAGES.noSuchVlan(missing));
          if (p.access !== null && list.includes(p.access)) throw new VendorError(OS10_MESSAGES.accessAndTrunk);
          p.allowed = [...new Set([...p.allowed, ...list])].sort((a, b) => a - b);
        } },
        { pattern: 'no switchport trunk allowed vlan <vlans>', run: (c) => {
          const p = portOf(c);
          const gone = new Set(vlanListOf(c.args.vlans!));
          p.allowed = p.allowed.filter((v) => !gone.has(v));
        } },
        { pattern: 'shutdown', run: (c) => void (portOf(c).shutdown = true) },
        { pattern: 'no shutdown', run: (c) => void (portOf(c).shutdown = false) },
        { pattern: 'show configuration', config: false, run: (c) => formatInterface(c.context as string, portOf(c)) },
      ],
    },
    'config-vlan': {
      prompt: (h, s) => `${h}(conf-if-vl-${String(s.context)})# `,
      parent: 'config',
      config: true,
      inherit: true,
      commands: [
        // A VLAN interface's shutdown stops routed traffic only; the L2 VLAN is not HIL's business there.
        { pattern: 'no shutdown', run: () => {} },
        { pattern: 'show configuration', config: false, run: (c) => formatVlanInterface(c.context as number) },
      ],
    },
  },
};

export function newOs10State(o: EmulatorOptions): DeviceState<Os10Port> {
  return new DeviceState<Os10Port>({
    ports: o.ports,
    freshPort,
    effective: os10Effective,
    defaultVlans: [1],
    stateFile: o.stateFile,
    backing: o.backing,
    faults: o.faults,
  });
}

export function startOs10(o: EmulatorOptions): Promise<CliEmulator<Os10Port>> {
  return startCliEmulator({ vendor: 'os10', grammar: os10Grammar, state: newOs10State(o), options: o });
}

export const os10Fixture: VendorFixture = {
  vendor: 'os10',
  type: OS10_TYPE,
  transport: 'ssh',
  ports: OS10_PORTS,
  // A port beyond the panel, a unit that is not stacked, and a breakout subport of a port not broken out.
  missingPorts: ['ethernet1/1/99', 'ethernet3/1/1', 'ethernet1/1/1:1'],
  badPortNames: ['', 'eth1/1/1', 'ethernet1/1', 'gi1/0/1', 'Ethernet 1/1/1', 'ethernet 1/1/1', 'ethernet1/1/1 ', 'ethernet1/1/1:', 'port-channel1', 'vlan100'],
  start: (o) => startOs10(o),
  fields: (e, o) => ({ hostname: e.host, ssh_port: e.port, username: o.username, password: o.password }),
  // Upstream had no OS10 driver: this is the body an upstream-style client sends for the new type.
  upstreamBody: { hostname: 'os10.example.com', username: 'admin', password: 'admin' },
  invalidVlan: { vlan: 4094, message: /% Error: Illegal parameter\./ },
  missingPortMessage: /% Error: Interface ethernet\S+ does not exist\./,
  configLockedMessage: /% Error: Configuration is locked by another session\./,
  untouched: {
    reads: [{ channel: 'vlan/native', networkId: '1' }],
    why: 'OS10 ships every L2 port as an access port of the default VLAN 1 ("switchport access vlan 1"), and the driver reports what the switch says; hil-admin network verify --fix isolates such ports',
  },
};
