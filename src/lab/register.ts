/**
 * Puts a lab into a running HIL, through the public API (the typed client),
 * as an operator would a new rack: the switch and its ports, every node with
 * its BMC (enabled, so HIL holds its console from now on) and its NICs cabled
 * to their ports, and an admin-owned public network on the provisioning VLAN.
 * Every port is then reverted by HIL itself, so that its state on the switch
 * is the one HIL's driver gives a port with no networks. unregisterLab takes
 * it all out again.
 */
import { HilApiError, type HilClient } from '../client/index.ts';
import type { LabLayout } from './layout.ts';

export interface BmcCredentials {
  user: string;
  password: string;
}

export async function registerLab(client: HilClient, layout: LabLayout, bmc: BmcCredentials, progress: (msg: string) => void = () => {}): Promise<void> {
  const sw = layout.hilNames.switch;
  progress(`switch ${sw} (Open vSwitch bridge ${layout.bridge})`);
  await client.switch.register(sw, 'ovs', { ovs_bridge: layout.bridge, ovsdb: `unix:${layout.ovsdbSocket}` });
  progress(`network ${layout.hilNames.provisioningNetwork} (VLAN ${layout.spec.provisioningVlan}, public)`);
  await client.network.create(layout.hilNames.provisioningNetwork, 'admin', '', String(layout.spec.provisioningVlan));

  const reverts: string[] = [];
  for (const node of layout.nodes) {
    progress(`node ${node.name} (IPMI 127.0.0.1:${node.bmcPort}; ${node.nics.map((n) => `${n.name} ${n.mac} on port ${n.tap}`).join(', ')})`);
    await client.node.register(node.name, { obm: { type: 'ipmi', host: '127.0.0.1', port: node.bmcPort, user: bmc.user, password: bmc.password } }, { lab: layout.spec.id });
    await client.node.enableObm(node.name);
    for (const nic of node.nics) {
      await client.node.addNic(node.name, nic.name, nic.mac);
      await client.port.register(sw, nic.tap);
      await client.port.connectNic(sw, nic.tap, node.name, nic.name);
      reverts.push((await client.port.revert(sw, nic.tap)).status_id);
    }
  }
  for (const id of reverts) {
    const action = await client.waitForAction(id);
    if (action.status !== 'DONE') throw new Error(`HIL could not reset a lab port: ${JSON.stringify(action)}`);
  }
}

/**
 * Takes out of HIL what registerLab put in, as far as HIL allows: a node that
 * a project still holds stays (HIL will not delete it), and so do the
 * network and switch it still uses. Returns what was left, and why.
 */
export async function unregisterLab(client: HilClient, layout: LabLayout, progress: (msg: string) => void = () => {}): Promise<string[]> {
  const left: string[] = [];
  const sw = layout.hilNames.switch;
  /** Runs a removal; "already gone" counts as done, anything else is reported. */
  const remove = async (what: string, call: () => Promise<unknown>): Promise<boolean> => {
    try {
      await call();
      return true;
    } catch (err) {
      if (err instanceof HilApiError && err.status === 404) return true;
      left.push(`${what}: ${(err as Error).message}`);
      return false;
    }
  };
  for (const node of layout.nodes) {
    let project: string | null = null;
    try {
      project = (await client.node.show(node.name)).project;
    } catch (err) {
      if (err instanceof HilApiError && err.status === 404) continue;
      throw err;
    }
    if (project) {
      left.push(`${node.name}: in project ${project}`);
      continue;
    }
    progress(`node ${node.name}`);
    await remove(`${node.name} OBM`, () => client.node.disableObm(node.name));
    for (const nic of node.nics) {
      await remove(`port ${nic.tap}`, () => client.port.detachNic(sw, nic.tap));
      await remove(`port ${nic.tap}`, () => client.port.delete(sw, nic.tap));
      await remove(`${node.name} ${nic.name}`, () => client.node.removeNic(node.name, nic.name));
    }
    await remove(node.name, () => client.node.delete(node.name));
  }
  progress(`network ${layout.hilNames.provisioningNetwork}`);
  await remove(layout.hilNames.provisioningNetwork, () => client.network.delete(layout.hilNames.provisioningNetwork));
  progress(`switch ${sw}`);
  await remove(sw, () => client.switch.delete(sw));
  return left;
}
