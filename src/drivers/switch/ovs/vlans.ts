/**
 * The VLAN model of an OVS port: what its Port row means (OVS's own rules for
 * vlan_mode, tag and trunks), what HIL wants it to carry, and the row that
 * says exactly that (the table in ./switch.ts). Pure: no I/O.
 */
import { SwitchError } from '../../../errors.ts';
import type { PortChange, PortNetwork } from '../interface.ts';

/** The VLAN an isolated port trunks; never a network's VLAN. */
export const ISOLATION_VLAN = 4095;

/** A port's VLANs, as HIL sees them. */
export interface Vlans {
  native: number | null;
  tagged: Set<number>;
}

export interface PortRow {
  uuid: string;
  /** The columns as OVSDB returned them, for the `wait` guard. */
  raw: Record<string, unknown>;
  tag: number | null;
  trunks: number[];
  vlanMode: string | null;
  protected: boolean;
}

export type Step = ((v: Vlans) => void) & { port: string };

/** Turns a change into a function on the port's VLANs; throws SwitchError on a channel OVS cannot carry. */
export function parseChange(c: PortChange): Step {
  let f: (v: Vlans) => void;
  if (c.op === 'revert') {
    f = (v) => {
      v.native = null;
      v.tagged.clear();
    };
  } else if (c.channel === 'vlan/native') {
    const vlan = c.networkId === null ? null : parseVlan(c.networkId, c);
    f = (v) => void (v.native = vlan);
  } else if (c.channel.startsWith('vlan/')) {
    const vlan = parseVlan(c.channel.slice(5), c);
    if (c.networkId !== null && parseVlan(c.networkId, c) !== vlan) {
      throw new SwitchError(`ovs switch: channel ${c.channel} cannot carry network ${JSON.stringify(c.networkId)} (port ${c.port})`);
    }
    f = c.networkId === null ? (v) => void v.tagged.delete(vlan) : (v) => void v.tagged.add(vlan);
  } else {
    throw new SwitchError(`ovs switch: unsupported channel ${JSON.stringify(c.channel)} on port ${c.port} (the ovs driver needs the vlan_pool allocator)`);
  }
  return Object.assign(f, { port: c.port });
}

function parseVlan(s: string, c: PortChange): number {
  const n = /^\d{1,4}$/.test(s) ? Number(s) : NaN;
  if (n === ISOLATION_VLAN) throw new SwitchError(`ovs switch: VLAN ${ISOLATION_VLAN} is reserved for isolating ports (port ${c.port})`);
  if (!(n >= 1 && n <= 4094)) throw new SwitchError(`ovs switch: ${JSON.stringify(s)} is not a VLAN id 1-4094 (port ${c.port})`);
  return n;
}

/**
 * Reported for a port that trunks every VLAN (a freshly added OVS port, or
 * upstream's revert): no channel can say "all", yet drift detection must see
 * that such a port is not isolated. HIL never attaches this channel, so it is
 * always a difference, and repairing the port (revert, then the expected
 * channels) removes it.
 */
export const TRUNKS_ALL: PortNetwork = { channel: 'vlan/all', networkId: 'all' };

/** In OVS an empty `trunks` on a non-access port means every VLAN. */
export function trunksAll(r: PortRow): boolean {
  const mode = r.vlanMode ?? (r.tag !== null ? 'access' : 'trunk');
  return r.trunks.length === 0 && (mode === 'trunk' || mode === 'native-untagged' || mode === 'native-tagged');
}

/** What the port really carries, by OVS's rules (access ignores trunks, trunk ignores tag; no vlan_mode = access iff tagged). */
export function effectiveVlans(r: PortRow): Vlans {
  const mode = r.vlanMode ?? (r.tag !== null ? 'access' : 'trunk');
  return {
    native: mode === 'trunk' ? null : r.tag,
    tagged: new Set(mode === 'access' ? [] : r.trunks.filter((n) => n !== ISOLATION_VLAN)),
  };
}

export interface WantRow {
  tag: number | ['set', []];
  trunks: ['set', number[]];
  vlan_mode: string;
  protected: boolean;
}

export function render(v: Vlans): WantRow {
  const tagged = [...v.tagged].sort((a, b) => a - b);
  if (v.native !== null) {
    return { tag: v.native, trunks: ['set', tagged], vlan_mode: tagged.length ? 'native-untagged' : 'access', protected: false };
  }
  if (tagged.length) return { tag: ['set', []], trunks: ['set', tagged], vlan_mode: 'trunk', protected: false };
  return { tag: ['set', []], trunks: ['set', [ISOLATION_VLAN]], vlan_mode: 'trunk', protected: true };
}

export function sameRow(r: PortRow, w: WantRow): boolean {
  const wantTag = typeof w.tag === 'number' ? w.tag : null;
  const have = [...r.trunks].sort((a, b) => a - b);
  const want = w.trunks[1];
  return r.tag === wantTag && r.vlanMode === w.vlan_mode && r.protected === w.protected && have.length === want.length && have.every((n, i) => n === want[i]);
}

/** OVSDB JSON: a set is ["set", [...]] or, with one element, the bare atom. */
export function setOf(v: unknown): unknown[] {
  if (Array.isArray(v) && v[0] === 'set') return v[1] as unknown[];
  return v === undefined ? [] : [v];
}

export function uuidOf(v: unknown): string {
  return Array.isArray(v) && v[0] === 'uuid' ? String(v[1]) : String(v);
}

export function rowsOf(r: Record<string, unknown> | undefined): Record<string, unknown>[] {
  return (r?.rows as Record<string, unknown>[] | undefined) ?? [];
}
