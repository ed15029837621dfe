/**
 * A lab's life: `up` builds it, `status` reads it, `down` takes it apart.
 *
 * `up` writes lab.json (the lab's id and size) before it makes anything, and
 * every name the lab uses derives from it (layout.ts). So `down` finds every
 * process (by the PID files it recorded, checked against their command lines,
 * and what those started), namespace and interface again, also when `up` crashed half-way or the host
 * rebooted, and then removes the lab's directory.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bmcAnswers, startBmc, stopBmc } from './bmc.ts';
import { chassisControlWrapper } from './chassis-control.ts';
import { labChecks, missingSummary } from './doctor.ts';
import { findKernels } from '../initramfs/kernel.ts';
import { writeBootFiles } from './guest.ts';
import { labLayout, type LabLayout, type LabSpec, type NodeRuntime } from './layout.ts';
import { startProvisioning, stopProvisioning } from './provisioning.ts';
import { detectAccel, nodeFiles, SERCON_PORT, SERCON_PORT_FILE } from './qemu.ts';
import { addNodePort, startSwitch, stopSwitch } from './switch.ts';
import { alive, callerChain, commandLine, killPid, killRecorded, namedNetns, processTable, readPid, run, sameProcess, sleepSync, startDaemon, tryRun, withDescendants, type ProcessEntry } from './system.ts';
import { RELAY_READY } from './serial-relay.ts';

const SERIAL_RELAY = fileURLToPath(new URL('./serial-relay.ts', import.meta.url));
import type { BootReport } from './boot-server.ts';
import type { BmcCredentials } from './register.ts';

export interface LabState {
  spec: LabSpec;
  phase: 'starting' | 'up';
  startedAt: string;
  kernel?: string;
  /** The BMCs' credentials (lab.json is 0600): `hil-lab` needs them to register nodes. */
  bmc: BmcCredentials;
  /** The HIL endpoint the lab was registered in, if any. */
  registeredIn?: string;
}

export interface UpOptions {
  dir: string;
  nodes?: number;
  nics?: number;
  prefix?: string;
  provisioningVlan?: number;
  memoryMiB?: number;
  accel?: 'auto' | 'tcg' | 'kvm';
  /** MiB of a raw virtio disk per node (0: none, the default). */
  diskMiB?: number;
  /** Forward /fpbl/ on the boot server to the HTTP server on this unix socket (HIL's provisioning endpoint). */
  fpblSocket?: string;
  progress?: (msg: string) => void;
}

export class LabError extends Error {}

export function defaultLabDir(): string {
  return process.env.HIL_LAB_DIR ?? join(process.env.HOME ?? '/root', '.local', 'state', 'hil-lab');
}

export function readState(dir: string): LabState | null {
  try {
    return JSON.parse(readFileSync(join(resolve(dir), 'lab.json'), 'utf8')) as LabState;
  } catch {
    return null;
  }
}

