/**
 * The namespace's cable into the tenant network: an access port on the
 * Open vSwitch bridge the nodes' ports are on, tagged with the network's VLAN.
 */
import { run } from './run.ts';

/** Where the switch is: the system's Open vSwitch by default, or another instance (the lab's, a test's). */
export interface SwitchPlace {
  /** ovs-vsctl's --db (e.g. unix:/path/db.sock); the system's database when absent. */
  ovsdb?: string;
  /** The named network namespace ovs-vswitchd runs in, when it is not the host's (the lab runs it in its own). */
  netns?: string;
  /** The bridge uses the userspace (netdev) datapath: the veth must then checksum in software. */
  netdevDatapath?: boolean;
}

function vsctl(where: SwitchPlace, args: string[]): Promise<string> {
  return run('ovs-vsctl', [...(where.ovsdb ? [`--db=${where.ovsdb}`] : []), '--timeout=15', ...args], { timeoutMs: 20_000 });
}

/** Adds the port, or corrects its tag on a port already there (--may-exist alone would keep a wrong tag). */
export async function ensureAccessPort(where: SwitchPlace, bridge: string, port: string, vlan: number): Promise<void> {
  await vsctl(where, ['--may-exist', 'add-port', bridge, port, '--', 'set', 'port', port, `tag=${vlan}`, 'vlan_mode=access']);
}

export async function removePort(where: SwitchPlace, port: string): Promise<void> {
  await vsctl(where, ['--if-exists', 'del-port', port]);
}

/** Every port name on every bridge of that switch. */
export async function listPorts(where: SwitchPlace): Promise<string[]> {
  const out = await vsctl(where, ['--bare', '--columns=name', 'list', 'port']);
  return out.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** How many ports named `port` the switch has (a test's guard against duplicates). */
export async function portRecords(where: SwitchPlace, port: string): Promise<number> {
  return (await listPorts(where)).filter((p) => p === port).length;
}
