/**
 * The Open vSwitch switch (upstream hil.ext.switches.ovs), driven over OVSDB
 * (RFC 7047) instead of upstream's `sudo ovs-vsctl` per change.
 *
 * Fields: `ovs_bridge` (required) and `ovsdb` (`unix:/path` or
 * `tcp:HOST:PORT`, default unix:/var/run/openvswitch/db.sock).
 *
 * A port's VLANs are kept as { native, tagged } and written as whole Port
 * rows, never as the edits upstream made:
 *
 * | VLANs                | vlan_mode       | tag | trunks  | protected |
 * |----------------------|-----------------|-----|---------|-----------|
 * | native V only        | access          | V   | []      | false     |
 * | native V + tagged T  | native-untagged | V   | T       | false     |
 * | tagged T only        | trunk           | []  | T       | false     |
 * | none                 | trunk           | []  | [4095]  | true      |
 *
 * Why "none" is not simply an empty row: in OVS an empty `trunks` on a
 * trunk or native-* port means "trunk ALL VLANs", so upstream's revert (and
 * its native-only ports) left ports carrying every VLAN. An isolated port
 * here trunks only VLAN 4095, which HIL never hands out (a network on 4095 is
 * refused), and is `protected`, so isolated ports cannot reach each other on
 * 4095 either. A native-only port is `access` for the same reason: a
 * native-untagged port with empty trunks would trunk everything. Ports this
 * driver does not manage (an uplink left at "trunk all") still see 4095, as
 * they see every VLAN. getPortNetworks reports a port that trunks every VLAN
 * as the pseudo-channel "vlan/all" (see TRUNKS_ALL), so verify finds it.
 *
 * Unlike upstream, which looked ports up by name anywhere in OVS, a port must
 * belong to the configured bridge. The session (./session.ts) writes a batch
 * as one guarded transaction; the VLAN model is ./vlans.ts.
 */
import { Type, type Static } from 'typebox';
import { BadArgumentError } from '../../../errors.ts';
import { driverParams, MUST } from '../../params.ts';
import { TYPE_PREFIX, type SessionFence, type SwitchDriver, type SwitchRecord } from '../interface.ts';
import { OvsdbClient, parseEndpoint } from './ovsdb-client.ts';
import { OvsSession } from './session.ts';

export { ISOLATION_VLAN, TRUNKS_ALL } from './vlans.ts';
export { OvsSession };

export const DEFAULT_OVSDB = 'unix:/var/run/openvswitch/db.sock';
const OvsParams = Type.Object({
  ovs_bridge: Type.String({ minLength: 1, description: 'The bridge whose ports HIL manages.' }),
  ovsdb: Type.Optional(Type.String({ [MUST]: 'an endpoint string "unix:/path" or "tcp:HOST:PORT"', description: `The OVSDB server; default ${DEFAULT_OVSDB}.` })),
});
export type OvsParams = Static<typeof OvsParams>;
const PORT_NAME = /^[^\s\p{Cc}]+$/u;

export interface OvsDriverOptions {
  /** How long to wait for ovs-vswitchd to apply a commit; default 10000 ms. */
  applyTimeoutMs?: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
}

export interface OvsSwitchDriver extends SwitchDriver<OvsParams> {
  openSession(sw: SwitchRecord<OvsParams>, fence?: SessionFence): Promise<OvsSession>;
}

export function ovsSwitchDriver(o: OvsDriverOptions = {}): OvsSwitchDriver {
  return {
    type: `${TYPE_PREFIX}ovs`,
    extensionName: 'hil.ext.switches.ovs',

    params: driverParams('ovs switch', OvsParams, (p, fail) => {
      if (p.ovsdb !== undefined && !parseEndpoint(p.ovsdb)) fail('ovsdb', 'an endpoint string "unix:/path" or "tcp:HOST:PORT"');
      return p;
    }),

    validatePortName(port) {
      if (!PORT_NAME.test(port)) throw new BadArgumentError(`Invalid port name ${JSON.stringify(port)} for an ovs switch (empty, or has whitespace or control characters)`);
    },

    capabilities() {
      return ['nativeless-trunk-mode'];
    },

    async openSession(sw, fence) {
      const endpoint = sw.params.ovsdb ?? DEFAULT_OVSDB;
      const client = await OvsdbClient.connect(endpoint, { connectTimeoutMs: o.connectTimeoutMs, requestTimeoutMs: o.requestTimeoutMs });
      return new OvsSession(client, sw.params.ovs_bridge, o.applyTimeoutMs ?? 10000, fence);
    },
  };
}

