/**
 * Dell N3000 (DNOS 6; upstream hil.ext.switches.n3000, type
 * ".../delln3000"), over SSH through the shared CLI session layer (./cli/):
 * the Dell fields plus `dummy_vlan` (1..4093; upstream clients send it as an
 * integer or a numeric string), plus the shared CLI extensions.
 *
 * The dialogue: SSH, "console>", `enable`, "console#"; `terminal length 0`
 * turns the "--More-- or (q)uit" pager off; `configure` enters
 * "console(config)#", `interface gi1/0/1` enters "console(config-if-Gi1/0/1)#",
 * `vlan <list>` (in configuration mode) creates VLANs. A port is read with
 * `show interfaces switchport <port>` ("VLAN Membership Mode", "Access Mode
 * VLAN", "Trunking Mode Native VLAN", "Trunking Mode VLANs Enabled"), and,
 * for a trunk, `show vlan` (a trunk's allowed list names VLANs whether or
 * not they exist; only those that exist are carried).
 *
 * The N3000 cannot unset a trunk's native VLAN (upstream #870). A trunk
 * carries its native VLAN only while that VLAN is also in its allowed list,
 * so "no native VLAN" is the dummy VLAN as native, kept out of the allowed
 * list; the dummy VLAN must exist (the switch refuses a native VLAN that
 * does not: "VLAN ID not found."), and it is created with the VLANs a
 * change needs; a VLAN is made native only while it is in the allowed list
 * (upstream: the switch refuses it otherwise). Written in trunk mode like
 * the 55xx (./dell-cli.ts trunkPortCommands), the trunk settings first and
 * the mode last, as a new trunk allows every VLAN (1-4093):
 *
 *   interface gi1/0/1
 *   switchport trunk allowed vlan remove <old>    (all but the wanted ones; the dummy stays until it is native)
 *   switchport trunk allowed vlan add <new>       (tagged + native; + the dummy, to make it native)
 *   switchport trunk native vlan <v | dummy>
 *   switchport trunk allowed vlan remove <dummy>  (when it was made native)
 *   switchport mode trunk                         (if it is not one yet: last)
 *   exit
 *
 * The N3000 keeps a port's trunk allowed list and native VLAN in any mode
 * and forwards by them in trunk mode only (N-Series guide, "Switchport
 * Modes"), so on an access port the lines before the mode change nothing it
 * forwards. `switchport trunk allowed vlan <list>` (replace the list) exists
 * too; add/remove are used so both Dell drivers share one sequence.
 *
 * Saving: `copy running-config startup-config`, "y" to "Are you sure you
 * want to save? (y/n)", until "Configuration Saved!".
 */
import { Type } from 'typebox';
import { SwitchError } from '../../errors.ts';
import { MUST } from '../params.ts';
import type { CliDriverContext, CliDriverSpec, CliSwitchDriver } from './cli/cli-driver.ts';
import { cliSwitchDriver } from './cli/cli-driver.ts';
import type { CliFields } from './cli/cli-params.ts';
import type { CliDialect } from './cli/dialect.ts';
import { dellDialect, field, parseDellVlan, parseDellVlanList, parseKeyValues, type DellPortConfig } from './dell-cli.ts';
import { TYPE_PREFIX } from './interface.ts';
import { formatVlanList, NO_VLANS, portVlans, type PortVlans } from './port-vlans.ts';
import { DELL_PORT_HINT, DELL_PORT_NAME } from './powerconnect.ts';

export const N3000_TYPE = `${TYPE_PREFIX}delln3000`;
const DEVICE = 'Dell N3000';
/** DNOS 6 VLAN IDs ("Please specify an integer in the range 1 to 4093"). */
export const N3000_VLANS: readonly [number, number] = [1, 4093];
const DUMMY_MUST = `an integer from ${N3000_VLANS[0]} to ${N3000_VLANS[1]} (or a string of one)`;

export const N3000_ERRORS: readonly RegExp[] = [
  /^% Invalid input detected at '\^' marker\./,
  /^Command not found \/ Incomplete command/,
  /^% ?Ambiguous command/,
  /^Invalid input\. Please specify/,
  /^An invalid interface has been used for this function/,
  /^VLAN ID not found\./,
  /^Could not configure/,
  /^ERROR: /,
  /Configuration Database locked by another application - try later/,
];

export interface N3000Params extends CliFields {
  /** Normalised to a number by `refine`. */
  dummy_vlan: number;
}

/** The VLAN IDs `show vlan` lists (its first column). */
export function parseShowVlan(text: string): Set<number> {
  const out = new Set<number>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^(\d+)\s/.exec(line);
    if (m) out.add(Number(m[1]));
  }
  return out;
}

