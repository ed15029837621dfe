/**
 * Cisco Nexus (NX-OS) over its SSH CLI: upstream's `…/switches/nexus`
 * (hil.ext.switches.nexus, tested upstream on the 3500 and 5500), with
 * upstream's fields (hostname, username, password, dummy_vlan) and the
 * shared CLI extensions (./cli/cli-params.ts).
 *
 * What a port carries is always written whole, as a trunk:
 *
 *   interface <port>
 *     switchport
 *     switchport trunk native vlan <native, or the dummy VLAN>
 *     switchport trunk allowed vlan <native and tagged VLANs, or none>
 *     switchport mode trunk
 *   exit
 *
 * after `vlan <n>` / `exit` for every VLAN the batch uses (NX-OS does not
 * create a VLAN a port names: a trunk allowing a VLAN that was never
 * created forwards nothing on it). The native VLAN and the allowed list go
 * in before the mode, so a port leaving access mode never trunks the
 * default allowed list (1-4094, every VLAN) even for a moment.
 *
 * A trunk forwards its native VLAN untagged only while that VLAN exists and
 * is in the allowed list. "No native VLAN" is therefore native = dummy VLAN
 * with the dummy left out of the allowed list, and "nothing at all" (a
 * reverted port) is allowed none: the port carries nothing whether or not
 * the dummy VLAN exists. (Upstream relied on the dummy VLAN never being
 * created; here its existence does not matter, because it is never allowed.)
 *
 * What a port carries is read from the switch, never from HIL's database:
 * `show interface <port> switchport` (mode, access VLAN, native VLAN,
 * allowed list) and `show vlan brief` (which VLANs exist and are active),
 * combined by the forwarding rules above (see effectiveVlans). An untouched
 * port (access mode, VLAN 1) so reads as native 1, which is what it carries.
 *
 * The differences from upstream's command sequences are listed in
 * docs/compat.md (Nexus).
 */
import { Type } from 'typebox';
import { SwitchError } from '../../errors.ts';
import { MUST } from '../params.ts';
import { TYPE_PREFIX } from './interface.ts';
import { formatVlanList, MAX_VLAN, MIN_VLAN, parseVlanList, portVlans, NO_VLANS, type PortVlans } from './port-vlans.ts';
import { cliSwitchDriver, type CliDriverContext, type CliDriverSpec, type CliSwitchDriver } from './cli/cli-driver.ts';
import type { CliFields } from './cli/cli-params.ts';
import type { CliDialect, RunCommand } from './cli/dialect.ts';

export const NEXUS_TYPE = `${TYPE_PREFIX}nexus`;

/** Ethernet<slot>/<port> or Ethernet<chassis>/<slot>/<port> (a FEX port), as upstream. */
export const NEXUS_PORT_NAME = /^(E|e)thernet\d+\/\d+(\/\d+)?$/;

export interface NexusParams extends CliFields {
  /** A VLAN set as the native VLAN of ports that must carry no untagged traffic. */
  dummy_vlan: number;
}

const DUMMY_MUST = `an integer from ${MIN_VLAN} to ${MAX_VLAN} (a VLAN that is never used for a network), or a string of one`;

/**
 * Upstream declared dummy_vlan an integer 1..4096 and its clients sent it as
 * given on the command line, often a string: both forms are accepted.
 * 4095 and 4096 are refused: NX-OS cannot set them as a native VLAN
 * (`switchport trunk native vlan` takes 1-4094), so such a switch could never
 * have been driven.
 */
const DummyVlan = Type.Union([Type.Integer({ minimum: MIN_VLAN, maximum: MAX_VLAN }), Type.String({ pattern: '^\\s*\\d+\\s*$' })], {
  [MUST]: DUMMY_MUST,
  description: 'A VLAN never used for a network: the native VLAN of ports that carry no untagged traffic (upstream\'s "dummy VLAN").',
});

/**
 * Lines NX-OS prints when it refuses a command. Parser errors come after a
 * line with a "^" under the offending word; "Invalid range" is what NX-OS
 * says of an interface the switch does not have (a port number past the
 * last, a module or FEX that is absent); configuration refusals start with
 * "ERROR:" or "Configuration update aborted:".
 */
