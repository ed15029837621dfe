/**
 * Dell SmartFabric OS10 (the S4100/S5200/Z9000 families' OS), driven over
 * its SSH CLI. Upstream HIL had no OS10 driver, so the type is new:
 * `…/switches/dellos10`, extension `hil.ext.switches.dellos10`, with the
 * shared CLI fields (./cli/cli-params.ts: hostname, username, password, …).
 *
 * OS10's port model, from its User Guide and command reference:
 * - every L2 port ships as an access port of the default VLAN 1; the
 *   running configuration shows it as ` switchport access vlan 1` (access
 *   mode is the default and is not printed);
 * - on a trunk port (`switchport mode trunk`) the *access* VLAN is the
 *   untagged (native) one and `switchport trunk allowed vlan <list>` adds
 *   tagged VLANs (additive; `no switchport trunk allowed vlan <list>`
 *   removes them); `no switchport access vlan` leaves a trunk carrying
 *   tagged VLANs only, nothing untagged. So a port can be a nativeless
 *   trunk: capability "nativeless-trunk-mode";
 * - a port cannot be an access and a trunk member of the same VLAN: the
 *   switch refuses ("% Error: Interface cannot be an access and trunk
 *   member of the same VLAN. …"), so the commands below remove before
 *   they add;
 * - VLANs are created with `interface vlan <n>` (1–4093; 4094 is reserved
 *   for the VLT interconnect);
 * - every refusal starts "% Error:" ("% Error: Illegal parameter.",
 *   "% Error: Unrecognized command.");
 * - `terminal length 0` turns the `--more--` pager off; `write memory`
 *   saves (it prints nothing when it succeeds).
 *
 * Every port HIL configures is put in trunk mode (as upstream's Nexus and
 * PowerConnect drivers did), whatever it carries: then the native VLAN is
 * always "the access VLAN" and tagged ones "the allowed list", with no
 * access↔trunk transitions that would drop or refuse one of them. A port
 * with no networks is a trunk with no access VLAN and nothing allowed: it
 * carries nothing, not even the default VLAN 1.
 *
 * VLANs a change needs are created first (`interface vlan <n>`, harmless
 * when the VLAN exists); VLANs are never deleted, since other ports (an
 * uplink) may carry them.
 *
 * OS10 also has transactions (`start transaction` … `commit`); this driver
 * does not use them: OS10 keeps an uncommitted candidate across a dropped
 * session and commits it with the next change any session makes, so a
 * batch cut off mid-way would be applied later, unseen by a read of the
 * running configuration. Instead, the shared session reads every port back
 * after a change (./cli/cli-session.ts): a port a dropped session left half
 * changed fails the action, naming the port, and verify reports it.
 */
import { SwitchError } from '../../errors.ts';
import { cliSwitchDriver, type CliDriverContext, type CliSwitchDriver } from './cli/cli-driver.ts';
import type { CliFields } from './cli/cli-params.ts';
import type { CliDialect, RunCommand } from './cli/dialect.ts';
import { TYPE_PREFIX } from './interface.ts';
import { formatVlanList, parseVlanList, portVlans, type PortVlans } from './port-vlans.ts';

export const OS10_TYPE = `${TYPE_PREFIX}dellos10`;

/** ethernet<node>/<slot>/<port>, and a breakout port's ":<subport>", as OS10 prints them in its configuration. */
export const OS10_PORT = /^ethernet\d+\/\d+\/\d+(?::\d+)?$/;

/** OS10 refuses a command with a line starting "% Error:"; nothing else it prints on success looks like that. */
export const OS10_ERROR = /^% ?Error\b.*$/m;

export type Os10Params = CliFields;

/** What `show running-configuration interface ethernet …` says of a port. */
export interface Os10InterfaceConfig {
  /** "trunk" when `switchport mode trunk` is shown; access mode is the default and not shown; "routed" after `no switchport`. */
  mode: 'access' | 'trunk' | 'routed';
  /** `switchport access vlan <n>`: the access VLAN, or a trunk's untagged one; null when absent. */
  access: number | null;
  /** `switchport trunk allowed vlan <list>`: the tagged VLANs. */
  allowed: number[];
  /** `shutdown` (rather than `no shutdown`). */
  shutdown: boolean;
}

/**
 * Reads one interface's block out of `show running-configuration interface
 * ethernet …`; null when the output has no block for `port` (OS10 printed
 * nothing for a port it lacks). Lines it does not know (flowcontrol,
 * description, mtu, …) are skipped.
 */
