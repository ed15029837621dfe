/**
 * A Brocade VDX port as its REST API shows it, what that makes it forward,
 * and the requests that take it to what HIL wants.
 *
 * What a VDX port forwards (Network OS 4–7, brocade-interface model):
 * - a port that is shut down, or not a switchport, forwards nothing;
 * - an access port forwards its access VLAN (default 1) untagged;
 * - a trunk port forwards its allowed VLANs tagged, and its native VLAN —
 *   VLAN 1 when none is configured (CCI-MOC/hil#970) — untagged, or tagged
 *   when `switchport trunk tag native-vlan` is set (NOS sets it on new trunks
 *   while `vlan dot1q tag native` is on, which is its default);
 * - `trunk-no-default-native` (NOS 7.0) is a trunk without that default.
 *
 * So "nothing" is only safely reached by shutting the port down (upstream's
 * last commit did it after clearing the VLANs; we shut it first, so that
 * deleting the native VLAN never exposes VLAN 1, not even for a moment), and
 * a port is only turned on again after its native VLAN is set (upstream
 * turned it on first: a failure in between left it on VLAN 1, #883).
 */
import { SwitchError } from '../../../errors.ts';
import type { PortNetwork } from '../interface.ts';
import { formatVlanList, parseVlanList, portVlans, type PortVlans } from '../port-vlans.ts';
import { at, child, el, textAt, type XmlElement } from '../xml.ts';

/** The VDX's untagged VLAN on a trunk without a configured native VLAN, and its default access VLAN. */
export const DEFAULT_VLAN = 1;

/** A trunk that allows every VLAN (`switchport trunk allowed vlan all`), reported so that verify finds it. */
export const TRUNK_ALL: PortNetwork = { channel: 'vlan/all', networkId: 'all' };

export interface VdxPortConfig {
  shutdown: boolean;
  /** `switchport` (Layer 2) is configured. */
  switchport: boolean;
  /** switchport/mode/vlan-mode: 'access' (the default), 'trunk', 'trunk-no-default-native', … */
  mode: string;
  accessVlan: number | null;
  nativeVlan: number | null;
  /** switchport/trunk/tag/native-vlan: the native VLAN goes out tagged. */
  tagNative: boolean;
  allowed: number[];
  allowedAll: boolean;
}

const num = (s: string | undefined) => (s === undefined || s === '' ? null : Number(s));
const isTrue = (e: XmlElement | undefined) => e !== undefined && e.text.trim() !== 'false';

/** The interface document (GET on the interface with enough Resource-Depth) as a config. */
export function readInterface(doc: XmlElement): VdxPortConfig {
  const sp = child(doc, 'switchport');
  const vlan = at(sp, 'trunk', 'allowed', 'vlan');
  return {
    shutdown: isTrue(child(doc, 'shutdown')),
    switchport: sp !== undefined,
    mode: textAt(sp, 'mode', 'vlan-mode') || 'access',
    accessVlan: num(textAt(sp, 'access', 'vlan')),
    nativeVlan: num(textAt(sp, 'trunk', 'native-vlan')),
    tagNative: isTrue(at(sp, 'trunk', 'tag', 'native-vlan')),
    allowed: parseVlanList(textAt(vlan, 'add') ?? ''),
    allowedAll: isTrue(child(vlan, 'all')),
  };
}

/** What the port forwards, in HIL's terms; `all` when its trunk allows every VLAN. */
export function forwards(c: VdxPortConfig): { vlans: PortVlans; all: boolean } {
  if (c.shutdown || !c.switchport) return { vlans: portVlans(null, []), all: false };
  if (c.mode === 'access') return { vlans: portVlans(c.accessVlan ?? DEFAULT_VLAN, []), all: false };
  const native = c.nativeVlan ?? (c.mode === 'trunk-no-default-native' ? null : DEFAULT_VLAN);
  const tagged = [...c.allowed];
  if (native !== null && c.tagNative) tagged.push(native);
  return { vlans: portVlans(c.tagNative ? null : native, tagged), all: c.allowedAll };
}