export const NEXUS_ERROR_PATTERNS: readonly RegExp[] = [
  /^% ?Invalid command at '\^' marker\./,
  /^% ?Incomplete command at '\^' marker\./,
  /^% ?Ambiguous command at '\^' marker\./,
  /^% ?Invalid number, range is/,
  /^% ?Invalid .* at '\^' marker\./,
  /^Invalid range at '\^' marker\./,
  /^Invalid interface format at '\^' marker\./,
  /^Invalid (value|command|parameter)/,
  /^ERROR: /i,
  /^Error: /,
  /^Configuration update aborted/,
  /^% Permission denied/,
];

/** What `show interface <port> switchport` says of one port. */
export interface NexusSwitchport {
  name: string;
  /** "Switchport: Enabled": a layer-2 port (a routed port carries no VLANs). */
  enabled: boolean;
  /** "Operational Mode:", e.g. "access", "trunk". */
  mode: string;
  access: number | null;
  /** The access VLAN as NX-OS describes it: "Vlan not created" when it does not exist. */
  accessCreated: boolean;
  native: number | null;
  nativeCreated: boolean;
  /** "Trunking VLANs Allowed:" expanded ("none" → []). */
  allowed: number[];
}

/** VLAN number and its description in parentheses: "80 (VLAN0080)", "100 (Vlan not created)", "1 (default)". */
function vlanField(value: string | undefined): { vlan: number | null; created: boolean } {
  if (value === undefined) return { vlan: null, created: false };
  const m = /^(\d+)\s*(?:\((.*)\))?/.exec(value.trim());
  if (!m) return { vlan: null, created: false };
  return { vlan: Number(m[1]), created: !/not created/i.test(m[2] ?? '') };
}

/**
 * Reads `show interface <port> switchport`. The allowed list may wrap onto
 * indented continuation lines; "ALL" (some releases) means 1-4094. Throws a
 * SwitchError naming the port when the output is not about it.
 */
export function parseSwitchport(output: string, port: string): NexusSwitchport {
  const lines = output.split(/\r?\n/);
  const fields = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*([A-Za-z][A-Za-z -]*?)\s*:\s*(.*?)\s*$/.exec(lines[i]!);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    if (fields.has(key)) {
      // A second "Name:" would be a second port: the command named one, so this is not its output.
      if (key === 'name') throw new SwitchError(`${port}: the switch described more than one interface`);
      continue;
    }
    let value = m[2]!;
    if (key === 'trunking vlans allowed') {
      while (i + 1 < lines.length && /^\s+[\d,\- ]+$/.test(lines[i + 1]!)) value += lines[++i]!.trim();
    }
    fields.set(key, value);
  }
  const name = fields.get('name');
  if (name === undefined || name.toLowerCase() !== port.toLowerCase()) {
    throw new SwitchError(`${port}: the switch did not describe this interface (${JSON.stringify(firstLine(output))})`);
  }
  const enabled = /^enabled$/i.test(fields.get('switchport') ?? '');
  const access = vlanField(fields.get('access mode vlan'));
  const native = vlanField(fields.get('trunking native mode vlan'));
  const allowedText = fields.get('trunking vlans allowed') ?? '';
  let allowed: number[];
  try {
    allowed = /^all$/i.test(allowedText.trim()) ? parseVlanList(`${MIN_VLAN}-${MAX_VLAN}`) : parseVlanList(allowedText);
  } catch {
    throw new SwitchError(`${port}: cannot read the allowed VLANs ${JSON.stringify(allowedText)}`);
  }
  return {
    name,
    enabled,
    mode: (fields.get('operational mode') ?? '').toLowerCase(),
    access: access.vlan,
    accessCreated: access.created,
    native: native.vlan,
    nativeCreated: native.created,
    allowed: allowed.filter((v) => v <= MAX_VLAN),
  };
}

/**
 * The VLANs `show vlan brief` lists as active. A suspended or shut VLAN
 * ("suspend", "act/lshut", …) exists but forwards nothing.
 */
export function parseVlanBrief(output: string): Set<number> {
  const active = new Set<number>();
  for (const line of output.split(/\r?\n/)) {
    const m = /^(\d{1,4})\s+(.*?)\s+(active|suspend(?:ed)?|act\/lshut|sus\/lshut|act\/ishut|sus\/ishut)(?:\s|$)/.exec(line);
    if (m && m[3] === 'active') active.add(Number(m[1]));
  }
  return active;
}

/**
 * What a port forwards, by NX-OS's rules: nothing on a routed port; an
 * access port its access VLAN if that exists; a trunk the allowed VLANs that
 * exist, the native one untagged when it is among them.
 */
