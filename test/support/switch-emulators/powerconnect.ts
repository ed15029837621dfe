/**
 * An emulated Dell PowerConnect 55xx (5524/5548, firmware 4.x CLI): SSH
 * with the switch's own "User Name:" / "Password:" dialog after the
 * handshake, "console#" / "console(config)#" / "console(config-if)#" /
 * "console(config-vlan)#" prompts, keyword abbreviation, the pager "More:
 * <space>,  Quit: q or CTRL+Z, One line: <return> " until `terminal
 * datadump`, and the refusals "% Unrecognized command", "% Incomplete
 * command", "% bad parameter value" (a port or value the switch does not
 * have), "VLAN was not created by user", "Configuration Database locked by
 * another application - try later".
 *
 * The VLAN model (per port: mode, access VLAN, trunk native VLAN and
 * allowed list, general PVID and members, shutdown):
 * - a fresh port is an access port on VLAN 1, the only VLAN that exists;
 * - VLANs are created and deleted in `vlan database`; a port can be given
 *   only VLANs that exist ("VLAN was not created by user"); a VLAN deleted
 *   later stays in the port's configuration, shown "(Inactive)", and is not
 *   carried;
 * - a trunk carries its native VLAN untagged (none after `switchport trunk
 *   native vlan none`) and its allowed VLANs tagged; a fresh trunk allows
 *   none beyond its native VLAN 1;
 * - VLAN IDs run from 1 to 4093 here (4094 and up: "% bad parameter
 *   value"). That bound is this emulator's reading of Dell's references,
 *   not checked on a device.
 * Written from Dell's public 55xx documentation and the Marvell-family CLI
 * it shares with other vendors; the show layouts follow the device's, field
 * for field where the driver reads them.
 */
