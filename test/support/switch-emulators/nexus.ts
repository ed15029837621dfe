/**
 * An emulated Cisco Nexus (NX-OS, as on the 3500/5500 upstream HIL was
 * tested on), written from Cisco's public NX-OS configuration guides and
 * command references and public captures of NX-OS output:
 *
 * - prompts "switch# ", "switch(config)# ", "switch(config-if)# ",
 *   "switch(config-vlan)# "; `configure terminal`; `interface ethernet1/1`
 *   (also "int e1/1", "interface Ethernet 1/1"); keyword abbreviation;
 *   `exit`, `end`, `do`;
 * - `switchport`, `no switchport`, `switchport mode access|trunk`,
 *   `switchport access vlan N`, `switchport trunk native vlan N`,
 *   `switchport trunk allowed vlan <list>|add|remove|except|none|all`,
 *   `shutdown`, `description`; `vlan <list>` (creates), `no vlan <list>`;
 * - `show interface <if> switchport`, `show vlan [brief]`,
 *   `show running-config [interface <if>]`, `terminal length N` (0: no
 *   paging; otherwise "--More--" in reverse video), `copy running-config
 *   startup-config` ("Copy complete.");
 * - refusals as NX-OS words them: "% Invalid command at '^' marker.",
 *   "% Incomplete command at '^' marker.", "% Ambiguous command at '^'
 *   marker." (each under a "^" line), "Invalid range at '^' marker." for an
 *   interface the switch does not have, "Invalid interface format at '^'
 *   marker." for a name that is no interface.
 *
 * The VLAN model: VLAN 1 exists and cannot be deleted; VLANs 3968-4094 are
 * reserved for internal use (the NX-OS default) and cannot be created; a
 * port ships as a layer-2 access port on VLAN 1 with the trunk defaults
 * native 1, allowed 1-4094. What a port forwards (nexusEffective) follows
 * NX-OS: nothing when shut or routed (`no switchport`); an access port its
 * access VLAN if it exists; a trunk the allowed VLANs that exist, the native
 * VLAN untagged only when it exists and is allowed. A VLAN that was never
 * created forwards nothing, which is what makes the dummy VLAN work.
 *
 * Not verified against a real Nexus (no hardware here): the exact words
 * of the reserved-VLAN refusal, of `no vlan 1`, and of a locked
 * configuration. The latter follows NX-OS's "Configuration update aborted:"
 * refusals; NX-OS locks configuration with `terminal lock` (10.x) and
 * during commits of configuration sessions.
 */
