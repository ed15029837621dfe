/**
 * `hil-lab down`: finds every process the lab started (by the PID files it
 * recorded, checked against their command lines, and what those started),
 * namespace and interface, also when `up` crashed half-way or the host
 * rebooted, stops and deletes them, and removes the lab's directory.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stopBmc } from './bmc.ts';
import { labLayout, type LabLayout } from './layout.ts';
import { stopProvisioning } from './provisioning.ts';
import { nodeFiles } from './qemu.ts';
import { readState } from './state.ts';
import { stopSwitch } from './switch.ts';
import { callerChain, daemonsUnder, killPid, killRecorded, namedNetns, netnsList, processTable, readPid, sameProcess, tryRun, withDescendants, type ProcessEntry } from './system.ts';

/** What `down` found and removed. */
export interface DownReport {
  processes: number;
  namespaces: string[];
  links: string[];
}

/** Every PID file under the lab's directory (daemons', BMCs', QEMUs'). */
function pidFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.pid')).map((f) => join(dir, f));
}

/**
 * The processes the lab started, still running: those its PID files record
 * (if their command line still names the lab's directory: a PID may have
 * been reused since), everything they started (a chassis control caught
 * half-way, the QEMU it is starting), and whatever runs in the lab's own
 * namespaces and names the directory (a QEMU whose PID file was never
 * written). Never the caller or its ancestors: `timeout 60 hil-lab down
 * --dir D`, `bash -c '… --dir D …'` and `sudo` name the directory too, and
 * neither does any other process that merely names it.
 */
function labProcesses(layout: LabLayout, spare: ReadonlySet<number>): ProcessEntry[] {
  const dir = layout.spec.dir;
  const table = processTable();
  const recorded = pidFiles(dir)
    .map(readPid)
    .filter((pid): pid is number => pid !== null && table.get(pid)?.cmdline.includes(dir) === true);
  // Daemons whose PID file was never written (up killed right after starting one).
  recorded.push(...daemonsUnder(dir));
  const found = withDescendants(recorded, table);
  const namespaces = new Set([layout.switchNetns, layout.provisioningNetns].map(namedNetns).filter((n) => n !== null));
  for (const p of table.values()) if (namespaces.has(p.netns) && p.cmdline.includes(dir)) found.add(p.pid);
  return [...found].filter((pid) => !spare.has(pid) && table.has(pid)).map((pid) => table.get(pid)!);
}

/**
 * Stops every process the lab started, deletes every namespace and
 * interface, and removes the directory of the lab in `dir`. Synchronous, and
 * safe to repeat.
 */
export function down(dirArg: string): DownReport {
  const dir = resolve(dirArg);
  const state = readState(dir);
  const report: DownReport = { processes: 0, namespaces: [], links: [] };
  if (!state) return report;
  const layout = labLayout(state.spec);
  const spare = callerChain();
  // Found before anything stops: a stopped parent's children are no longer its descendants.
  const found = labProcesses(layout, spare);
  report.processes = found.length;
  for (const node of layout.nodes) {
    stopBmc(node.dir, dir); // first, so that it cannot power the node on again
    killRecorded(nodeFiles(node.dir).pid, dir);
  }
  killRecorded(layout.serialRelayPid, dir);
  stopProvisioning(layout);
  stopSwitch(layout);
  // Whatever of them is still there (a half-built lab's, a chassis control's
  // QEMU that started meanwhile) goes too.
  for (const p of [...found, ...labProcesses(layout, spare)]) if (sameProcess(p)) killPid(p.pid);
  for (const ns of [layout.switchNetns, layout.provisioningNetns]) {
    if (netnsList().includes(ns) && tryRun('ip', ['netns', 'delete', ns])) report.namespaces.push(ns);
  }
  // Nothing of the lab should be in the host namespace; make sure.
  for (const link of hostLinks(layout.ifPrefix)) if (tryRun('ip', ['link', 'delete', link])) report.links.push(link);
  rmSync(dir, { recursive: true, force: true });
  return report;
}

/** Host-namespace interfaces whose names start with `prefix`. */
export function hostLinks(prefix: string): string[] {
  try {
    return readdirSync('/sys/class/net').filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}