function writeState(layout: LabLayout, state: LabState): void {
  writeFileSync(layout.stateFile, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

function netnsList(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

function newId(): string {
  const taken = new Set(netnsList().map((n) => /^hil-lab-([0-9a-f]{4})-/.exec(n)?.[1]));
  for (;;) {
    const id = randomBytes(2).toString('hex');
    if (!taken.has(id)) return id;
  }
}

async function portFree(port: number): Promise<boolean> {
  const tcp = await new Promise<boolean>((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
  if (!tcp) return false;
  return new Promise<boolean>((res) => {
    const s = createSocket('udp4');
    s.once('error', () => res(false));
    s.bind(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

async function portsFree(layout: LabLayout): Promise<boolean> {
  for (const n of layout.nodes) {
    for (const port of [n.bmcPort, n.serialPort]) if (!(await portFree(port))) return false;
  }
  return true;
}

/** The lab `up` would build from these options; throws LabError naming a bad one. */
function labSpec(o: UpOptions, dir: string): LabSpec {
  const nodes = o.nodes ?? 2;
  const nics = o.nics ?? 2;
  const vlan = o.provisioningVlan ?? 100;
  const memoryMiB = o.memoryMiB ?? 256;
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 32) throw new LabError('--nodes must be from 1 to 32');
  if (nics !== 1 && nics !== 2) throw new LabError('--nics must be 1 or 2');
  if (!Number.isInteger(vlan) || vlan < 1 || vlan > 4094) throw new LabError('--provisioning-vlan must be from 1 to 4094');
  if (!Number.isInteger(memoryMiB) || memoryMiB < 128 || memoryMiB > 65536) throw new LabError('--memory must be from 128 to 65536 (MiB)');
  const diskMiB = o.diskMiB ?? 0;
  if (!Number.isInteger(diskMiB) || diskMiB < 0 || diskMiB > 1048576) throw new LabError('--disk-mib must be from 0 (no disk) to 1048576');
  return {
    dir,
    id: newId(),
    nodes,
    nics,
    prefix: o.prefix ?? 'lab',
    provisioningVlan: vlan,
    memoryMiB,
    accel: !o.accel || o.accel === 'auto' ? detectAccel() : o.accel,
    ...(diskMiB ? { diskMiB } : {}),
    ...(o.fpblSocket ? { fpblSocket: resolve(o.fpblSocket) } : {}),
  };
}

/** Builds a lab in `dir` (which must not hold one already) and returns its layout. */
export async function up(o: UpOptions): Promise<{ layout: LabLayout; state: LabState }> {
  const progress = o.progress ?? (() => {});
  const missing = missingSummary(labChecks());
  if (missing) throw new LabError(`cannot build a lab here: ${missing}; see hil-lab doctor`);
  const dir = resolve(o.dir);
  if (readState(dir)) throw new LabError(`${dir} already holds a lab; run hil-lab down --dir ${dir} first`);
  if (existsSync(dir) && readdirSync(dir).length) throw new LabError(`${dir} is not empty; give the lab a directory of its own`);
  // Each id has its own block of ports; another lab (or anything else) may hold one.
  let spec = labSpec(o, dir);
  let layout = labLayout(spec);
  for (let attempt = 1; !(await portsFree(layout)); attempt++) {
    if (attempt >= 20) throw new LabError('no free block of BMC and serial ports on 127.0.0.1 (tried 20 lab ids)');
    spec = labSpec(o, dir);
    layout = labLayout(spec);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const state: LabState = { spec, phase: 'starting', startedAt: new Date().toISOString(), bmc: { user: 'admin', password: randomBytes(9).toString('base64url') } };
  writeState(layout, state);

  try {
    const kernel = findKernels()[0];
    progress(`guest: kernel ${kernel.version} and a busybox initramfs`);
    mkdirSync(layout.bootDir, { recursive: true });
    writeBootFiles(layout.bootDir, kernel, { fpbl: spec.fpblSocket !== undefined });
    state.kernel = kernel.image;

    progress(`switch: Open vSwitch (userspace) in namespace ${layout.switchNetns}`);
    run('ip', ['netns', 'add', layout.switchNetns]);
    startSwitch(layout);

    progress(`provisioning network: namespace ${layout.provisioningNetns}, VLAN ${spec.provisioningVlan}, dnsmasq and HTTP on 10.128.0.1`);
    if (spec.fpblSocket) progress(`provisioning network: /fpbl/ forwarded to ${spec.fpblSocket}`);
    run('ip', ['netns', 'add', layout.provisioningNetns]);
    startProvisioning(layout, process.execPath);

    startNodes(layout, state, progress);
  } catch (err) {
    down(dir);
    throw err;
  }
  state.phase = 'up';
  writeState(layout, state);
  return { layout, state };
}

/** The nodes: their directories and switch ports, the serial relay, then one BMC each (nodes stay off). */
function startNodes(layout: LabLayout, state: LabState, progress: (msg: string) => void): void {
  const { spec } = layout;
  const dir = spec.dir;
  writeFileSync(join(dir, SERCON_PORT_FILE), SERCON_PORT);
  const wrapper = join(dir, 'chassis-control');
  writeFileSync(wrapper, chassisControlWrapper(process.execPath));
  chmodSync(wrapper, 0o755);
  for (const node of layout.nodes) {
    progress(`${node.name}: ${spec.accel.toUpperCase()} node, ${spec.memoryMiB} MiB${spec.diskMiB ? `, disk ${spec.diskMiB} MiB` : ''}, NICs ${node.nics.map((n) => n.mac).join(' ')}; BMC on 127.0.0.1:${node.bmcPort}`);
    mkdirSync(node.dir, { recursive: true });
    const disk = spec.diskMiB ? nodeFiles(node.dir).disk : undefined;
    if (disk) {
      writeFileSync(disk, '');
      truncateSync(disk, spec.diskMiB! * 1024 * 1024); // sparse
    }
    const runtime: NodeRuntime = {
      name: node.name,
      labDir: dir,
      switchNetns: layout.switchNetns,
      memoryMiB: spec.memoryMiB,
      accel: spec.accel,
      serialPort: node.serialPort,
      nics: node.nics,
      ...(disk ? { disk } : {}),
    };
    writeFileSync(nodeFiles(node.dir).runtime, JSON.stringify(runtime, null, 2) + '\n');
    for (const nic of node.nics) addNodePort(layout, nic.tap);
  }
  // The relay must listen before the BMCs start: ipmi_sim connects to its
  // serial port once at start, then only every 10 s.
  const relayLog = join(dir, 'serial-relay.log');
  startDaemon(process.execPath, ['--disable-warning=ExperimentalWarning', SERIAL_RELAY, dir], { pidFile: layout.serialRelayPid, logFile: relayLog });
  waitForLine(relayLog, RELAY_READY, 10_000);
  for (const node of layout.nodes) {
    startBmc(node.dir, {
      name: node.name,
      port: node.bmcPort,
      guid: (spec.id + node.index.toString(16)).padStart(32, '0'),
      chassisControl: `${wrapper} ${node.dir}`,
      // The relay is a plain TCP stream: no telnet negotiation on the wire.
      sol: `tcp:127.0.0.1:${node.serialPort}`,
      ...state.bmc,
    });
  }
}

function waitForLine(file: string, line: string, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(file) && readFileSync(file, 'utf8').includes(line))) {
    if (Date.now() > deadline) throw new LabError(`timed out waiting for "${line}" in ${file}`);
    sleepSync(20);
  }
}

export function markRegistered(layout: LabLayout, state: LabState, endpoint: string): void {
  state.registeredIn = endpoint;
  writeState(layout, state);
}

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
