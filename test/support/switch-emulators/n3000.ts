/**
 * An emulated Dell N3000 (N3024/N3048, DNOS 6.x CLI): SSH password login to
 * "console>", `enable` to "console#", `configure` to "console(config)#",
 * `interface gi1/0/1` (or Gi1/0/1, gigabitethernet 1/0/1) to
 * "console(config-if-Gi1/0/1)#", `vlan 101` to "console(config-vlan101)#";
 * the "--More-- or (q)uit" pager until `terminal length 0`; DNOS's
 * refusals: a caret and "% Invalid input detected at '^' marker.",
 * "Command not found / Incomplete command. Use ? to list commands.",
 * "Invalid input. Please specify an integer in the range 1 to 4093.",
 * "An invalid interface has been used for this function", "VLAN ID not
 * found.", "Could not configure pvid."; saving asks "Are you sure you want
 * to save? (y/n) " and says "Configuration Saved!".
 *
 * The VLAN model, after Dell's N-Series configuration guide:
 * - a fresh port is an access port on VLAN 1; VLAN IDs are 1..4093;
 * - an access port's VLAN must exist, and when a VLAN is deleted the access
 *   ports on it go back to VLAN 1;
 * - a trunk's allowed list may name VLANs that do not exist (they are
 *   carried once created); a fresh trunk allows every VLAN (1-4093, "All");
 * - a trunk always has a native VLAN (default 1; it cannot be unset:
 *   upstream HIL #870), which must exist, and which it carries untagged only
 *   while that VLAN is in its allowed list;
 * - VLAN 1 cannot be deleted.
 * The refusal for a locked configuration is not documented for DNOS; this
 * emulator prints the PowerConnect family's words for it.
 */
