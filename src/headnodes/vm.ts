/**
 * One headnode's QEMU VM and its files, in `<run_dir>/<uuid>/`: the qcow2
 * overlay on its base image (the tenant's disk, kept while the headnode
 * lives), the first-boot seed, QEMU's pid file, QMP socket, serial console
 * socket and console log (QEMU writes every byte of the serial line there,
 * whoever reads the socket).
 *
 * QEMU daemonizes: the VM outlives the HIL process that started it, and the
 * next holder finds it again by its pid file (the process's command line
 * names the headnode's uuid, so a recycled pid is not mistaken for it).
 * Its taps are made by QEMU in the host switch's namespace, named after the
 * hnic's id (`hnt<id>`), so a leftover can be told apart and removed.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Qmp } from '../util/qmp.ts';
import { runTool } from '../util/run-tool.ts';
import type { HeadnodeImage } from './image/build.ts';
import { writeSeed, type HeadnodeSeed } from './image/seed.ts';

import { files } from './paths.ts';

export { tapName, TAP_PREFIX, vmDir } from './paths.ts';

export interface VmSpec {
  uuid: string;
  dir: string;
  image: HeadnodeImage;
  memoryMib: number;
  cpus: number;
  accel: string[];
  /** In the order the guest sees them; each a tap QEMU creates. */
  nics: Array<{ tap: string; mac: string }>;
  seed: HeadnodeSeed;
  /** The namespace the host switch (and so the taps) lives in. */
  netns?: string;
}


/** The VM's pid if it runs (its command line names `uuid`), else null. */
export function runningPid(dir: string, uuid: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(files(dir).pid, 'utf8').trim());
    process.kill(pid, 0);
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(uuid)) return null;
  } catch {
    return null;
  }
  return pid;
}

/** Starts the VM (its overlay made on first start, its seed written afresh); returns its pid. */
export async function startVm(spec: VmSpec, signal: AbortSignal): Promise<number> {
  const f = files(spec.dir);
  mkdirSync(spec.dir, { recursive: true, mode: 0o700 });
  if (!existsSync(f.overlay)) {
    await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', spec.image.disk, `${f.overlay}.tmp`], { signal, timeoutMs: 30_000 });
    renameSync(`${f.overlay}.tmp`, f.overlay); // whole or not at all: an overlay that exists is complete
  }
  writeSeed(f.seed, spec.seed);
  rmSync(f.pid, { force: true });
  const qemu = ['qemu-system-x86_64', ...qemuArgs(spec)];
  const [cmd, ...args] = spec.netns ? ['ip', 'netns', 'exec', spec.netns, ...qemu] : qemu;
  await runTool(cmd!, args, { signal, timeoutMs: 60_000 });
  const pid = runningPid(spec.dir, spec.uuid);
  if (pid === null) throw new Error('QEMU daemonized but its pid file names no running VM');
  return pid;
}

function qemuArgs(spec: VmSpec): string[] {
  const f = files(spec.dir);
  const args = [
    '-name', `headnode-${spec.uuid}`,
    ...spec.accel.flatMap((a) => ['-accel', a]),
    '-m', String(spec.memoryMib), '-smp', String(spec.cpus),
    '-kernel', spec.image.kernel, '-initrd', spec.image.initrd, '-append', `${spec.image.cmdline} console=ttyS0`,
    '-drive', `file=${f.overlay},if=virtio,format=qcow2,cache=writeback`,
    '-drive', `file=${f.seed},if=virtio,format=raw,readonly=on`,
    '-chardev', `socket,id=serial0,path=${f.console},server=on,wait=off,logfile=${f.log},logappend=on`,
    '-serial', 'chardev:serial0',
    '-qmp', `unix:${f.qmp},server=on,wait=off`,
    '-display', 'none', '-nodefaults', '-no-user-config',
    '-daemonize', '-pidfile', f.pid,
  ];
  // vnet_hdr=off: a userspace-datapath switch would pass the guest's offloaded checksums on unfinished (TCP dies, ping works).
  spec.nics.forEach((n, i) => args.push('-netdev', `tap,id=hn${i},ifname=${n.tap},script=no,downscript=no,vnet_hdr=off`, '-device', `virtio-net-pci,netdev=hn${i},mac=${n.mac}`));
  return args;
}

async function qmp(dir: string, command: string, signal: AbortSignal): Promise<void> {
  const q = await Qmp.open(files(dir).qmp, signal);
  try {
    await q.execute(command, {}, signal);
  } finally {
    q.close();
  }
}

/** Resets the VM (a power cycle without losing its process). */
export const resetVm = (dir: string, signal: AbortSignal) => qmp(dir, 'system_reset', signal);

/** Asks the guest to power off, then ends QEMU after `graceMs`; returns once it is gone. */
export async function stopVm(dir: string, uuid: string, graceMs: number): Promise<void> {
  const pid = runningPid(dir, uuid);
  if (pid === null) return;
  if (graceMs > 0) await qmp(dir, 'system_powerdown', AbortSignal.timeout(5000)).catch(() => {});
  const deadline = Date.now() + graceMs;
  while (runningPid(dir, uuid) !== null && Date.now() < deadline) await sleep(100);
  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    if (runningPid(dir, uuid) === null) return;
    try {
      process.kill(pid, sig);
    } catch {
      return;
    }
    for (let i = 0; i < 30 && runningPid(dir, uuid) !== null; i++) await sleep(100);
  }
}

/** Removes the headnode's files (the VM must be stopped). */
export function removeVmFiles(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