import { SwitchError } from '../../../src/errors.ts';
import { NEXUS_TYPE } from '../../../src/drivers/switch/nexus.ts';
import { formatVlanList, MAX_VLAN, NO_VLANS, parseVlanList, portVlans, type PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { caret, startCliEmulator, terminalLength, VendorError, type CliEmulator, type CliGrammar, type CommandContext } from './cli-engine.ts';
import { tokenize } from './cli-match.ts';
import { DeviceState } from './device-state.ts';
import type { EmulatorOptions, VendorFixture } from './model.ts';

/** One port's configuration (JSON, kept in the state file). */
export interface NexusPort {
  /** `switchport` (layer 2) or `no switchport` (routed). */
  switchport: boolean;
  mode: 'access' | 'trunk';
  accessVlan: number;
  nativeVlan: number;
  /** The allowed list as NX-OS prints it: "1-4094", "10,20-30", "none". */
  allowed: string;
  shutdown: boolean;
  description?: string;
}

export const NEXUS_PORTS = Array.from({ length: 16 }, (_, i) => `Ethernet1/${i + 1}`);

/** NX-OS's default reserved block: internal VLANs no one may create, change or delete. */
export const RESERVED_FIRST = 3968;
export const RESERVED_LAST = 4094;
export const isReserved = (v: number) => v >= RESERVED_FIRST && v <= RESERVED_LAST;

const ALL_VLANS = `1-${MAX_VLAN}`;

export const freshNexusPort = (): NexusPort => ({ switchport: true, mode: 'access', accessVlan: 1, nativeVlan: 1, allowed: ALL_VLANS, shutdown: false });

/** What a port forwards, by NX-OS's rules (see the head of this file). */
export function nexusEffective(p: NexusPort, vlans: ReadonlySet<number>): PortVlans {
  if (!p.switchport || p.shutdown) return NO_VLANS;
  if (p.mode === 'access') return portVlans(vlans.has(p.accessVlan) ? p.accessVlan : null, []);
  const carried = parseVlanList(p.allowed).filter((v) => vlans.has(v));
  return portVlans(carried.includes(p.nativeVlan) ? p.nativeVlan : null, carried);
}

// ——— show output ———

/** How `show` names a VLAN beside its number: "1 (default)", "80 (VLAN0080)", "100 (Vlan not created)". */
function vlanLabel(v: number, vlans: ReadonlySet<number>): string {
  if (v === 1) return '1 (default)';
  return vlans.has(v) ? `${v} (VLAN${String(v).padStart(4, '0')})` : `${v} (Vlan not created)`;
}

/** A long VLAN list wraps after a comma, continuing on indented lines. */
function wrapList(head: string, list: string, width = 80, indent = '    '): string[] {
  const out: string[] = [];
  let line = head;
  let first = true;
  for (const part of list.split(',')) {
    if (!first && line.length + part.length + 1 > width) {
      out.push(`${line},`);
      line = indent + part;
    } else line += (first ? '' : ',') + part;
    first = false;
  }
  out.push(line);
  return out;
}

/** `show interface <if> switchport`, as an NX-OS 3500/5500 prints it. */
export function formatSwitchport(name: string, p: NexusPort, vlans: ReadonlySet<number>): string[] {
  if (!p.switchport) return [`Name: ${name}`, '  Switchport: Disabled'];
  return [
    `Name: ${name}`,
    '  Switchport: Enabled',
    '  Switchport Monitor: Not enabled',
    `  Operational Mode: ${p.mode}`,
    `  Access Mode VLAN: ${vlanLabel(p.accessVlan, vlans)}`,
    `  Trunking Native Mode VLAN: ${vlanLabel(p.nativeVlan, vlans)}`,
    ...wrapList('  Trunking VLANs Allowed: ', p.allowed),
    '  Administrative private-vlan primary host-association: none',
    '  Administrative private-vlan secondary host-association: none',
    '  Administrative private-vlan primary mapping: none',
    '  Administrative private-vlan secondary mapping: none',
    '  Administrative private-vlan trunk native VLAN: none',
    '  Administrative private-vlan trunk encapsulation: dot1q',
    '  Administrative private-vlan trunk normal VLANs: none',
    '  Administrative private-vlan trunk private VLANs: none',
    '  Operational private-vlan: none',
    '  Unknown unicast blocked: disabled',
    '  Unknown multicast blocked: disabled',
  ];
}

/** "Ethernet1/1" → "Eth1/1", as `show vlan` lists ports. */
const shortName = (port: string) => port.replace(/^Ethernet/, 'Eth');

/** `show vlan brief`: each VLAN, its name, status, and the ports forwarding it (four to a line). */
export function formatVlanBrief(state: DeviceState<NexusPort>): string[] {
  const out = ['', 'VLAN Name                             Status    Ports', '---- -------------------------------- --------- -------------------------------'];
  const carriers = new Map<number, string[]>();
  for (const name of state.ports.keys()) {
    const e = state.effective(name);
    for (const v of [...(e.native === null ? [] : [e.native]), ...e.tagged]) carriers.set(v, [...(carriers.get(v) ?? []), shortName(name)]);
  }
  for (const v of [...state.vlans].sort((a, b) => a - b)) {
    const ports = carriers.get(v) ?? [];
    const rows: string[] = [];
    for (let i = 0; i < ports.length; i += 4) rows.push(ports.slice(i, i + 4).join(', ') + (i + 4 < ports.length ? ',' : ''));
    const vname = v === 1 ? 'default' : `VLAN${String(v).padStart(4, '0')}`;
    out.push(`${String(v).padEnd(4)} ${vname.padEnd(32)} ${'active'.padEnd(9)} ${rows[0] ?? ''}`.trimEnd());
    for (const r of rows.slice(1)) out.push(`${' '.repeat(48)}${r}`);
  }
  return out;
}

/** The interface's lines of the running configuration (defaults left out, as NX-OS does). */
export function interfaceConfig(name: string, p: NexusPort): string[] {
  const out = [`interface ${name}`];
  if (p.description) out.push(`  description ${p.description}`);
  if (!p.switchport) out.push('  no switchport');
  if (p.mode === 'trunk') out.push('  switchport mode trunk');
  if (p.accessVlan !== 1) out.push(`  switchport access vlan ${p.accessVlan}`);
  if (p.nativeVlan !== 1) out.push(`  switchport trunk native vlan ${p.nativeVlan}`);
  if (p.allowed !== ALL_VLANS) out.push(`  switchport trunk allowed vlan ${p.allowed}`);
  if (p.shutdown) out.push('  shutdown');
  return out;
}

function runningConfig(state: DeviceState<NexusPort>, hostname: string, only?: string): string[] {
  const head = ['', `!Command: show running-config${only ? ` interface ${only}` : ''}`, `!Time: ${new Date().toUTCString()}`, '', 'version 7.0(3)I7(9)', ''];
  if (only) return [...head, ...interfaceConfig(only, state.port(only)!), ''];
  const vlans = [...state.vlans].sort((a, b) => a - b);
  return [...head, `hostname ${hostname}`, '', `vlan ${formatVlanList(vlans)}`, '', ...[...state.ports.entries()].flatMap(([n, p]) => [...interfaceConfig(n, p), '']), ''];
}

// ——— refusals ———

/** A marker under word `token` of the line (prompt included), and NX-OS's message. */
function markedError(c: CommandContext<NexusPort>, token: number, message: string): VendorError {
  const prompt = nexusGrammar.modes[c.session.mode]!.prompt(c.hostname, c.session);
  const tokens = tokenize(c.line);
  const column = prompt.length + (tokens[token]?.index ?? c.line.trimEnd().length);
  return new VendorError([caret(column), message].join('\n'));
}

const reservedError = (v: number) => new VendorError(`ERROR: VLAN ${v} is reserved for internal use (VLANs ${RESERVED_FIRST}-${RESERVED_LAST})`);

/** "ethernet1/1", "Ethernet 1/1", "e1/1", "eth1/1" → "Ethernet1/1"; anything else is no interface name. */
export function interfaceName(typed: string): string | undefined {
  const m = /^e(?:t(?:h(?:e(?:r(?:n(?:e(?:t)?)?)?)?)?)?)?\s*(\d+\/\d+(?:\/\d+)?)$/i.exec(typed.trim());
  return m ? `Ethernet${m[1]}` : undefined;
}

/** The port typed at word `token` onwards, or NX-OS's refusal. */
function existingPort(c: CommandContext<NexusPort>, typed: string, token: number): string {
  const name = interfaceName(typed);
  if (!name) throw markedError(c, token, "Invalid interface format at '^' marker.");
  if (!c.state.port(name)) throw markedError(c, token, "Invalid range at '^' marker.");
  return name;
}

/** A VLAN number for `switchport … vlan N`. */
function vlanNumber(c: CommandContext<NexusPort>, text: string, token: number): number {
  const v = Number(text);
  if (!/^\d+$/.test(text) || v < 1 || v > MAX_VLAN) throw markedError(c, token, `% Invalid number, range is (1:${MAX_VLAN}) at '^' marker.`);
  return v;
}

/** A VLAN list ("10,20-30") for `vlan` and `switchport trunk allowed vlan`. */
function vlanList(c: CommandContext<NexusPort>, text: string, token: number): number[] {
  let list: number[];
  try {
    list = parseVlanList(text);
  } catch (err) {
    if (!(err instanceof SwitchError)) throw err;
    throw markedError(c, token, "% Invalid command at '^' marker.");
  }
  if (!list.length || list.some((v) => v < 1 || v > MAX_VLAN)) throw markedError(c, token, `% Invalid number, range is (1:${MAX_VLAN}) at '^' marker.`);
  return list;
}

const port = (c: CommandContext<NexusPort>) => c.state.port(c.context as string)!;
const setAllowed = (p: NexusPort, vlans: Iterable<number>) => {
  p.allowed = formatVlanList(vlans) || 'none';
};

// ——— the grammar ———

const VLAN_ARG = /^\d[\d,-]*$/;

export const nexusGrammar: CliGrammar<NexusPort> = {
  hostname: 'switch',
  start: 'exec',
  builtins: { exit: true, end: true, do: true },
  // NX-OS shows its pager prompt in reverse video.
  pager: { prompt: '\x1b[7m--More--\x1b[m', lines: 24 },
  banner: ['Cisco Nexus Operating System (NX-OS) Software', 'TAC support: http://www.cisco.com/tac'],
  messages: {
    invalid: (p) => [caret(p.column), "% Invalid command at '^' marker."],
    incomplete: (p) => [caret(p.column), "% Incomplete command at '^' marker."],
    ambiguous: (p) => [caret(p.column), "% Ambiguous command at '^' marker."],
    configLocked: 'Configuration update aborted: the configuration is locked by another session',
  },
  modes: {
    exec: {
      prompt: (h) => `${h}# `,
      commands: [
        terminalLength((c, n) => {
          if (n > 511) throw markedError(c, 2, "% Invalid number, range is (0:511) at '^' marker.");
        }),
        { pattern: 'terminal width <cols>', accept: { cols: /^\d+$/ }, run: () => {} },
        { pattern: 'configure terminal', run: (c) => c.enter('config') },
        { pattern: 'show interface <if> switchport', run: (c) => {
          const name = existingPort(c, c.args.if!, 2);
          return formatSwitchport(name, c.state.port(name)!, c.state.vlans);
        } },
        { pattern: 'show interface <type> <num> switchport', accept: { type: /^[a-z-]+$/i, num: /^\d+\/\d+(\/\d+)?$/ }, run: (c) => {
          const name = existingPort(c, `${c.args.type} ${c.args.num}`, 2);
          return formatSwitchport(name, c.state.port(name)!, c.state.vlans);
        } },
        { pattern: 'show vlan brief', run: (c) => formatVlanBrief(c.state) },
        { pattern: 'show vlan', run: (c) => formatVlanBrief(c.state) },
        { pattern: 'show running-config', run: (c) => runningConfig(c.state, c.hostname) },
        { pattern: 'show running-config interface <if...>', run: (c) => runningConfig(c.state, c.hostname, existingPort(c, c.args.if!, 2)) },
        { pattern: 'copy running-config startup-config', run: (c) => {
          c.state.save();
          return ['[########################################] 100%', 'Copy complete.'];
        } },
      ],
    },
    config: {
      prompt: (h) => `${h}(config)# `,
      parent: 'exec',
      config: true,
      commands: [
        { pattern: 'interface <if...>', run: (c) => c.enter('config-if', existingPort(c, c.args.if!, 1)) },
        { pattern: 'vlan <vlans>', accept: { vlans: VLAN_ARG }, run: (c) => {
          const list = vlanList(c, c.args.vlans!, 1);
          const reserved = list.find(isReserved);
          if (reserved !== undefined) throw reservedError(reserved);
          for (const v of list) c.state.vlans.add(v);
          c.enter('config-vlan', list);
        } },
        { pattern: 'no vlan <vlans>', accept: { vlans: VLAN_ARG }, run: (c) => {
          const list = vlanList(c, c.args.vlans!, 2);
          const reserved = list.find(isReserved);
          if (reserved !== undefined) throw reservedError(reserved);
          if (list.includes(1)) throw new VendorError('ERROR: Default VLAN 1 may not be deleted');
          // Deleting a VLAN that does not exist is silently accepted.
          for (const v of list) c.state.vlans.delete(v);
        } },
      ],
    },
    'config-vlan': {
      prompt: (h) => `${h}(config-vlan)# `,
      parent: 'config',
      config: true,
      inherit: true,
      commands: [],
    },
    'config-if': {
      prompt: (h) => `${h}(config-if)# `,
      parent: 'config',
      config: true,
      inherit: true,
      commands: [
        { pattern: 'switchport', run: (c) => void (port(c).switchport = true) },
        { pattern: 'no switchport', run: (c) => void (port(c).switchport = false) },
        { pattern: 'switchport mode access', run: (c) => void (port(c).mode = 'access') },
        { pattern: 'switchport mode trunk', run: (c) => void (port(c).mode = 'trunk') },
        { pattern: 'no switchport mode', run: (c) => void (port(c).mode = 'access') },
        { pattern: 'no switchport mode trunk', run: (c) => void (port(c).mode = 'access') },
        { pattern: 'switchport access vlan <vlan>', run: (c) => void (port(c).accessVlan = vlanNumber(c, c.args.vlan!, 3)) },
        { pattern: 'no switchport access vlan', run: (c) => void (port(c).accessVlan = 1) },
        { pattern: 'switchport trunk native vlan <vlan>', run: (c) => void (port(c).nativeVlan = vlanNumber(c, c.args.vlan!, 4)) },
        { pattern: 'no switchport trunk native vlan', run: (c) => void (port(c).nativeVlan = 1) },
        { pattern: 'switchport trunk allowed vlan <vlans>', accept: { vlans: VLAN_ARG }, run: (c) => setAllowed(port(c), vlanList(c, c.args.vlans!, 4)) },
        { pattern: 'switchport trunk allowed vlan add <vlans>', accept: { vlans: VLAN_ARG }, run: (c) => {
          const p = port(c);
          setAllowed(p, [...parseVlanList(p.allowed), ...vlanList(c, c.args.vlans!, 5)]);
        } },
        { pattern: 'switchport trunk allowed vlan remove <vlans>', accept: { vlans: VLAN_ARG }, run: (c) => {
          const p = port(c);
          const gone = new Set(vlanList(c, c.args.vlans!, 5));
          setAllowed(p, parseVlanList(p.allowed).filter((v) => !gone.has(v)));
        } },
        { pattern: 'switchport trunk allowed vlan except <vlans>', accept: { vlans: VLAN_ARG }, run: (c) => {
          const gone = new Set(vlanList(c, c.args.vlans!, 5));
          setAllowed(port(c), parseVlanList(ALL_VLANS).filter((v) => !gone.has(v)));
        } },
        { pattern: 'switchport trunk allowed vlan none', run: (c) => void (port(c).allowed = 'none') },
        { pattern: 'switchport trunk allowed vlan all', run: (c) => void (port(c).allowed = ALL_VLANS) },
        { pattern: 'no switchport trunk allowed vlan', run: (c) => void (port(c).allowed = ALL_VLANS) },
        { pattern: 'shutdown', run: (c) => void (port(c).shutdown = true) },
        { pattern: 'no shutdown', run: (c) => void (port(c).shutdown = false) },
        { pattern: 'description <text...>', run: (c) => void (port(c).description = c.args.text) },
        { pattern: 'no description', run: (c) => void delete port(c).description },
      ],
    },
  },
};

export function newNexusState(o: EmulatorOptions): DeviceState<NexusPort> {
  return new DeviceState<NexusPort>({
    ports: o.ports,
    freshPort: freshNexusPort,
    effective: nexusEffective,
    defaultVlans: [1],
    stateFile: o.stateFile,
    backing: o.backing,
    faults: o.faults,
  });
}

export function startNexusEmulator(o: EmulatorOptions): Promise<CliEmulator<NexusPort>> {
  return startCliEmulator({ vendor: 'nexus', grammar: nexusGrammar, state: newNexusState(o), options: o });
}

/** The dummy VLAN the fixture registers switches with: a VLAN no test uses for a network. */
export const NEXUS_DUMMY_VLAN = 1999;

export const nexusFixture: VendorFixture = {
  vendor: 'nexus',
  type: NEXUS_TYPE,
  transport: 'ssh',
  ports: NEXUS_PORTS,
  missingPorts: ['Ethernet1/99', 'Ethernet9/1'],
  badPortNames: ['', 'eth1/1', 'Ethernet1/1 ', ' Ethernet1/1', 'gi1/0/1', 'Ethernet1', 'ETHERNET1/1', 'Ethernet1/1/1/1', 'Ethernet1/x', 'port-channel1'],
  start: (o) => startNexusEmulator(o),
  fields: (e, o) => ({ hostname: e.host, ssh_port: e.port, host_key: e.hostKeyFingerprint, username: o.username, password: o.password, dummy_vlan: NEXUS_DUMMY_VLAN }),
  // As upstream's client sends it: dummy_vlan as the string typed on its command line.
  upstreamBody: { type: NEXUS_TYPE, hostname: 'nexus.example.com', username: 'admin', password: 'secret', dummy_vlan: '2222' },
  invalidVlan: { vlan: 4000, message: /VLAN 4000 is reserved for internal use/ },
  missingPortMessage: /Invalid range at '\^' marker\./,
  configLockedMessage: /Configuration update aborted: the configuration is locked by another session/,
  untouched: {
    reads: [{ channel: 'vlan/native', networkId: '1' }],
    why: 'a Nexus port ships as an access port on VLAN 1, which always exists: until HIL first configures it, it forwards VLAN 1 untagged, and getPortNetworks says so, so that network verify --fix isolates it',
  },
};
