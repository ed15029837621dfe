/**
 * The lab's switch: Open vSwitch with the userspace datapath, started by hand
 * (no systemd). ovsdb-server runs in the host namespace and listens on a unix
 * socket in the lab directory, which is what HIL's OVS driver is given.
 * ovs-vswitchd runs in the lab's own network namespace: with the netdev
 * datapath every bridge is a tap device, and a second vswitchd in the same
 * namespace (another lab, a test, the host's own OVS) would fight over them.
 * Everything cabled to the switch (node taps, the provisioning namespace's
 * veth) therefore ends up in that namespace.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ISOLATION_VLAN } from '../drivers/switch/ovs/switch.ts';
import type { LabLayout } from './layout.ts';
import { killRecorded, run } from './system.ts';

export const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

function ovsEnv(layout: LabLayout): NodeJS.ProcessEnv {
  const d = layout.switchDir;
  return { ...process.env, OVS_RUNDIR: d, OVS_LOGDIR: d, OVS_DBDIR: d, OVS_SYSCONFDIR: d };
}

const daemonArgs = (layout: LabLayout, name: string) => [
  `--pidfile=${join(layout.switchDir, `${name}.pid`)}`,
  `--log-file=${join(layout.switchDir, `${name}.log`)}`,
  `--unixctl=${join(layout.switchDir, `${name}.ctl`)}`,
  '--detach',
];

/** ovs-vsctl against the lab's switch; waits for ovs-vswitchd to apply the change. */
export function vsctl(layout: LabLayout, ...args: string[]): string {
  return run('ovs-vsctl', [`--db=unix:${layout.ovsdbSocket}`, '--timeout=20', ...args], { env: ovsEnv(layout) });
}

/** Starts both daemons and creates the bridge. The namespace must exist. */
export function startSwitch(layout: LabLayout): void {
  mkdirSync(layout.switchDir, { recursive: true });
  const env = ovsEnv(layout);
  run('ovsdb-tool', ['create', join(layout.switchDir, 'conf.db'), OVS_SCHEMA], { env });
  run('ovsdb-server', [join(layout.switchDir, 'conf.db'), `--remote=punix:${layout.ovsdbSocket}`, ...daemonArgs(layout, 'ovsdb-server')], { env });
  vsctl(layout, '--no-wait', 'init');
  run('ip', ['netns', 'exec', layout.switchNetns, 'ovs-vswitchd', `unix:${layout.ovsdbSocket}`, ...daemonArgs(layout, 'ovs-vswitchd')], { env });
  vsctl(layout, 'add-br', layout.bridge, '--', 'set', 'bridge', layout.bridge, 'datapath_type=netdev');
}

/**
 * Cables a node NIC: a persistent tap in the switch's namespace (QEMU attaches
 * to it while the node is on), on a port in the state HIL's OVS driver gives a
 * port with no networks (trunk of the unused VLAN 4095, protected), so that a
 * node is isolated from the start and not only once HIL reverts its port.
 */
export function addNodePort(layout: LabLayout, port: string): void {
  run('ip', ['-n', layout.switchNetns, 'tuntap', 'add', 'dev', port, 'mode', 'tap']);
  run('ip', ['-n', layout.switchNetns, 'link', 'set', port, 'up']);
  vsctl(layout, '--may-exist', 'add-port', layout.bridge, port, '--', 'set', 'port', port, 'vlan_mode=trunk', `trunks=${ISOLATION_VLAN}`, 'protected=true');
}

/** Adds an access port on `vlan` (the provisioning namespace's cable). */
export function addAccessPort(layout: LabLayout, port: string, vlan: number): void {
  vsctl(layout, '--may-exist', 'add-port', layout.bridge, port, '--', 'set', 'port', port, 'vlan_mode=access', `tag=${vlan}`);
}

export function stopSwitch(layout: LabLayout): void {
  for (const name of ['ovs-vswitchd', 'ovsdb-server']) killRecorded(join(layout.switchDir, `${name}.pid`), layout.spec.dir);
}