import { POWERCONNECT_TYPE, POWERCONNECT_VLANS } from '../../../src/drivers/switch/powerconnect.ts';
import { formatVlanList, NO_VLANS, portVlans, type PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { startCliEmulator, VendorError, type CliEmulator, type CliGrammar, type CommandContext } from './cli-engine.ts';
import { canonicalPort, generalAllowedCommands, minus, splitExisting, union, vlanArg, vlanListArg } from './dell-shared.ts';
import { DeviceState } from './device-state.ts';
import type { EmulatorOptions, VendorFixture } from './model.ts';

export interface PowerconnectPort {
  mode: 'access' | 'trunk' | 'general';
  /** null after `switchport access vlan none`. */
  access: number | null;
  /** null after `switchport trunk native vlan none`. */
  native: number | null;
  allowed: number[];
  pvid: number | null;
  generalUntagged: number[];
  generalTagged: number[];
  shutdown: boolean;
}

export const POWERCONNECT_WORDS = {
  unrecognized: '% Unrecognized command',
  incomplete: '% Incomplete command',
  ambiguous: '% Ambiguous command',
  badValue: '% bad parameter value',
  notCreated: 'VLAN was not created by user',
  locked: 'Configuration Database locked by another application - try later',
  pager: 'More: <space>,  Quit: q or CTRL+Z, One line: <return> ',
  overwrite: 'Overwrite file [startup-config] ?[Yes/press any key for no]',
} as const;

const freshPort = (): PowerconnectPort => ({ mode: 'access', access: 1, native: 1, allowed: [], pvid: 1, generalUntagged: [], generalTagged: [], shutdown: false });

/** What a 55xx port forwards: only VLANs that exist, nothing when shut down. */
export function powerconnectEffective(p: PowerconnectPort, vlans: ReadonlySet<number>): PortVlans {
  if (p.shutdown) return NO_VLANS;
  const live = (v: number | null): v is number => v !== null && vlans.has(v);
  switch (p.mode) {
    case 'access':
      return live(p.access) ? portVlans(p.access, []) : NO_VLANS;
    case 'trunk':
      return portVlans(live(p.native) ? p.native : null, p.allowed.filter(live));
    case 'general':
      return portVlans(live(p.pvid) && p.generalUntagged.includes(p.pvid) ? p.pvid : null, p.generalTagged.filter(live));
  }
}

type Ctx = CommandContext<PowerconnectPort>;

const thePort = (c: Ctx) => c.state.port(c.context as string)!;

/** A port argument: the port, or the switch's refusal. */
function portArg(c: Ctx, words: string): string {
  const port = canonicalPort(words);
  if (port === null) c.invalid('port');
  if (!c.state.port(port)) throw new VendorError(POWERCONNECT_WORDS.badValue);
  return port;
}

function vlansGiven(text: string): number[] {
  const list = vlanListArg(text, POWERCONNECT_VLANS);
  if (!list) throw new VendorError(POWERCONNECT_WORDS.badValue);
  return list;
}

/** A VLAN a port is given must have been created. */
function existing(c: Ctx, list: number[]): number[] {
  if (list.some((v) => !c.state.vlans.has(v))) throw new VendorError(POWERCONNECT_WORDS.notCreated);
  return list;
}

/** "none" or a VLAN that exists. */
function vlanOrNone(c: Ctx, text: string): number | null {
  if (/^none$/i.test(text)) return null;
  const v = vlanArg(text, POWERCONNECT_VLANS);
  if (v === null) throw new VendorError(POWERCONNECT_WORDS.badValue);
  return existing(c, [v])[0]!;
}

// ---- show output ----

function vlanValue(v: number | null, vlans: ReadonlySet<number>): string {
  if (v === null) return 'none';
  return vlans.has(v) ? String(v) : `${v} (Inactive)`;
}

/** A list value: the VLANs that exist on the key's line, those that do not on an indented line marked "(Inactive)". */
function listLines(key: string, list: number[], vlans: ReadonlySet<number>): string[] {
  const { active, inactive } = splitExisting(list, vlans);
  const head = `${key}: `;
  if (!active.length && !inactive.length) return [`${head}none`];
  const out: string[] = [];
  if (active.length) out.push(head + formatVlanList(active));
  if (inactive.length) out.push(`${active.length ? ' '.repeat(head.length) : head}${formatVlanList(inactive)} (Inactive)`);
  return out;
}

export function showSwitchport(port: string, p: PowerconnectPort, vlans: ReadonlySet<number>): string[] {
  const trunkEnabled = p.native === null ? p.allowed : union(p.allowed, [p.native]);
  const generalMembers = union(p.generalUntagged, p.generalTagged);
  return [
    `Name: ${port}`,
    'Switchport: enable',
    `Administrative Mode: ${p.mode}`,
    `Operational Mode: ${p.shutdown ? 'down' : 'up'}`,
    `Access Mode VLAN: ${vlanValue(p.access, vlans)}`,
    'Access Multicast TV VLAN: none',
    `Trunking Native Mode VLAN: ${vlanValue(p.native, vlans)}`,
    ...listLines('Trunking VLANs Enabled', trunkEnabled, vlans),
    `General PVID: ${vlanValue(p.pvid, vlans)}`,
    ...listLines('General VLANs Enabled', generalMembers, vlans),
    ...listLines('General Egress Tagged VLANs Enabled', p.generalTagged, vlans),
    'General Forbidden VLANs: none',
    'General Ingress Filtering: enabled',
    'General Acceptable Frame Type: all',
    'General GVRP status: disabled',
    'General GVRP VLANs: none',
    'Private-vlan promiscuous-association primary VLAN: none',
    'Private-vlan promiscuous-association Secondary VLANs Enabled: none',
    'Private-vlan host-association primary VLAN: none',
    'Private-vlan host-association Secondary VLAN Enabled: none',
    'DVA: disable',
    '',
    'Classification rules:',
    '',
    'Classification type    Group ID     VLAN ID',
    '-------------------    --------     -------',
    '',
  ];
}

function showVlan(state: DeviceState<PowerconnectPort>): string[] {
  const out = ['', 'Vlan       Name                   Ports                Type     Authorization', '---- ----------------- --------------------------- ------------ -------------'];
  for (const v of [...state.vlans].sort((a, b) => a - b)) {
    const ports = [...state.ports].filter(([, p]) => powerconnectEffective(p, state.vlans).native === v || powerconnectEffective(p, state.vlans).tagged.includes(v)).map(([n]) => n);
    out.push(`${String(v).padStart(4)} ${String(v).padStart(10).padEnd(17)} ${ports.join(',').padEnd(27)} ${(v === 1 ? 'Default' : 'permanent').padEnd(12)} Required`);
  }
  return [...out, ''];
}

const stamp = () => new Date().toISOString().replace(/^(\d+)-(\d+)-(\d+)T([\d:]+).*$/, (_, y, mo, d, t) => `${d}-${['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][Number(mo) - 1]}-${y} ${t}`);

// ---- the grammar ----

export const powerconnectGrammar: CliGrammar<PowerconnectPort> = {
  hostname: 'console',
  start: 'exec',
  builtins: { exit: true, end: true, do: true },
  pager: { prompt: POWERCONNECT_WORDS.pager, lines: 24 },
  login: { username: 'User Name:', password: 'Password:', failed: ['', 'Authentication failed', ''], attempts: 3 },
  messages: {
    invalid: () => POWERCONNECT_WORDS.unrecognized,
    incomplete: () => POWERCONNECT_WORDS.incomplete,
    ambiguous: () => POWERCONNECT_WORDS.ambiguous,
    configLocked: POWERCONNECT_WORDS.locked,
  },
  modes: {
    exec: {
      prompt: (h) => `${h}#`,
      commands: [
        { pattern: 'terminal datadump', run: (c) => void (c.session.paging = false) },
        { pattern: 'no terminal datadump', run: (c) => void (c.session.paging = true) },
        { pattern: 'configure', run: (c) => c.enter('config') },
        { pattern: 'configure terminal', run: (c) => c.enter('config') },
        {
          pattern: 'show interfaces switchport <port...>',
          run: (c) => {
            const port = portArg(c, c.args.port!);
            return showSwitchport(port, c.state.port(port)!, c.state.vlans);
          },
        },
        { pattern: 'show vlan', run: (c) => showVlan(c.state) },
        {
          pattern: 'copy running-config startup-config',
          async run(c) {
            const key = await c.askKey(POWERCONNECT_WORDS.overwrite);
            if (!/^y/i.test(key)) return ['', 'Copy operation aborted', ''];
            c.state.save();
            return [
              `....${stamp()} %COPY-I-FILECPY: Files Copy - source URL running-config destination URL flash://startup-config`,
              `${stamp()} %COPY-N-TRAP: The copy operation was completed successfully`,
              'Copy succeeded',
            ];
          },
        },
      ],
    },
    config: {
      prompt: (h) => `${h}(config)#`,
      parent: 'exec',
      config: true,
      commands: [
        { pattern: 'interface <port...>', config: false, run: (c) => c.enter('config-if', portArg(c, c.args.port!)) },
        { pattern: 'vlan database', config: false, run: (c) => c.enter('config-vlan') },
      ],
    },
    'config-vlan': {
      prompt: (h) => `${h}(config-vlan)#`,
      parent: 'config',
      config: true,
      commands: [
        { pattern: 'vlan <vlans>', run: (c) => void vlansGiven(c.args.vlans!).forEach((v) => c.state.vlans.add(v)) },
        {
          pattern: 'no vlan <vlans>',
          run: (c) => {
            const list = vlansGiven(c.args.vlans!);
            if (list.includes(1)) throw new VendorError(POWERCONNECT_WORDS.badValue);
            for (const v of list) c.state.vlans.delete(v);
          },
        },
      ],
    },
    'config-if': {
      prompt: (h) => `${h}(config-if)#`,
      parent: 'config',
      config: true,
      inherit: true,
      commands: [
        { pattern: 'switchport mode access', run: (c) => void (thePort(c).mode = 'access') },
        { pattern: 'switchport mode trunk', run: (c) => void (thePort(c).mode = 'trunk') },
        { pattern: 'switchport mode general', run: (c) => void (thePort(c).mode = 'general') },
        { pattern: 'switchport access vlan <vlan>', run: (c) => void (thePort(c).access = vlanOrNone(c, c.args.vlan!)) },
        { pattern: 'no switchport access vlan', run: (c) => void (thePort(c).access = 1) },
        {
          pattern: 'switchport trunk allowed vlan add <vlans>',
          run: (c) => {
            const p = thePort(c);
            p.allowed = union(p.allowed, existing(c, vlansGiven(c.args.vlans!)));
          },
        },
        {
          pattern: 'switchport trunk allowed vlan remove <vlans>',
          run: (c) => {
            const p = thePort(c);
            p.allowed = minus(p.allowed, vlansGiven(c.args.vlans!));
          },
        },
        { pattern: 'switchport trunk allowed vlan none', run: (c) => void (thePort(c).allowed = []) },
        { pattern: 'switchport trunk native vlan <vlan>', run: (c) => void (thePort(c).native = vlanOrNone(c, c.args.vlan!)) },
        { pattern: 'no switchport trunk native vlan', run: (c) => void (thePort(c).native = 1) },
        { pattern: 'switchport general pvid <vlan>', run: (c) => void (thePort(c).pvid = vlanOrNone(c, c.args.vlan!)) },
        { pattern: 'no switchport general pvid', run: (c) => void (thePort(c).pvid = 1) },
        // Members added must exist; any may be removed.
        ...generalAllowedCommands(thePort, { added: (c) => existing(c, vlansGiven(c.args.vlans!)), removed: (c) => vlansGiven(c.args.vlans!) }),
        { pattern: 'shutdown', run: (c) => void (thePort(c).shutdown = true) },
        { pattern: 'no shutdown', run: (c) => void (thePort(c).shutdown = false) },
      ],
    },
  },
};

export function startPowerconnect(o: EmulatorOptions): Promise<CliEmulator<PowerconnectPort>> {
  const state = new DeviceState<PowerconnectPort>({ ports: o.ports, freshPort, effective: powerconnectEffective, stateFile: o.stateFile, backing: o.backing, faults: o.faults });
  return startCliEmulator({ vendor: 'powerconnect', grammar: powerconnectGrammar, state, options: o });
}

export const POWERCONNECT_PORTS = Array.from({ length: 16 }, (_, i) => `gi1/0/${i + 1}`);

export const powerconnectFixture: VendorFixture = {
  vendor: 'powerconnect',
  type: POWERCONNECT_TYPE,
  transport: 'ssh',
  ports: POWERCONNECT_PORTS,
  missingPorts: ['gi1/0/99', 'gi3/0/1', 'te1/0/9'],
  badPortNames: ['', 'eth0', 'gi1', 'gi1/0/x', 'gi1/0/1 ', 'Ethernet1/1', 'gi1/0/1/1/1'],
  start: startPowerconnect,
  fields: (e, { username, password }) => ({ hostname: e.host, username, password, ssh_port: e.port, host_key: e.hostKeyFingerprint }),
  upstreamBody: { hostname: 'switch.example.com', username: 'admin', password: 'secret' },
  invalidVlan: { vlan: 4094, message: /% bad parameter value/ },
  missingPortMessage: /% bad parameter value/,
  configLockedMessage: /Configuration Database locked by another application - try later/,
  untouched: {
    reads: [{ channel: 'vlan/native', networkId: '1' }],
    why: 'a factory-default PowerConnect port is an access port on the default VLAN 1, and the driver says so (native 1); `hil-admin network verify --fix` isolates such ports',
  },
};
