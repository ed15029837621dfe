/**
 * Backs an emulated switch's ports with a real Open vSwitch bridge: each
 * time the emulator's model changes what a port carries, the same VLANs are
 * written to the OVS port it is "cabled" to, through HIL's own OVS driver
 * (so OVS's way of isolating an empty port, VLAN 4095 and `protected`,
 * applies here too). Packets between namespace nodes then go where the
 * emulated switch's configuration says.
 */
import { ovsSwitchDriver, type OvsSession } from '../../../src/drivers/switch/ovs/switch.ts';
import { NATIVE_CHANNEL, type PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import type { PortChange } from '../../../src/drivers/switch/interface.ts';
import type { PortBacking } from './model.ts';

export interface OvsBackingOptions {
  /** `unix:/path/db.sock` of the OVS (test/support/ovs.ts's `endpoint`). */
  ovsdb: string;
  bridge: string;
  /** Emulated port name → OVS port name, e.g. {"Ethernet1/1": "veth-n1"}. Ports not in it have no cable. */
  cables: Record<string, string>;
}

/** The changes that make an OVS port carry exactly `v`. */
export function ovsChanges(ovsPort: string, v: PortVlans): PortChange[] {
  const changes: PortChange[] = [{ op: 'revert', port: ovsPort }];
  if (v.native !== null) changes.push({ op: 'modify', port: ovsPort, channel: NATIVE_CHANNEL, networkId: String(v.native) });
  for (const t of v.tagged) changes.push({ op: 'modify', port: ovsPort, channel: `vlan/${t}`, networkId: String(t) });
  return changes;
}

export async function ovsBacking(o: OvsBackingOptions): Promise<PortBacking> {
  const session: OvsSession = await ovsSwitchDriver({ applyTimeoutMs: 10000 }).openSession({ id: 0, label: 'emulator-backing', params: { ovs_bridge: o.bridge, ovsdb: o.ovsdb } });
  return {
    async apply(changes) {
      const batch = [...changes].flatMap(([port, v]) => (o.cables[port] ? ovsChanges(o.cables[port], v) : []));
      if (batch.length) await session.applyBatch(batch);
    },
    close: () => session.close(),
  };
}