/** One request on a port, relative to its interface URL. */
export interface PortRequest {
  method: 'POST' | 'PUT' | 'DELETE';
  /** '' (the interface itself), '/shutdown', '/switchport/mode', … */
  suffix: string;
  body?: string;
  /** A refusal that means "already as asked" and is not an error: the resource exists (POST) or is absent (DELETE). */
  already?: 'exists' | 'absent';
}

const shutdown: PortRequest = { method: 'POST', suffix: '', body: el('shutdown', 'true').xml, already: 'exists' };
const noShutdown: PortRequest = { method: 'DELETE', suffix: '/shutdown', already: 'absent' };
const allowedVlan = (op: 'add' | 'remove' | 'none', vlans?: number[]): PortRequest => ({
  method: 'PUT',
  suffix: '/switchport/trunk/allowed/vlan',
  body: el('vlan', el(op, op === 'none' ? 'true' : formatVlanList(vlans!))).xml,
});

/**
 * The requests that take a port configured as `c` to forward `want`, in
 * an order in which the port never forwards a VLAN outside the union of
 * before and after. `want` must have a native VLAN whenever it has tagged
 * ones (see refuseNativeless).
 */
export function planPort(c: VdxPortConfig, want: PortVlans): PortRequest[] {
  const out: PortRequest[] = [];
  if (want.native === null) {
    // Nothing: shut it down first, then clear what it would carry once turned on again.
    // A port that never was a switchport (a fresh one) forwards nothing already and is left as it is.
    const trunk = c.switchport && c.mode !== 'access';
    if (!c.shutdown && c.switchport) out.push(shutdown);
    if (trunk && (c.allowed.length || c.allowedAll)) out.push(allowedVlan('none'));
    if (trunk && c.nativeVlan !== null) out.push({ method: 'DELETE', suffix: '/switchport/trunk/native-vlan', already: 'absent' });
    return out;
  }
  const becomesTrunk = !c.switchport || c.mode !== 'trunk';
  // Turning a port into a trunk passes through access VLAN 1 and the trunk's default native VLAN 1: do it shut down.
  const shutForIt = becomesTrunk && !c.shutdown;
  if (shutForIt) out.push(shutdown);
  if (!c.switchport) out.push({ method: 'POST', suffix: '', body: el('switchport').xml, already: 'exists' });
  if (becomesTrunk) out.push({ method: 'PUT', suffix: '/switchport/mode', body: el('mode', el('vlan-mode', 'trunk')).xml });
  if (c.tagNative || becomesTrunk) out.push({ method: 'DELETE', suffix: '/switchport/trunk/tag/native-vlan', already: 'absent' });
  if (becomesTrunk || c.nativeVlan !== want.native) out.push({ method: 'PUT', suffix: '/switchport/trunk', body: el('trunk', el('native-vlan', String(want.native))).xml });
  const allowed = c.allowedAll || becomesTrunk ? null : new Set(c.allowed);
  if (allowed === null) {
    // The allowed list is unknown (all, or whatever a new trunk starts with): make it exactly what is wanted.
    out.push(allowedVlan('none'));
    if (want.tagged.length) out.push(allowedVlan('add', want.tagged));
  } else {
    const remove = [...allowed].filter((v) => !want.tagged.includes(v));
    const add = want.tagged.filter((v) => !allowed.has(v));
    if (remove.length) out.push(allowedVlan('remove', remove));
    if (add.length) out.push(allowedVlan('add', add));
  }
  if (c.shutdown || shutForIt) out.push(noShutdown);
  return out;
}

/** A trunk without a native VLAN carries VLAN 1 untagged on a VDX: refuse such a state instead of leaking VLAN 1. */
export function refuseNativeless(port: string, want: PortVlans): void {
  if (want.native === null && want.tagged.length > 0) {
    throw new SwitchError(
      `port ${port}: a Brocade VDX port cannot carry tagged networks without a native one (its trunk would carry its default VLAN ${DEFAULT_VLAN} untagged, CCI-MOC/hil#970); connect a native network first, and remove the tagged ones before it`,
    );
  }
}
