/**
 * Dell PowerConnect 55xx (upstream hil.ext.switches.dell, type
 * ".../powerconnect55xx"), driven over SSH through the shared CLI session
 * layer (./cli/): fields hostname, username, password, plus the shared CLI
 * extensions (./cli/cli-params.ts). Ports gi1/0/1, te1/0/2, gi1/12 …
 *
 * The dialogue: SSH, then the switch's own "User Name:" / "Password:"
 * dialog, the "console#" prompt; `terminal datadump` turns paging off;
 * `configure` enters "console(config)#", `interface gi1/0/1` enters
 * "console(config-if)#". A port is read with `show interfaces switchport
 * <port>` ("Administrative Mode", "Access Mode VLAN", "Trunking Native Mode
 * VLAN", "Trunking VLANs Enabled", "General …"; VLANs that do not exist are
 * marked "(Inactive)"), and written in trunk mode:
 *
 *   interface gi1/0/1
 *   switchport trunk allowed vlan remove <old>
 *   switchport trunk allowed vlan add <new>       (tagged + native)
 *   switchport trunk native vlan <v> | none
 *   switchport mode trunk                         (if it is not one yet: last)
 *   exit
 *
 * (./dell-cli.ts trunkPortCommands: the trunk settings are typed while the
 * port is still in its old mode, where they forward nothing yet, and the
 * list is trimmed before it grows, so the port never carries a VLAN that is
 * neither in its old nor its new state.)
 *
 * VLANs a change needs are created first (`vlan database`, `vlan <list>`,
 * `exit`): a VLAN that was not created is refused ("VLAN was not created by
 * user"). Saving is `copy running-config startup-config`, answering "Y" to
 * "Overwrite file [startup-config] ?[Yes/press any key for no]", until
 * "Copy succeeded".
 *
 * Differences from upstream (docs/compat.md): the old native VLAN is read
 * from the switch, not from HIL's database; a change is written as the
 * difference between the port as read and as wanted, and read back; the
 * VLANs a change needs are created; a port in access or general mode is
 * given its trunk settings and then put in trunk mode (upstream's revert
 * typed trunk commands at an access port and left it on its access VLAN,
 * usually 1).
 */
import type { CliDriverContext, CliDriverSpec, CliSwitchDriver } from './cli/cli-driver.ts';
import { cliSwitchDriver } from './cli/cli-driver.ts';
import type { CliFields } from './cli/cli-params.ts';
import type { CliDialect } from './cli/dialect.ts';
import { dellDialect, field, parseDellVlan, parseDellVlanList, parseKeyValues, type DellPortConfig } from './dell-cli.ts';
import { TYPE_PREFIX } from './interface.ts';
import { formatVlanList, NO_VLANS, portVlans, type PortVlans } from './port-vlans.ts';

export const POWERCONNECT_TYPE = `${TYPE_PREFIX}powerconnect55xx`;
/** Upstream's port names: gi1/0/11, te1/0/12, gi1/12, te1/3. */
export const DELL_PORT_NAME = /^(gi|te)\d+\/\d+(\/\d+)?$/;
export const DELL_PORT_HINT = 'a port like gi1/0/11, te1/0/12, gi1/12 or te1/3';
const DEVICE = 'Dell PowerConnect 55xx';
/** The VLAN IDs the emulator and this driver take the 55xx to accept (the CLI reference's range; 4094 and up are refused). */
export const POWERCONNECT_VLANS: readonly [number, number] = [1, 4093];

/** The 55xx's refusals (its CLI prints them on their own line). */
export const POWERCONNECT_ERRORS: readonly RegExp[] = [
  /^% ?Unrecognized command/,
  /^% ?Incomplete command/,
  /^% ?Ambiguous command/,
  /^% ?missing mandatory parameter/,
  /^% ?bad parameter value/,
  /^% ?Wrong number of parameters/,
  /VLAN was not created by user/,
  /Configuration Database locked by another application - try later/,
  /Port is not in Layer-2 mode/,
  /^% /,
];

/** What `show interfaces switchport` says of a 55xx port. */
export function parsePowerconnectSwitchport(text: string, port: string): DellPortConfig {
  const kv = parseKeyValues(text);
  const get = (k: string) => field(kv, k, port, DEVICE);
  const mode = get('Administrative Mode').trim().toLowerCase();
  const trunkNative = parseDellVlan(get('Trunking Native Mode VLAN'));
  const enabled = parseDellVlanList(get('Trunking VLANs Enabled'), POWERCONNECT_VLANS);
  const trunkAllowed = [...enabled.active, ...enabled.inactive].sort((a, b) => a - b);
  let carries: PortVlans;
  if (mode === 'access') {
    const access = parseDellVlan(get('Access Mode VLAN'));
    carries = access.vlan !== null && access.active ? portVlans(access.vlan, []) : NO_VLANS;
  } else if (mode === 'trunk') {
    const native = trunkNative.vlan !== null && trunkNative.active ? trunkNative.vlan : null;
    carries = portVlans(native, enabled.active);
  } else if (mode === 'general') {
    // General mode: the PVID is untagged when it is an untagged member; "Egress Tagged" are the tagged members.
    const pvid = parseDellVlan(get('General PVID'));
    const members = parseDellVlanList(get('General VLANs Enabled'), POWERCONNECT_VLANS).active;
    const tagged = parseDellVlanList(get('General Egress Tagged VLANs Enabled'), POWERCONNECT_VLANS).active;
    const untagged = members.filter((v) => !tagged.includes(v));
    const native = pvid.vlan !== null && pvid.active && untagged.includes(pvid.vlan) ? pvid.vlan : null;
    carries = portVlans(native, tagged);
  } else {
    carries = NO_VLANS;
  }
  return { mode, trunkNative: trunkNative.vlan, trunkAllowed, carries };
}

export function powerconnectDialect(): CliDialect {
  return dellDialect({
    device: DEVICE,
    errorPatterns: POWERCONNECT_ERRORS,
    sessionSetup: ['terminal datadump'],
    prepare(vlansNeeded) {
      // VLAN 1 is the default VLAN: it always exists and cannot be created.
      const create = vlansNeeded.filter((v) => v !== 1);
      return create.length ? ['vlan database', `vlan ${formatVlanList(create)}`, 'exit'] : [];
    },
    noNative: null,
    readConfig: (out, port) => parsePowerconnectSwitchport(out, port),
    save: {
      confirm: { prompt: /Overwrite file \[startup-config\] \?\[Yes\/press any key for no\]/, answer: 'Y' },
      success: /Copy succeeded/,
    },
  });
}

export type PowerconnectParams = CliFields;

/** The driver's spec (cli-driver.ts), for tests that vary its dialect. */
export function powerconnectDriverSpec(): CliDriverSpec<PowerconnectParams> {
  return {
    type: POWERCONNECT_TYPE,
    extensionName: 'hil.ext.switches.dell',
    what: 'powerconnect55xx switch',
    portName: DELL_PORT_NAME,
    portNameHint: DELL_PORT_HINT,
    capabilities: ['nativeless-trunk-mode'],
    dialect: () => powerconnectDialect(),
  };
}

export function powerconnectSwitchDriver(ctx: CliDriverContext): CliSwitchDriver<PowerconnectParams> {
  return cliSwitchDriver(powerconnectDriverSpec(), ctx);
}
