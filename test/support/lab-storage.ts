/**
 * The storage host of a lab's boot networks (docs/images.md "The boot
 * network of a project"): this host, its trunk NIC a patch cable from the
 * lab switch's port to a bridge of its own on the lab's OVS, where HIL's
 * boot links ("ovs") give it an address on each boot network. Shared by the
 * diskless e2e tests (iPXE on one HIL, kexec on a derived HIL).
 */
import type { HilClient } from '../../src/client/index.ts';
import type { LabLayout } from '../../src/lab/layout.ts';
import { vsctl } from '../../src/lab/switch.ts';
import { freePort } from '../../src/lab/system.ts';
import { freePorts } from './disks.ts';

export interface LabStorage {
  /** The storage NIC's port on the lab switch (register it in HIL). */
  trunkPort: string;
  /** `[exports.boot] interface`: the prefix of the storage host's links, which `hil-lab down` removes with the rest of hl<id>*. */
  bootIf: string;
  /** The `[exports]` and `[exports.boot]` tables for a HIL serving this lab's boot networks. */
  toml: string;
}

export const STORAGE_NODE = 'storage';
export const STORAGE_NIC = 'trunk';
export const STORAGE_MAC = '52:54:00:5b:00:01';

/** Makes the storage bridge and its patch cable on the lab's switch. `subnets`: other tests put theirs on this host too. */
export async function labStorage(layout: LabLayout, subnets: string): Promise<LabStorage> {
  const prefix = layout.ifPrefix;
  const [storageBridge, trunkPort, uplink] = [`${prefix}sb`, `${prefix}st`, `${prefix}su`];
  vsctl(layout, 'add-br', storageBridge, '--', 'set', 'bridge', storageBridge, 'datapath_type=netdev');
  vsctl(layout, 'add-port', layout.bridge, trunkPort, '--', 'set', 'interface', trunkPort, 'type=patch', `options:peer=${uplink}`);
  vsctl(layout, 'add-port', storageBridge, uplink, '--', 'set', 'interface', uplink, 'type=patch', `options:peer=${trunkPort}`);
  const bootIf = `${prefix}b`;
  const toml = `[exports]
ports = "${await freePorts(10)}"
[exports.boot]
subnets = "${subnets}"
node = "${STORAGE_NODE}"
nic = "${STORAGE_NIC}"
interface = "${bootIf}"
http_port = ${await freePort()}
links = "ovs"
ovs_bridge = "${storageBridge}"
ovsdb = "unix:${layout.ovsdbSocket}"
ovs_netns = "${layout.switchNetns}"
`;
  return { trunkPort, bootIf, toml };
}

/** Registers the storage host in the HIL that drives the lab switch: a node (mock BMC) with its NIC on the trunk port. */
export async function registerStorage(admin: HilClient, layout: LabLayout, s: LabStorage): Promise<void> {
  await admin.node.register(STORAGE_NODE, { obm: { type: 'mock' } });
  await admin.node.addNic(STORAGE_NODE, STORAGE_NIC, STORAGE_MAC);
  await admin.port.register(layout.hilNames.switch, s.trunkPort);
  await admin.port.connectNic(layout.hilNames.switch, s.trunkPort, STORAGE_NODE, STORAGE_NIC);
}