export function effectiveVlans(sp: NexusSwitchport, active: ReadonlySet<number>, port = sp.name): PortVlans {
  if (!sp.enabled) return NO_VLANS;
  if (sp.mode === 'access') return portVlans(sp.access !== null && sp.accessCreated && active.has(sp.access) ? sp.access : null, []);
  if (sp.mode === 'trunk') {
    const carried = sp.allowed.filter((v) => active.has(v));
    const native = sp.native !== null && sp.nativeCreated && carried.includes(sp.native) ? sp.native : null;
    return portVlans(native, carried);
  }
  throw new SwitchError(`${port} is in "${sp.mode}" mode, which HIL does not manage (it drives access and trunk ports)`);
}

/** The commands that set a port, in global configuration mode, to carry exactly `to`. */
export function nexusPortCommands(port: string, to: PortVlans, dummyVlan: number): string[] {
  const allowed = to.native === null ? to.tagged : [to.native, ...to.tagged];
  return [
    `interface ${port}`,
    'switchport',
    `switchport trunk native vlan ${to.native ?? dummyVlan}`,
    `switchport trunk allowed vlan ${allowed.length ? formatVlanList(allowed) : 'none'}`,
    'switchport mode trunk',
    'exit',
  ];
}

/** `vlan <n>` / `exit` for each VLAN: creating a VLAN that exists changes nothing. */
export function nexusVlanCommands(vlans: readonly number[]): string[] {
  return [...new Set(vlans)].sort((a, b) => a - b).flatMap((v) => [`vlan ${v}`, 'exit']);
}

export async function readNexusPort(run: RunCommand, port: string): Promise<PortVlans> {
  const named = (err: unknown): never => {
    if (err instanceof SwitchError && !err.message.includes(port)) throw new SwitchError(`${port}: ${err.message}`);
    throw err;
  };
  const sp = parseSwitchport(await run(`show interface ${port} switchport`).catch(named), port);
  if (!sp.enabled) return NO_VLANS;
  const active = parseVlanBrief(await run('show vlan brief').catch(named));
  const carried = effectiveVlans(sp, active, port);
  // HIL writes trunks only: an access port's VLAN is the switch's, not HIL's.
  return sp.mode === 'access' ? { ...carried, foreign: true } : carried;
}

export function nexusDialect(dummyVlan: number): CliDialect {
  return {
    device: 'Cisco Nexus',
    errorPatterns: NEXUS_ERROR_PATTERNS,
    sessionSetup: ['terminal length 0'],
    configure: 'configure terminal',
    end: 'end',
    prepare(vlansNeeded) {
      if (vlansNeeded.includes(dummyVlan)) throw new SwitchError(`VLAN ${dummyVlan} is this switch's dummy_vlan, which must not carry a network`);
      return nexusVlanCommands(vlansNeeded);
    },
    portCommands(port, _from, to) {
      if (to.native === dummyVlan || to.tagged.includes(dummyVlan)) throw new SwitchError(`VLAN ${dummyVlan} is this switch's dummy_vlan, which must not carry a network`);
      return nexusPortCommands(port, to, dummyVlan);
    },
    readPort: readNexusPort,
    save: { command: 'copy running-config startup-config', success: /Copy complete/ },
  };
}

/** The driver's description for the shared CLI driver (./cli/cli-driver.ts). */
export function nexusDriverSpec(): CliDriverSpec<NexusParams> {
  return {
    type: NEXUS_TYPE,
    extensionName: 'hil.ext.switches.nexus',
    what: 'nexus switch',
    portName: NEXUS_PORT_NAME,
    portNameHint: 'Ethernet<slot>/<port>, e.g. Ethernet1/1',
    extraFields: { dummy_vlan: DummyVlan },
    refine(p, fail) {
      const raw = p.dummy_vlan as number | string;
      const v = typeof raw === 'string' ? Number(raw.trim()) : raw;
      if (!Number.isInteger(v) || v < MIN_VLAN || v > MAX_VLAN) fail('dummy_vlan', DUMMY_MUST);
      return { ...p, dummy_vlan: v };
    },
    capabilities: ['nativeless-trunk-mode'],
    dialect: (p) => nexusDialect(p.dummy_vlan),
  };
}

export function nexusSwitchDriver(ctx: CliDriverContext): CliSwitchDriver<NexusParams> {
  return cliSwitchDriver(nexusDriverSpec(), ctx);
}

function firstLine(text: string): string {
  return (text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '').trim().slice(0, 120);
}
