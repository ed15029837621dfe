/**
 * What a port of a VLAN switch carries, in HIL's terms: one untagged
 * ("native") VLAN or none, and a set of tagged VLANs. Every vendor driver
 * reads its switch into this shape, computes the shape HIL wants, and
 * writes the difference in its own commands; so the rules of HIL's channels
 * live here once, not in each driver.
 *
 * Channels: "vlan/native" is the untagged VLAN, "vlan/<n>" the tagged VLAN
 * n. On a VLAN switch a network's ID is its VLAN number.
 */
import { BadArgumentError, SwitchError } from '../../errors.ts';
import type { PortChange, PortNetwork } from './interface.ts';

export const NATIVE_CHANNEL = 'vlan/native';

/** VLAN IDs a switch port can carry (802.1Q: 0 and 4095 are reserved). */
export const MIN_VLAN = 1;
export const MAX_VLAN = 4094;

export interface PortVlans {
  /** The untagged VLAN, or null. */
  native: number | null;
  /** Tagged VLANs, ascending, never including `native`. */
  tagged: number[];
  /**
   * Set by a reading of a port that is not in the form HIL writes (an
   * access port as the switch ships it, on its default VLAN 1): what it
   * carries is true but not HIL's, so HIL's first change starts from
   * nothing, and a tagged network on a fresh port does not keep VLAN 1
   * untagged beside it. sameVlans and asPortNetworks ignore it.
   */
  foreign?: boolean;
}

export const NO_VLANS: PortVlans = Object.freeze({ native: null, tagged: Object.freeze([]) as unknown as number[] });

export function portVlans(native: number | null, tagged: Iterable<number>): PortVlans {
  const set = new Set(tagged);
  if (native !== null) set.delete(native);
  return { native, tagged: [...set].sort((a, b) => a - b) };
}

export const sameVlans = (a: PortVlans, b: PortVlans) => a.native === b.native && a.tagged.length === b.tagged.length && a.tagged.every((v, i) => v === b.tagged[i]);

/** A network ID as a VLAN number; a SwitchError when it is not one a port can carry. */
export function vlanOf(networkId: string): number {
  const v = Number(networkId);
  if (!/^\d+$/.test(networkId) || v < MIN_VLAN || v > MAX_VLAN) throw new SwitchError(`network ${JSON.stringify(networkId)} is not a VLAN between ${MIN_VLAN} and ${MAX_VLAN}`);
  return v;
}

/** "vlan/native" → 'native'; "vlan/<n>" → n. */
export function channelOf(channel: string): 'native' | number {
  if (channel === NATIVE_CHANNEL) return 'native';
  const m = /^vlan\/(\d+)$/.exec(channel);
  if (!m) throw new BadArgumentError(`channel ${JSON.stringify(channel)} is not "vlan/native" or "vlan/<id>"`);
  return vlanOf(m[1]!);
}

/** The port after one of HIL's changes. */
export function applyChange(state: PortVlans, change: PortChange): PortVlans {
  if (change.op === 'revert') return NO_VLANS;
  const ch = channelOf(change.channel);
  if (ch === 'native') {
    if (change.networkId === null) return portVlans(null, state.tagged);
    return portVlans(vlanOf(change.networkId), state.tagged);
  }
  // A tagged channel names its VLAN; the network on it must be that VLAN.
  if (change.networkId !== null && vlanOf(change.networkId) !== ch) throw new SwitchError(`network ${change.networkId} cannot go on channel ${change.channel}`);
  const tagged = new Set(state.tagged);
  if (change.networkId === null) tagged.delete(ch);
  else tagged.add(ch);
  return portVlans(state.native, tagged);
}

export function asPortNetworks(v: PortVlans): PortNetwork[] {
  const out: PortNetwork[] = [];
  if (v.native !== null) out.push({ channel: NATIVE_CHANNEL, networkId: String(v.native) });
  for (const t of v.tagged) out.push({ channel: `vlan/${t}`, networkId: String(t) });
  return out;
}

/** "1,3-5,10" → [1,3,4,5,10]; "none" or "" → []. Throws on anything else. */
export function parseVlanList(text: string): number[] {
  const s = text.replace(/\s+/g, '');
  if (s === '' || s.toLowerCase() === 'none') return [];
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new SwitchError(`cannot read the VLAN list ${JSON.stringify(text)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi > 4095) throw new SwitchError(`cannot read the VLAN list ${JSON.stringify(text)}`);
    for (let v = lo; v <= hi; v++) out.push(v);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/** [1,3,4,5,10] → "1,3-5,10" (the compact form switches print and accept). */
export function formatVlanList(vlans: Iterable<number>): string {
  const sorted = [...new Set(vlans)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
