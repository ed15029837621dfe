/**
 * What the two Dell CLI drivers (./powerconnect.ts, the PowerConnect 55xx;
 * ./n3000.ts, the N3000 under DNOS 6) really share: reading `show interfaces
 * switchport` ("Key: value" lines, values that run on over indented lines,
 * VLAN lists with "(Inactive)" parts), and turning a port's trunk
 * configuration as read into the `switchport trunk …` lines that give it the
 * VLANs HIL wants, and the dialect built on those (dellDialect): each driver
 * says only its words, how it reads a port, and how its save is answered.
 *
 * Both drivers keep every port HIL manages in trunk mode, as upstream did:
 * native VLAN = the untagged one, the allowed list = the tagged ones plus
 * the native. Unlike upstream they work from the port as the switch reports
 * it (its mode, its trunk native VLAN, its allowed list, VLANs that do not
 * exist included), never from HIL's database, so a port left half-done by a
 * crash, or changed by hand, is put right by the next change; and the order
 * of their commands (trunkPortCommands) never makes a port carry a VLAN
 * that is neither in its old nor its new state, so a session that dies
 * between two commands leaves no port on another tenant's VLAN.
 */
import { SwitchError } from '../../errors.ts';
import type { CliDialect, RunCommand, SaveSequence } from './cli/dialect.ts';
import { formatVlanList, parseVlanList, type PortVlans } from './port-vlans.ts';

/** The port's VLAN configuration as the switch printed it, and what it carries. */
export interface DellPortConfig {
  /** "access", "trunk" or "general", lower case. */
  mode: string;
  /** The trunk native VLAN configured (whether or not it exists); null for "none". */
  trunkNative: number | null;
  /** The trunk allowed list configured, VLANs that do not exist included. */
  trunkAllowed: number[];
  /** What the port forwards now, by the vendor's rules. */
  carries: PortVlans;
}

/**
 * "Key: value" lines into a map. A line that starts with white space
 * continues the value before it (joined with "\n"); lines without a colon
 * (headings, table rows) end the value before them and are skipped.
 */
export function parseKeyValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let last: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\s+$/, '');
    if (line === '') {
      last = undefined;
      continue;
    }
    if (/^\s/.test(line) && last !== undefined) {
      out.set(last, `${out.get(last)}\n${line.trim()}`);
      continue;
    }
    const m = /^([^:\s][^:]*?)\s*:\s?(.*)$/.exec(line);
    if (!m) {
      last = undefined;
      continue;
    }
    last = m[1]!;
    if (!out.has(last)) out.set(last, m[2]!.trim());
    else last = undefined; // a repeated key (a table further down): keep the first
  }
  return out;
}

/** VLANs a Dell list value names: "1,101-103", "none", "", "All"; each line ending "(Inactive)" names VLANs that do not exist. */
export function parseDellVlanList(value: string, all: readonly [number, number]): { active: number[]; inactive: number[] } {
  const active: number[] = [];
  const inactive: number[] = [];
  for (const raw of value.split('\n')) {
    let line = raw.trim();
    const isInactive = /\(Inactive\)\s*$/i.test(line);
    line = line.replace(/\(Inactive\)\s*$/i, '').trim().replace(/,$/, '');
    let vlans: number[];
    if (/^all$/i.test(line)) vlans = range(all[0], all[1]);
    else vlans = parseVlanList(line.replace(/\s*-\s*/g, '-'));
    (isInactive ? inactive : active).push(...vlans);
  }
  return { active: [...new Set(active)].sort((a, b) => a - b), inactive: [...new Set(inactive)].sort((a, b) => a - b) };
}

/** One VLAN value: "1", "1 (default)", "3 (Inactive)", "none". */
export function parseDellVlan(value: string): { vlan: number | null; active: boolean } {
  const v = value.trim();
  if (v === '' || /^none$/i.test(v)) return { vlan: null, active: false };
  const m = /^(\d+)\s*(\((\w+)\))?/.exec(v);
  if (!m) throw new SwitchError(`cannot read the VLAN ${JSON.stringify(value)}`);
  return { vlan: Number(m[1]), active: !/^inactive$/i.test(m[3] ?? '') };
}

