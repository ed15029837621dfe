/**
 * Upstream's rule for switches that cannot carry tagged VLANs without an
 * untagged one (those whose driver lacks the "nativeless-trunk-mode"
 * capability: Brocade VDX and Dell OS9). On such a switch a trunk with no
 * native network of HIL's would carry the switch's default VLAN untagged, so
 * a nic's native network comes first and goes last. Refused at the request
 * (409, upstream's words), not left to fail on the switch.
 */
import { BlockedError } from '../errors.ts';
import type { CoreDeps, Tx } from './context.ts';

const NATIVE = 'vlan/native';

async function nativeless(deps: CoreDeps, tx: Tx, portId: number): Promise<boolean> {
  const sw = await tx.selectFrom('port').innerJoin('switch', 'switch.id', 'port.switch_id').select('switch.type').where('port.id', '=', portId).executeTakeFirstOrThrow();
  // A switch without a driver here fails its actions anyway; its rules are unknown, so none are applied.
  return deps.switches.get(sw.type)?.capabilities().includes('nativeless-trunk-mode') ?? true;
}

/** Throws BlockedError when connecting `channel` would leave a tagged network without a native one. */
export async function requireNativeFirst(deps: CoreDeps, tx: Tx, portId: number, channels: readonly string[], channel: string): Promise<void> {
  if (channel === NATIVE || channels.includes(NATIVE) || (await nativeless(deps, tx, portId))) return;
  throw new BlockedError('Please attach a native network first');
}

/** Throws BlockedError when detaching `channel` would leave tagged networks without a native one. */
export async function requireNativeLast(deps: CoreDeps, tx: Tx, portId: number, channels: readonly string[], channel: string): Promise<void> {
  if (channel !== NATIVE || channels.every((c) => c === NATIVE) || (await nativeless(deps, tx, portId))) return;
  throw new BlockedError('Please remove all trunked Vlans before removing the native vlan');
}
