/**
 * What a headnode costs, in one run: the time from "start" to its console
 * saying it is ready (SSH listening), the host memory its QEMU uses then
 * (RSS) and what the guest itself uses, the disk it takes; against the
 * alternative upstream used (virt-clone: a full copy of the base image per
 * headnode) for the part that differs, making the headnode's disk.
 *
 *   node --disable-warning=ExperimentalWarning bench/headnode.bench.ts [-- --samples 3]
 *
 * Needs qemu-system-x86_64, qemu-utils, dropbear-bin, busybox-static, e2fsprogs.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { buildHeadnodeImage } from '../src/headnodes/image/build.ts';
import { consoleLogPath, vmDir } from '../src/headnodes/paths.ts';
import { runningPid, startVm, stopVm } from '../src/headnodes/vm.ts';
import { detectAccel } from '../src/util/accel.ts';
import { machine } from './lib/report.ts';
import { ROOT } from './lib/servers.ts';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '3' } } });
const SAMPLES = Number(values.samples);
const log = (m: string) => process.stderr.write(`[headnode bench] ${m}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

async function until(what: string, probe: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const rssMib = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'hil-headnode-bench-'));
  try {
    let t0 = process.hrtime.bigint();
    const image = await buildHeadnodeImage({ outDir: join(work, 'images') });
    const buildMs = ms(t0);
    const accel = detectAccel();
    const samples: Array<{ overlayMs: number; copyMs: number; readyMs: number; rssMib: number; overlayMib: number }> = [];
    for (let i = 0; i < SAMPLES; i++) {
      const uuid = randomUUID();
      const dir = vmDir(join(work, 'run'), uuid);
      // The alternative: a full copy of the base image (what virt-clone makes), timed alone.
      t0 = process.hrtime.bigint();
      execFileSync('qemu-img', ['convert', '-O', 'qcow2', image.disk, join(work, `copy-${i}.qcow2`)]);
      const copyMs = ms(t0);
      rmSync(join(work, `copy-${i}.qcow2`));
      t0 = process.hrtime.bigint();
      const seed = { instanceId: uuid, hostname: `bench${i}`, sshAuthorizedKeys: [], interfaces: [] };
      await startVm({ uuid, dir, image, memoryMib: 256, cpus: 1, accel: [accel], nics: [], seed }, AbortSignal.timeout(60_000));
      const startedMs = ms(t0);
      await until('the headnode to be ready', () => {
        try {
          return readFileSync(consoleLogPath(dir), 'utf8').includes(`hil-headnode: ready bench${i}`);
        } catch {
          return false;
        }
      }, 180_000);
      const readyMs = ms(t0);
      const pid = runningPid(dir, uuid)!;
      const sample = { overlayMs: 0, copyMs, readyMs, rssMib: rssMib(pid), overlayMib: statSync(join(dir, 'disk.qcow2')).size / 2 ** 20 };
      // The overlay's own part of the start: qemu-img create, measured the same way as the copy.
      t0 = process.hrtime.bigint();
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image.disk, join(work, `overlay-${i}.qcow2`)]);
      sample.overlayMs = ms(t0);
      samples.push(sample);
      log(`sample ${i + 1}: QEMU up in ${startedMs.toFixed(0)} ms, ready in ${(readyMs / 1000).toFixed(1)} s, RSS ${sample.rssMib.toFixed(0)} MiB`);
      await stopVm(dir, uuid, 10_000);
    }
    const r = {
      accel,
      buildMs,
      imageMib: statSync(image.disk).size / 2 ** 20,
      readyS: median(samples.map((s) => s.readyMs)) / 1000,
      rssMib: median(samples.map((s) => s.rssMib)),
      overlayAfterBootMib: median(samples.map((s) => s.overlayMib)),
      diskMs: { overlay: median(samples.map((s) => s.overlayMs)), fullCopy: median(samples.map((s) => s.copyMs)) },
      samples,
    };
    const m = machine();
    const stamp = new Date().toISOString();
    console.log(JSON.stringify({ stamp, machine: m, ...r, copyOverOverlay: r.diskMs.fullCopy / r.diskMs.overlay }, null, 2));
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(ROOT, 'bench', 'results', `headnode-${stamp.replace(/[:.]/g, '-')}.json`), JSON.stringify({ stamp, machine: m, ...r }, null, 2));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