export function range(lo: number, hi: number): number[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

/** The value of `key`, or a SwitchError saying the output was not what a Dell prints for this port. */
export function field(kv: Map<string, string>, key: string, port: string, device: string): string {
  const v = kv.get(key);
  if (v === undefined) throw new SwitchError(`${device} port ${port}: "show interfaces switchport" printed no "${key}"`);
  return v;
}

export interface TrunkPlan {
  port: string;
  /** The port as read; undefined when it was not read in this session (then its trunk settings are taken to be what `from` says). */
  read: DellPortConfig | undefined;
  from: PortVlans;
  to: PortVlans;
  /**
   * The native VLAN a port without one is given: null where the switch can
   * say "switchport trunk native vlan none" (55xx), the dummy VLAN where it
   * cannot (N3000, upstream #870): a VLAN that exists, that HIL never hands
   * out, and that is kept out of the allowed list so nothing is carried on it.
   */
  noNative: number | null;
  /**
   * Whether a VLAN must be in the trunk's allowed list when it is made the
   * native VLAN (the N3000, by upstream's account: "the switch won't let you
   * set a native vlan that isn't added"); it may leave the list afterwards.
   */
  nativeMustBeAllowed?: boolean;
}

/**
 * The lines, from global configuration mode back to it, that give the
 * port `to`, in an order that never makes it carry a VLAN that is neither
 * in `from` nor in `to` (the one exception below):
 *
 * - A port that is not a trunk yet (access or general mode) gets its trunk
 *   settings first, while they do not count (both switches keep a port's
 *   trunk allowed list and native VLAN whatever its mode, and forward by
 *   them only in trunk mode), and `switchport mode trunk` last: it goes
 *   from what it carried to `to` in that one command. Typing the mode
 *   first, as before, made a fresh N3000 port a trunk of every VLAN
 *   (1-4093) until the list was trimmed, for good if the session died.
 * - The allowed list is trimmed before anything joins it, so while the
 *   port is a trunk it carries a subset of `from`, then of `from` ∪ `to`,
 *   then `to`. A VLAN that is to be native joins the list before it is made
 *   native (the N3000 refuses a native VLAN it does not allow, upstream
 *   found); the old native one, if it goes, goes with the trim.
 * - The exception: on the N3000, a trunk that had a native VLAN and is to
 *   have none is given the dummy VLAN as native, which must be allowed for
 *   that one command and is removed right after. For those two commands
 *   the port carries the dummy VLAN, which no network is ever on: nothing
 *   but this port is in it. On a port that is not yet a trunk the dummy
 *   goes through the same steps and carries nothing.
 */
export function trunkPortCommands(p: TrunkPlan): string[] {
  const read = p.read ?? { mode: 'trunk', trunkNative: p.from.native ?? p.noNative, trunkAllowed: [...p.from.tagged, ...(p.from.native === null ? [] : [p.from.native])], carries: p.from };
  const wantNative = p.to.native ?? p.noNative;
  const wantAllowed = new Set(p.to.tagged);
  if (p.to.native !== null) wantAllowed.add(p.to.native);
  const allowed = new Set(read.trunkAllowed);
  const nativeChanges = read.trunkNative !== wantNative;
  // The dummy, allowed just long enough to become the native (upstream's order).
  const viaDummy = nativeChanges && wantNative !== null && p.nativeMustBeAllowed === true && !wantAllowed.has(wantNative);

  const lines = [`interface ${p.port}`];
  // 1. What goes, goes first (the dummy, if it is allowed already, stays until it is native).
  const remove = [...allowed].filter((v) => !wantAllowed.has(v) && !(viaDummy && v === wantNative));
  if (remove.length) lines.push(`switchport trunk allowed vlan remove ${formatVlanList(remove)}`);
  // 2. Then what joins: the wanted VLANs the list lacks (the new native among them), and the dummy.
  const add = [...wantAllowed].filter((v) => !allowed.has(v));
  if (viaDummy && !allowed.has(wantNative)) add.push(wantNative);
  if (add.length) lines.push(`switchport trunk allowed vlan add ${formatVlanList(add)}`);
  // 3. The native VLAN, now allowed where it must be.
  if (nativeChanges) lines.push(wantNative === null ? 'switchport trunk native vlan none' : `switchport trunk native vlan ${wantNative}`);
  // 4. The dummy leaves the list at once.
  if (viaDummy) lines.push(`switchport trunk allowed vlan remove ${wantNative}`);
  // 5. Trunk mode last: the settings above take effect together.
  if (read.mode !== 'trunk') lines.push('switchport mode trunk');
  lines.push('exit');
  return lines;
}

/** Runs a `show` for one port; a refusal names the port (the switch's words follow). */
export async function showPort(run: (command: string) => Promise<string>, command: string, port: string, device: string): Promise<string> {
  try {
    return await run(command);
  } catch (err) {
    if (err instanceof SwitchError && !err.message.includes(port)) throw new SwitchError(`${device} port ${port}: ${err.message}`);
    throw err;
  }
}

/** What sets one Dell CLI apart; the rest of its dialect is dellDialect's. */
export interface DellDialectSpec {
  device: string;
  errorPatterns: readonly RegExp[];
  sessionSetup: readonly string[];
  prepare(vlansNeeded: readonly number[]): string[];
  /** TrunkPlan.noNative: null, or the dummy VLAN. */
  noNative: number | null;
  /** TrunkPlan.nativeMustBeAllowed. */
  nativeMustBeAllowed?: boolean;
  /** The port as read from what `show interfaces switchport <port>` printed (`run`: for any other `show` it needs). */
  readConfig(shown: string, port: string, run: RunCommand): DellPortConfig | Promise<DellPortConfig>;
  /** How `copy running-config startup-config` is answered and ends. */
  save: Omit<SaveSequence, 'command'>;
}

/**
 * A Dell CLI dialect: `configure` … `end`; a port is read with `show
 * interfaces switchport <port>` and written in trunk mode from what it read
 * (trunkPortCommands: trunk settings first, `switchport mode trunk` last);
 * saved with `copy running-config startup-config`.
 */
export function dellDialect(spec: DellDialectSpec): CliDialect {
  // What each port read as in this session: its mode and raw trunk settings, which PortVlans alone cannot say.
  const seen = new Map<string, DellPortConfig>();
  return {
    device: spec.device,
    errorPatterns: spec.errorPatterns,
    sessionSetup: spec.sessionSetup,
    configure: 'configure',
    end: 'end',
    prepare: spec.prepare,
    portCommands(port, from, to) {
      return trunkPortCommands({ port, read: seen.get(port), from, to, noNative: spec.noNative, nativeMustBeAllowed: spec.nativeMustBeAllowed });
    },
    async readPort(run, port) {
      const out = await showPort(run, `show interfaces switchport ${port}`, port, spec.device);
      const config = await spec.readConfig(out, port, run);
      seen.set(port, config);
      // HIL writes trunks only: an access port's VLAN is the switch's (its default VLAN 1), not HIL's.
      return config.mode === 'access' ? { ...config.carries, foreign: true } : config.carries;
    },
    save: { command: 'copy running-config startup-config', ...spec.save },
  };
}