/** What `show interfaces switchport` says of an N3000 port; `exists` (from `show vlan`) is needed for a trunk or general port. */
export function parseN3000Switchport(text: string, port: string, exists: ReadonlySet<number> | undefined): DellPortConfig {
  const kv = parseKeyValues(text);
  const get = (k: string) => field(kv, k, port, DEVICE);
  // "Access Mode", "Trunk Mode", "General Mode"
  const mode = get('VLAN Membership Mode').trim().replace(/\s*Mode$/i, '').toLowerCase();
  const trunkNative = parseDellVlan(get('Trunking Mode Native VLAN')).vlan;
  const allowed = parseDellVlanList(get('Trunking Mode VLANs Enabled'), N3000_VLANS);
  const trunkAllowed = [...allowed.active, ...allowed.inactive].sort((a, b) => a - b);
  const live = (v: number) => exists === undefined || exists.has(v);
  let carries: PortVlans;
  if (mode === 'access') {
    // An access port's VLAN always exists: deleting it moves the port back to VLAN 1.
    const access = parseDellVlan(get('Access Mode VLAN')).vlan;
    carries = access === null ? NO_VLANS : portVlans(access, []);
  } else if (mode === 'trunk') {
    const tagged = trunkAllowed.filter(live);
    const native = trunkNative !== null && tagged.includes(trunkNative) ? trunkNative : null;
    carries = portVlans(native, tagged);
  } else if (mode === 'general') {
    const pvid = parseDellVlan(get('General Mode PVID')).vlan;
    const untagged = parseDellVlanList(get('General Mode Untagged VLANs'), N3000_VLANS).active.filter(live);
    const tagged = parseDellVlanList(get('General Mode Tagged VLANs'), N3000_VLANS).active.filter(live);
    carries = portVlans(pvid !== null && untagged.includes(pvid) ? pvid : null, tagged);
  } else {
    carries = NO_VLANS;
  }
  return { mode, trunkNative, trunkAllowed, carries };
}

export function n3000Dialect(dummyVlan: number): CliDialect {
  const dialect = dellDialect({
    device: DEVICE,
    errorPatterns: N3000_ERRORS,
    sessionSetup: ['terminal length 0'],
    prepare(vlansNeeded) {
      // The dummy VLAN is every nativeless trunk's native: it must exist (upstream created it at each login).
      const create = [...new Set([...vlansNeeded, dummyVlan])].filter((v) => v !== 1);
      return [`vlan ${formatVlanList(create)}`, 'exit'];
    },
    noNative: dummyVlan,
    nativeMustBeAllowed: true,
    async readConfig(out, port, run) {
      const mode = /VLAN Membership Mode:\s*(\w+)/.exec(out)?.[1]?.toLowerCase();
      const exists = mode === 'access' ? undefined : parseShowVlan(await run('show vlan'));
      return parseN3000Switchport(out, port, exists);
    },
    save: {
      confirm: { prompt: /Are you sure you want to save\? \(y\/n\)/, answer: 'y' },
      success: /Configuration Saved!/,
    },
  });
  return {
    ...dialect,
    portCommands(port, from, to) {
      // A network on the dummy VLAN would be carried untagged by every port meant to have no native network.
      const carried = (v: PortVlans) => new Set([...v.tagged, ...(v.native === null ? [] : [v.native])]);
      if (carried(to).has(dummyVlan) && !carried(from).has(dummyVlan)) throw new SwitchError(`VLAN ${dummyVlan} is this switch's dummy_vlan, which must not carry a network`);
      return dialect.portCommands(port, from, to);
    },
  };
}

/** The driver's spec (cli-driver.ts), for tests that vary its dialect. */
export function n3000DriverSpec(): CliDriverSpec<N3000Params> {
  return {
    type: N3000_TYPE,
    extensionName: 'hil.ext.switches.n3000',
    what: 'delln3000 switch',
    portName: DELL_PORT_NAME,
    portNameHint: DELL_PORT_HINT,
    extraFields: {
      dummy_vlan: Type.Union([Type.Integer({ minimum: N3000_VLANS[0], maximum: N3000_VLANS[1] }), Type.String({ pattern: '^\\s*\\d+\\s*$' })], {
        [MUST]: DUMMY_MUST,
        description: 'A VLAN HIL never hands out (it must not be in the VLAN pool), made the native VLAN of trunks that should have none (the N3000 cannot unset a native VLAN); created if missing.',
      }),
    },
    refine(p, fail) {
      const v = Number(String(p.dummy_vlan).trim());
      if (!Number.isInteger(v) || v < N3000_VLANS[0] || v > N3000_VLANS[1]) fail('dummy_vlan', DUMMY_MUST);
      return { ...p, dummy_vlan: v };
    },
    capabilities: ['nativeless-trunk-mode'],
    dialect: (p) => n3000Dialect(p.dummy_vlan),
  };
}

export function n3000SwitchDriver(ctx: CliDriverContext): CliSwitchDriver<N3000Params> {
  return cliSwitchDriver(n3000DriverSpec(), ctx);
}