export function parseInterfaceConfig(output: string, port: string): Os10InterfaceConfig | null {
  const lines = output.split(/\r?\n/).map((l) => l.trim());
  const start = lines.findIndex((l) => l.toLowerCase() === `interface ${port}`.toLowerCase());
  if (start < 0) return null;
  const cfg: Os10InterfaceConfig = { mode: 'access', access: null, allowed: [], shutdown: false };
  for (const line of lines.slice(start + 1)) {
    if (line === '!' || /^interface\s/i.test(line)) break;
    let m: RegExpExecArray | null;
    if (line === 'switchport mode trunk') cfg.mode = 'trunk';
    else if (line === 'switchport mode access') cfg.mode = 'access';
    else if (line === 'no switchport') cfg.mode = 'routed';
    else if ((m = /^switchport access vlan (\d+)$/.exec(line))) cfg.access = Number(m[1]);
    else if (line === 'no switchport access vlan') cfg.access = null;
    else if ((m = /^switchport trunk allowed vlan (\S+)$/.exec(line))) cfg.allowed = [...new Set([...cfg.allowed, ...parseVlanList(m[1]!)])].sort((a, b) => a - b);
    else if (line === 'shutdown') cfg.shutdown = true;
    else if (line === 'no shutdown') cfg.shutdown = false;
  }
  return cfg;
}

/**
 * What a port carries, in HIL's terms, by its configuration: the access
 * VLAN untagged (on an access port and a trunk alike), the allowed list
 * tagged on a trunk only, nothing on a routed port. An administrative
 * shutdown is not HIL's to manage and does not change the reading.
 */
export function os10PortVlans(cfg: Os10InterfaceConfig): PortVlans {
  if (cfg.mode === 'routed') return portVlans(null, []);
  return portVlans(cfg.access, cfg.mode === 'trunk' ? cfg.allowed : []);
}

/** "ethernet1/1/1" → "ethernet 1/1/1", the spelling OS10's reference uses in `show` commands. */
const spaced = (port: string) => port.replace(/^ethernet/, 'ethernet ');

/**
 * The commands, in configuration mode, that take `port` from `from` to
 * `to`. Order matters on OS10, which refuses a VLAN that would be both
 * the access VLAN and an allowed one: tagged VLANs going away are removed
 * first, then the native one is set or removed, then new tagged ones are
 * added. `switchport mode trunk` comes first every time: it is a no-op on
 * a trunk, and the `from` reading does not say the mode.
 */
export function os10PortCommands(port: string, from: PortVlans, to: PortVlans): string[] {
  const cmds = [`interface ${port}`, 'switchport mode trunk'];
  const gone = from.tagged.filter((v) => !to.tagged.includes(v));
  const added = to.tagged.filter((v) => !from.tagged.includes(v));
  if (gone.length) cmds.push(`no switchport trunk allowed vlan ${formatVlanList(gone)}`);
  if (from.native !== to.native) cmds.push(to.native === null ? 'no switchport access vlan' : `switchport access vlan ${to.native}`);
  if (added.length) cmds.push(`switchport trunk allowed vlan ${formatVlanList(added)}`);
  cmds.push('exit');
  return cmds;
}

/** The VLANs a batch needs, created (or merely entered, when they exist) before any port names them. */
export function os10Prepare(vlansNeeded: readonly number[]): string[] {
  return [...new Set(vlansNeeded)].sort((a, b) => a - b).flatMap((v) => [`interface vlan ${v}`, 'exit']);
}

/** Reads a port with `show running-configuration interface ethernet …`; a port the switch lacks fails naming it. */
export async function os10ReadPort(run: RunCommand, port: string): Promise<PortVlans> {
  let output: string;
  try {
    output = await run(`show running-configuration interface ${spaced(port)}`);
  } catch (err) {
    if (err instanceof SwitchError && !err.message.includes(port)) throw new SwitchError(`port ${port}: ${err.message}`);
    throw err;
  }
  const cfg = parseInterfaceConfig(output, port);
  if (!cfg) throw new SwitchError(`port ${port}: the switch shows no configuration for it (it has no such port?)${output.trim() ? `: ${output.trim()}` : ''}`);
  // HIL writes trunks only: an access port's VLAN is the switch's (its default VLAN 1), not HIL's.
  return cfg.mode === 'access' ? { ...os10PortVlans(cfg), foreign: true } : os10PortVlans(cfg);
}

export function os10Dialect(): CliDialect {
  return {
    device: 'Dell OS10',
    errorPatterns: [OS10_ERROR],
    sessionSetup: ['terminal length 0'],
    configure: 'configure terminal',
    end: 'end',
    prepare: os10Prepare,
    portCommands: os10PortCommands,
    readPort: os10ReadPort,
    // Prints nothing on success; a refusal is an "% Error:" line, caught by errorPatterns.
    save: { command: 'write memory', success: /^\s*$/ },
  };
}

export function os10SwitchDriver(ctx: CliDriverContext): CliSwitchDriver<Os10Params> {
  return cliSwitchDriver<Os10Params>(
    {
      type: OS10_TYPE,
      extensionName: 'hil.ext.switches.dellos10',
      what: 'dellos10 switch',
      portName: OS10_PORT,
      portNameHint: 'ethernet<node>/<slot>/<port>[:<subport>], e.g. ethernet1/1/1',
      capabilities: ['nativeless-trunk-mode'],
      dialect: () => os10Dialect(),
    },
    ctx,
  );
}