import { N3000_TYPE, N3000_VLANS } from '../../../src/drivers/switch/n3000.ts';
import { formatVlanList, NO_VLANS, parseVlanList, portVlans, type PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { caret, startCliEmulator, terminalLength, VendorError, type CliEmulator, type CliGrammar, type CommandContext } from './cli-engine.ts';
import { canonicalPort, displayPort, generalAllowedCommands, minus, union, vlanArg, vlanListArg } from './dell-shared.ts';
import { DeviceState } from './device-state.ts';
import type { EmulatorOptions, VendorFixture } from './model.ts';

export interface N3000Port {
  mode: 'access' | 'trunk' | 'general';
  access: number;
  native: number;
  /** The trunk allowed list as a VLAN list ("1-4093" fresh, "" for none): compact, as a fresh trunk allows 4093 VLANs. */
  allowed: string;
  pvid: number;
  generalUntagged: number[];
  generalTagged: number[];
  shutdown: boolean;
}

const ALL = `${N3000_VLANS[0]}-${N3000_VLANS[1]}`;

export const N3000_WORDS = {
  invalid: "% Invalid input detected at '^' marker.",
  incomplete: 'Command not found / Incomplete command. Use ? to list commands.',
  ambiguous: "% Ambiguous command at '^' marker.",
  range: `Invalid input. Please specify an integer in the range ${N3000_VLANS[0]} to ${N3000_VLANS[1]}.`,
  badInterface: 'An invalid interface has been used for this function',
  noVlan: 'VLAN ID not found.',
  pvid: 'Could not configure pvid.',
  locked: 'Configuration Database locked by another application - try later',
  pager: '--More-- or (q)uit',
  save: 'Are you sure you want to save? (y/n) ',
} as const;

const freshPort = (): N3000Port => ({ mode: 'access', access: 1, native: 1, allowed: ALL, pvid: 1, generalUntagged: [1], generalTagged: [], shutdown: false });

const listOf = (text: string) => (text === '' ? [] : parseVlanList(text));

/** What an N3000 port forwards. */
export function n3000Effective(p: N3000Port, vlans: ReadonlySet<number>): PortVlans {
  if (p.shutdown) return NO_VLANS;
  switch (p.mode) {
    case 'access':
      return vlans.has(p.access) ? portVlans(p.access, []) : NO_VLANS;
    case 'trunk': {
      const allowed = new Set(listOf(p.allowed));
      const carried = [...vlans].filter((v) => allowed.has(v));
      return portVlans(carried.includes(p.native) ? p.native : null, carried);
    }
    case 'general': {
      const untagged = p.generalUntagged.filter((v) => vlans.has(v));
      return portVlans(untagged.includes(p.pvid) ? p.pvid : null, p.generalTagged.filter((v) => vlans.has(v)));
    }
  }
}

type Ctx = CommandContext<N3000Port>;
const thePort = (c: Ctx) => c.state.port(c.context as string)!;

/** The screen column of argument text `arg` on the line typed at the current prompt. */
function column(c: Ctx, arg: string): number {
  const prompt = n3000Grammar.modes[c.session.mode]!.prompt(c.hostname, c.session);
  return prompt.length + Math.max(0, c.line.lastIndexOf(arg));
}

function outOfRange(c: Ctx, arg: string): never {
  throw new VendorError([caret(column(c, arg)), N3000_WORDS.range].join('\n'));
}

function portArg(c: Ctx, words: string): string {
  const port = canonicalPort(words);
  if (port === null) c.invalid('port');
  if (!c.state.port(port)) throw new VendorError(N3000_WORDS.badInterface);
  return port;
}

function vlansGiven(c: Ctx, text: string): number[] {
  if (!/^[\d,-]+$/.test(text)) c.invalid('vlans');
  return vlanListArg(text, N3000_VLANS) ?? outOfRange(c, text);
}

function vlanGiven(c: Ctx, text: string, name: string): number {
  if (!/^\d+$/.test(text)) c.invalid(name);
  return vlanArg(text, N3000_VLANS) ?? outOfRange(c, text);
}

function existingVlan(c: Ctx, name: string, refusal: string = N3000_WORDS.noVlan): number {
  const v = vlanGiven(c, c.args[name]!, name);
  if (!c.state.vlans.has(v)) throw new VendorError(refusal);
  return v;
}

/** The VLANs argument `<vlans>` of the command typed. */
const namedVlans = (c: Ctx) => vlansGiven(c, c.args.vlans!);

function setAllowed(c: Ctx, f: (now: number[]) => number[]): void {
  const p = thePort(c);
  p.allowed = formatVlanList(f(listOf(p.allowed)));
}

// ---- show output ----

const withDefault = (v: number) => (v === 1 ? '1 (default)' : String(v));

export function showSwitchport(port: string, p: N3000Port): string[] {
  const allowed = p.allowed === ALL ? 'All' : p.allowed;
  const mode = { access: 'Access Mode', trunk: 'Trunk Mode', general: 'General Mode' }[p.mode];
  return [
    '',
    `Port: ${displayPort(port)}`,
    `VLAN Membership Mode: ${mode}`,
    `Access Mode VLAN: ${withDefault(p.access)}`,
    `General Mode PVID: ${withDefault(p.pvid)}`,
    'General Mode Ingress Filtering: Enabled',
    'General Mode Acceptable Frame Type: Admit All',
    'General Mode Dynamically Added VLANs:',
    `General Mode Untagged VLANs: ${formatVlanList(p.generalUntagged)}`,
    `General Mode Tagged VLANs: ${formatVlanList(p.generalTagged)}`,
    'General Mode Forbidden VLANs:',
    `Trunking Mode Native VLAN: ${withDefault(p.native)}`,
    'Trunking Mode Native VLAN Tagging: Disabled',
    `Trunking Mode VLANs Enabled: ${allowed}`,
    'Protected Port: False',
    '',
  ].map((l) => l.trimEnd());
}

function showVlan(state: DeviceState<N3000Port>): string[] {
  const out = ['', 'VLAN   Name                             Ports          Type', '-----  ---------------                  -------------  --------------'];
  for (const v of [...state.vlans].sort((a, b) => a - b)) {
    const members = [...state.ports].filter(([, p]) => {
      const e = n3000Effective(p, state.vlans);
      return e.native === v || e.tagged.includes(v);
    });
    const ports = members.map(([n]) => displayPort(n));
    const name = v === 1 ? 'default' : `VLAN${v}`;
    // The Ports column holds one name a line, the rest on lines of their own, each but the last ending ",".
    const chunks = ports.length ? ports.map((n, i) => (i + 1 < ports.length ? `${n},` : n)) : [''];
    out.push(`${String(v).padEnd(7)}${name.padEnd(33)}${chunks[0]!.padEnd(15)}${v === 1 ? 'Default' : 'Static'}`);
    for (const more of chunks.slice(1)) out.push(`${' '.repeat(40)}${more}`);
  }
  return [...out, ''];
}

// ---- the grammar ----

const exitTo = (mode: string) => ({ pattern: 'exit', config: false, run: (c: Ctx) => c.enter(mode) });

export const n3000Grammar: CliGrammar<N3000Port> = {
  hostname: 'console',
  start: 'user',
  // `exit` is per mode (privileged exec goes back to "console>"); `end` comes back to "console#".
  builtins: { end: true, do: true },
  pager: { prompt: N3000_WORDS.pager, lines: 24 },
  messages: {
    invalid: (p) => [caret(p.column), N3000_WORDS.invalid],
    incomplete: () => N3000_WORDS.incomplete,
    ambiguous: (p) => [caret(p.column), N3000_WORDS.ambiguous],
    configLocked: N3000_WORDS.locked,
  },
  modes: {
    user: {
      prompt: (h) => `${h}>`,
      commands: [
        { pattern: 'enable', run: (c) => c.enter('exec') },
        { pattern: 'exit', run: (c) => c.close() },
        { pattern: 'quit', run: (c) => c.close() },
      ],
    },
    exec: {
      prompt: (h) => `${h}#`,
      commands: [
        exitTo('user'),
        { pattern: 'quit', run: (c) => c.close() },
        terminalLength((c, n) => {
          if (n !== 0 && (n < 5 || n > 48)) throw new VendorError([caret(column(c, c.args.lines!)), 'Invalid input. Please specify an integer in the range 5 to 48.'].join('\n'));
        }),
        { pattern: 'no terminal length', run: (c) => void (c.session.paging = true) },
        { pattern: 'configure', run: (c) => c.enter('config') },
        {
          pattern: 'show interfaces switchport <port...>',
          run: (c) => {
            const port = portArg(c, c.args.port!);
            return showSwitchport(port, c.state.port(port)!);
          },
        },
        { pattern: 'show vlan', run: (c) => showVlan(c.state) },
        {
          pattern: 'copy running-config startup-config',
          async run(c) {
            const key = await c.askKey(['', 'This operation may take a few minutes.', 'Management interfaces will not be available during this time.', '', N3000_WORDS.save].join('\r\n'));
            if (!/^y/i.test(key)) return ['', '', 'Configuration Not Saved!'];
            c.state.save();
            return ['', '', 'Configuration Saved!'];
          },
        },
      ],
    },
    config: {
      prompt: (h) => `${h}(config)#`,
      parent: 'exec',
      config: true,
      commands: [
        exitTo('exec'),
        { pattern: 'interface <port...>', config: false, run: (c) => c.enter('config-if', portArg(c, c.args.port!)) },
        {
          pattern: 'vlan <vlans>',
          run: (c) => {
            const list = vlansGiven(c, c.args.vlans!);
            for (const v of list) c.state.vlans.add(v);
            c.enter('config-vlan', c.args.vlans);
          },
        },
        {
          pattern: 'no vlan <vlans>',
          run: (c) => {
            const list = vlansGiven(c, c.args.vlans!);
            if (list.includes(1)) throw new VendorError('ERROR: The default VLAN cannot be deleted.');
            for (const v of list) c.state.vlans.delete(v);
            // Access ports on a deleted VLAN go back to VLAN 1 (N-Series guide, "Switchport Modes").
            for (const p of c.state.ports.values()) if (list.includes(p.access)) p.access = 1;
          },
        },
      ],
    },
    'config-vlan': {
      prompt: (h, s) => `${h}(config-vlan${String(s.context)})#`,
      parent: 'config',
      config: true,
      inherit: true,
      commands: [exitTo('config'), { pattern: 'name <name...>', run: () => {} }],
    },
    'config-if': {
      prompt: (h, s) => `${h}(config-if-${displayPort(String(s.context))})#`,
      parent: 'config',
      config: true,
      inherit: true,
      commands: [
        exitTo('config'),
        { pattern: 'switchport mode access', run: (c) => void (thePort(c).mode = 'access') },
        { pattern: 'switchport mode trunk', run: (c) => void (thePort(c).mode = 'trunk') },
        { pattern: 'switchport mode general', run: (c) => void (thePort(c).mode = 'general') },
        { pattern: 'no switchport mode', run: (c) => void (thePort(c).mode = 'access') },
        { pattern: 'switchport access vlan <vlan>', run: (c) => void (thePort(c).access = existingVlan(c, 'vlan')) },
        { pattern: 'no switchport access vlan', run: (c) => void (thePort(c).access = 1) },
        {
          pattern: 'switchport trunk allowed vlan <vlans>',
          accept: { vlans: /^[\d,-]+$/ },
          run: (c) => setAllowed(c, () => namedVlans(c)),
        },
        { pattern: 'switchport trunk allowed vlan add <vlans>', run: (c) => setAllowed(c, (now) => union(now, namedVlans(c))) },
        { pattern: 'switchport trunk allowed vlan remove <vlans>', run: (c) => setAllowed(c, (now) => minus(now, namedVlans(c))) },
        { pattern: 'switchport trunk allowed vlan all', run: (c) => void (thePort(c).allowed = ALL) },
        { pattern: 'no switchport trunk allowed vlan', run: (c) => void (thePort(c).allowed = ALL) },
        // A number only: the N3000 has no "native vlan none" (upstream #870).
        { pattern: 'switchport trunk native vlan <vlan>', run: (c) => void (thePort(c).native = existingVlan(c, 'vlan')) },
        { pattern: 'no switchport trunk native vlan', run: (c) => void (thePort(c).native = 1) },
        { pattern: 'switchport general pvid <vlan>', run: (c) => void (thePort(c).pvid = existingVlan(c, 'vlan', N3000_WORDS.pvid)) },
        { pattern: 'no switchport general pvid', run: (c) => void (thePort(c).pvid = 1) },
        ...generalAllowedCommands(thePort, { added: namedVlans, removed: namedVlans }),
        { pattern: 'shutdown', run: (c) => void (thePort(c).shutdown = true) },
        { pattern: 'no shutdown', run: (c) => void (thePort(c).shutdown = false) },
      ],
    },
  },
};

export function startN3000(o: EmulatorOptions): Promise<CliEmulator<N3000Port>> {
  const state = new DeviceState<N3000Port>({ ports: o.ports, freshPort, effective: n3000Effective, stateFile: o.stateFile, backing: o.backing, faults: o.faults });
  return startCliEmulator({ vendor: 'n3000', grammar: n3000Grammar, state, options: o });
}

export const N3000_PORTS = [...Array.from({ length: 12 }, (_, i) => `gi1/0/${i + 1}`), ...Array.from({ length: 4 }, (_, i) => `te1/0/${i + 1}`)];
/** The dummy VLAN the fixture registers switches with. */
export const N3000_DUMMY_VLAN = 4000;

export const n3000Fixture: VendorFixture = {
  vendor: 'n3000',
  type: N3000_TYPE,
  transport: 'ssh',
  ports: N3000_PORTS,
  missingPorts: ['gi1/0/99', 'gi3/0/1', 'te1/0/9'],
  badPortNames: ['', 'eth0', 'gi1', 'gi1/0/x', 'gi1/0/1 ', 'Ethernet1/1', 'gi1/0/1/1/1'],
  start: startN3000,
  fields: (e, { username, password }) => ({ hostname: e.host, username, password, ssh_port: e.port, host_key: e.hostKeyFingerprint, dummy_vlan: N3000_DUMMY_VLAN }),
  // Upstream stored dummy_vlan as a string, and clients send either form.
  upstreamBody: { hostname: 'switch.example.com', username: 'admin', password: 'secret', dummy_vlan: '4000' },
  invalidVlan: { vlan: 4094, message: /Invalid input\. Please specify an integer in the range 1 to 4093\./ },
  missingPortMessage: /An invalid interface has been used for this function/,
  configLockedMessage: /Configuration Database locked by another application - try later/,
  untouched: {
    reads: [{ channel: 'vlan/native', networkId: '1' }],
    why: 'a factory-default N3000 port is an access port on the default VLAN 1, and the driver says so (native 1); `hil-admin network verify --fix` isolates such ports',
  },
};
