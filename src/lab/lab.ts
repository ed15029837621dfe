/**
 * A lab's life: `up` builds it (here), `status` reads it (./status.ts),
 * `down` takes it apart (./down.ts).
 *
 * `up` writes lab.json (the lab's id and size, ./state.ts) before it makes
 * anything, and every name the lab uses derives from it (layout.ts), so that
 * `down` finds everything again, also after a crash half-way.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBmc } from './bmc.ts';
import { chassisControlWrapper } from './chassis-control.ts';
import { labChecks, missingSummary } from './doctor.ts';
import { findKernels } from '../initramfs/kernel.ts';
import { writeBootFiles } from './guest.ts';
import { labLayout, type LabLayout, type LabSpec, type NodeRuntime } from './layout.ts';
import { startProvisioning } from './provisioning.ts';
import { detectAccel, nodeFiles, SERCON_PORT, SERCON_PORT_FILE } from './qemu.ts';
import { addNodePort, startSwitch } from './switch.ts';
import { netnsList, run, sleepSync, startDaemon } from './system.ts';
import { readState, writeState, type LabState } from './state.ts';
import { RELAY_READY } from './serial-relay.ts';

import { down } from './down.ts';

export { down, hostLinks, type DownReport } from './down.ts';
export { readReports, status, type LabStatus, type NodeStatus } from './status.ts';
export { defaultLabDir, markRegistered, readState, type LabState } from './state.ts';

const SERIAL_RELAY = fileURLToPath(new URL('./serial-relay.ts', import.meta.url));

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

