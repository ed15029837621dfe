/** `hil-lab status`: what runs of a lab, and what its nodes reported. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bmcAnswers } from './bmc.ts';
import type { BootReport } from './boot-server.ts';
import { labLayout, type LabLayout } from './layout.ts';
import { nodeFiles } from './qemu.ts';
import { readState, type LabState } from './state.ts';
import { alive, commandLine, readPid } from './system.ts';

export interface NodeStatus {
  name: string;
  power: 'on' | 'off';
  bmc: 'answering' | 'not answering' | 'stopped';
  bmcPort: number;
  nics: { name: string; mac: string; port: string }[];
  reports: number;
  lastReport?: BootReport;
}

export interface LabStatus {
  dir: string;
  id: string;
  phase: LabState['phase'];
  accel: string;
  switch: { ovsdb: string; running: boolean };
  provisioning: { namespace: string; vlan: number; dnsmasq: boolean; bootServer: boolean; fpblSocket?: string };
  /** MiB of each node's disk; 0: none. */
  diskMiB: number;
  memoryMiB: number;
  registeredIn?: string;
  nodes: NodeStatus[];
}

export function readReports(layout: LabLayout): BootReport[] {
  try {
    return readFileSync(layout.reportsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as BootReport);
  } catch {
    return [];
  }
}

function running(pidFile: string, marker: string): boolean {
  const pid = readPid(pidFile);
  return pid !== null && alive(pid) && commandLine(pid).includes(marker);
}

export function status(dirArg: string): LabStatus | null {
  const dir = resolve(dirArg);
  const state = readState(dir);
  if (!state) return null;
  const layout = labLayout(state.spec);
  const reports = readReports(layout);
  return {
    dir,
    id: state.spec.id,
    phase: state.phase,
    accel: state.spec.accel,
    switch: { ovsdb: `unix:${layout.ovsdbSocket}`, running: running(join(layout.switchDir, 'ovs-vswitchd.pid'), dir) },
    provisioning: {
      namespace: layout.provisioningNetns,
      vlan: state.spec.provisioningVlan,
      dnsmasq: running(join(layout.provisioningDir, 'dnsmasq.pid'), dir),
      bootServer: running(join(layout.provisioningDir, 'boot-server.pid'), dir),
      ...(state.spec.fpblSocket ? { fpblSocket: state.spec.fpblSocket } : {}),
    },
    diskMiB: state.spec.diskMiB ?? 0,
    memoryMiB: state.spec.memoryMiB,
    registeredIn: state.registeredIn,
    nodes: layout.nodes.map((n) => {
      const mine = reports.filter((r) => n.nics.some((nic) => nic.mac === r.mac));
      const bmcRunning = running(join(n.dir, 'ipmi_sim.pid'), dir);
      return {
        name: n.name,
        power: running(nodeFiles(n.dir).pid, dir) ? 'on' : 'off',
        bmc: !bmcRunning ? 'stopped' : bmcAnswers(n.bmcPort, state.bmc.user, state.bmc.password) ? 'answering' : 'not answering',
        bmcPort: n.bmcPort,
        nics: n.nics.map((nic) => ({ name: nic.name, mac: nic.mac, port: nic.tap })),
        reports: mine.length,
        lastReport: mine.at(-1),
      };
    }),
  };
}
