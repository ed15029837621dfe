/**
 * Diskless provisioning in the lab, through a derived HIL over a base HIL
 * with boot networks (the rig of test/e2e/diskless-kexec.test.ts):
 *
 *   npm run bench:diskless [-- --rounds 2 --write-docs]
 *
 * Request → the customer's OS saying `ready` with its root on a fresh clone
 * of one golden image, for one node alone and for two at once, by:
 * - (a) disk clone + kexec: `hil node deploy NODE golden --disk D` on a node
 *   in its FPBL; split at the FPBL's "kexec -e" line into control plane (HIL,
 *   the disk clone, the FPBL's download and checks, the NIC move through both
 *   HILs, the FPBL noticing it) and the kernel's boot from the network disk;
 * - (b) disk clone + power cycle + iPXE: `hil disk create`, `hil node
 *   boot-disk set --wait`, `bootdev pxe`, `power cycle`; split at the
 *   firmware's first line ("SeaBIOS").
 * - (c) copy onto the local disk: as (b), but the image's initramfs first
 *   copies the whole network disk onto the node's own disk and boots from
 *   that copy (`hil.install=/dev/vda`, src/fpbl/agent/hil-netroot.sh): what
 *   an installer does, minus the installer's reboot into the local disk,
 *   which the extrapolation adds back as a second POST.
 * Each OS says how much of its disk it read before `ready` (the example's
 * /sys/block/sda/stat; for (c), what the copy read), set against the image's
 * size. Times of console lines are taken by polling the consoles every 20 ms.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { missingSummary } from '../src/lab/doctor.ts';
import { HIL, run, startRig, type Rig } from '../test/support/fastprov-rig.ts';
import { HIL_ADMIN } from '../test/support/processes.ts';
import { machine, revision } from './lib/report.ts';
import { consoleTimes, median, postExtrapolation, publishLabBench, runBench, sec } from './lib/lab-timing.ts';
import { ROOT } from './lib/servers.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '2' }, 'write-docs': { type: 'boolean', default: false }, 'kexec-only': { type: 'boolean', default: false }, debug: { type: 'string' } } });
const ROUNDS = Number(values.rounds);
const log = (m: string) => console.error(`[bench:diskless] ${m}`);
const MARKER = 'BENCH-DISKLESS';
/** The example golden image's disk, as a node sees it. */
const IMAGE_MIB = 32;

interface Sample {
  total: number;
  control: number;
  boot: number;
  /** KiB the OS read of its disk before `ready`. */
  readKiB: number;
}

const samples: Record<string, Sample[]> = {};
const add = (key: string, s: Sample) => (samples[key] ??= []).push(s);


/** (c): what the copy onto the local disk read of the network disk. */
const installedKiB = (text: string) => {
  const m = /hil-netroot: installed (\d+) KiB onto/.exec(text);
  return m ? Number(m[1]) : undefined;
};
const readKiB = (text: string) => Number(/hil-example: read (\d+) KiB of its disk/.exec(text)?.[1] ?? NaN);

/** A CLI call as alice that does not block this process (the consoles are polled meanwhile). */
function alice(rig: Rig, ...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, HIL_ENDPOINT: rig.derived.endpoint, HIL_USERNAME: 'alice', HIL_PASSWORD: 'alice-pw' };
    execFile(HIL, args, { env, encoding: 'utf8', timeout: 300_000 }, (err, stdout, stderr) => (err ? reject(new Error(`hil ${args.join(' ')}: ${stdout}${stderr}`)) : resolve()));
  });
}

/** The FPBL's console lines that split the control plane of (a) into its steps (each measured from the request). */
const CONTROL_STEPS = [
  { name: 'the FPBL told to deploy', line: /hil-agent: command: deploy/ },
  { name: 'kernel and initrd at hand (cached), the NIC move asked for', line: /hil-agent: deploy: staged/ },
  { name: '`kexec -l` done', line: /hil-agent: deploy: loaded/ },
  { name: 'the boot network says jump', line: /hil-agent: the boot network says jump/ },
];
/** Per sample of (a): when the API answered, then each of CONTROL_STEPS, then kexec -e (ms from the request). */
const steps: Array<{ nodes: number; at: number[] }> = [];

/** Until node i's FPBL (its latest boot) holds the golden image's kernel and initrd. */
async function prefetched(rig: Rig, i: number): Promise<void> {
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(100)) {
    const text = rig.consoleText(i);
    const boot = text.slice(text.lastIndexOf('hil-fpbl: booted'));
    if ((boot.match(/hil-agent: cache: holds /g) ?? []).length >= 2) return;
  }
  throw new Error(`node ${rig.nodes[i]}: its FPBL did not prefetch the golden image within 120 s`);
}

let disks = 0;
const freshDisk = () => `bench-d${++disks}`;

/** (a): deploy --disk on nodes `idx` (ready, in the FPBL), then reclaim them (power cycle; the disks deleted). */
async function kexecPath(rig: Rig, idx: number[], key: string): Promise<void> {
  // A node that has been ready for a while holds its project's images (prefetch_mib): as in a datacenter, the deploy finds them there.
  await Promise.all(idx.map((i) => prefetched(rig, i)));
  const from = idx.map((i) => rig.consoleText(i).length);
  const t0 = Date.now();
  await Promise.all(idx.map((i) => rig.alice.node.deploy(rig.nodes[i], 'golden', undefined, { disk: freshDisk() })));
  const answered = Date.now() - t0;
  const seen = await Promise.all(idx.map((i, k) => consoleTimes(rig, i, from[k], t0, [...CONTROL_STEPS.map((s) => s.line), /hil-agent: kexec -e now/, /hil-example: ready/])));
  for (const { times, text } of seen) {
    const [kexec, ready] = times.slice(-2) as [number, number];
    add(key, { total: ready, control: kexec, boot: ready - kexec, readKiB: readKiB(text) });
    steps.push({ nodes: idx.length, at: [answered, ...times.slice(0, -1)] });
    if (!/deploy: the kernel is in the cache/.test(text)) throw new Error('the deploy did not find its kernel in the FPBL\'s cache');
  }
  await Promise.all(idx.map((i) => rig.alice.node.reclaim(rig.nodes[i])));
  await Promise.all(idx.map((i) => rig.waitState(rig.alice, rig.nodes[i], 'ready', 300_000)));
}

/**
 * (b), or (c) with `image` golden-install: clone, boot disk, bootdev pxe,
 * power cycle on nodes `idx` (not held by the provisioning service); then
 * boot disk cleared, power off.
 */
async function ipxePath(rig: Rig, idx: number[], key: string, image = 'golden'): Promise<void> {
  const from = idx.map((i) => rig.consoleText(i).length);
  const t0 = Date.now();
  const cycled = idx.map(async (i) => {
    const d = freshDisk();
    await alice(rig, 'disk', 'create', d, image, '--project', 'cust-a');
    await alice(rig, 'node', 'boot-disk', 'set', rig.nodes[i], d, '--wait');
    await alice(rig, 'node', 'bootdev', rig.nodes[i], 'pxe');
    await alice(rig, 'node', 'power', 'cycle', rig.nodes[i]);
    return d;
  });
  const made = await Promise.all(cycled);
  const seen = await Promise.all(idx.map((i, k) => consoleTimes(rig, i, from[k], t0, [/SeaBIOS/, /hil-example: ready/])));
  for (const { times: [firmware, ready], text } of seen) add(key, { total: ready, control: firmware, boot: ready - firmware, readKiB: installedKiB(text) ?? readKiB(text) });
  for (const [k, i] of idx.entries()) {
    await alice(rig, 'node', 'power', 'off', rig.nodes[i]);
    await alice(rig, 'node', 'boot-disk', 'clear', rig.nodes[i]);
    for (let t = 0; ; t++) {
      try {
        await alice(rig, 'disk', 'delete', made[k]!);
        break;
      } catch (err) {
        if (t > 40) throw err;
        await sleep(500); // its export stopping
      }
    }
  }
}

const COPY_1 = 'copy onto the local disk + boot from it, 1 node';
const COPY_2 = 'copy onto the local disk + boot from it, 2 nodes at once';
const stat = (key: string, f: keyof Sample) => median(samples[key].map((s) => s[f]));

async function main(): Promise<void> {
  const missing = missingSummary();
  if (missing) throw new Error(`the lab cannot run here: ${missing}`);
  const m = machine();
  log('starting the rig: base HIL, 2-node lab, derived HIL with boot networks');
  // Local disks the image fits on, for (c).
  const rig = await startRig({ nodes: 2, returnTimeoutSeconds: 60, bootTimeoutSeconds: 300, images: [], diskless: { subnets: '10.216.0.0/16' }, diskMiB: IMAGE_MIB + 8 });
  try {
    const image = join(rig.root, 'images', 'golden');
    run(HIL_ADMIN, ['fpbl', 'example-image', '--disk', '--marker', MARKER, '--out', image], { HIL_DATA_DIR: join(rig.root, 'derived') });
    const cmdline = readFileSync(join(image, 'cmdline'), 'utf8').trim();
    // The same files twice (one blob each): golden-install's command line has the initramfs copy the disk to /dev/vda first.
    for (const [name, words] of [['golden', cmdline], ['golden-install', `${cmdline} hil.install=/dev/vda`]]) {
      run(HIL, ['image', 'upload', name!, '--disk', join(image, 'disk.qcow2'), '--kernel', join(image, 'vmlinuz'), '--initrd', join(image, 'initrd.img'), '--cmdline', words!, '--project', 'cust-a'], {
        HIL_ENDPOINT: rig.derived.endpoint,
        HIL_USERNAME: 'alice',
        HIL_PASSWORD: 'alice-pw',
      });
    }
    const both = [0, 1];
    // (b) first: the nodes are not held by the provisioning service yet.
    for (const n of rig.nodes) await rig.derived.admin.project.connectNode('cust-a', n);
    for (const n of rig.nodes) await alice(rig, 'node', 'obm', 'enable', n);
    for (let r = 1; r <= (values['kexec-only'] ? 0 : ROUNDS); r++) {
      log(`(b) power cycle + iPXE, round ${r} of ${ROUNDS}`);
      for (const i of both) await ipxePath(rig, [i], 'clone + power cycle + iPXE, 1 node');
      await ipxePath(rig, both, 'clone + power cycle + iPXE, 2 nodes at once');
      log(`(c) copy onto the local disk, round ${r} of ${ROUNDS}`);
      for (const i of both) await ipxePath(rig, [i], COPY_1, 'golden-install');
      await ipxePath(rig, both, COPY_2, 'golden-install');
    }
    log('enrolling both nodes (power cycle + PXE into the FPBL)');
    await Promise.all(rig.nodes.map((n) => rig.derived.admin.node.reclaim(n)));
    await Promise.all(rig.nodes.map((n) => rig.waitState(rig.derived.admin, n, 'ready', 300_000)));
    for (let r = 1; r <= ROUNDS; r++) {
      log(`(a) kexec, round ${r} of ${ROUNDS}`);
      for (const i of both) await kexecPath(rig, [i], 'clone + kexec, 1 node');
      await kexecPath(rig, both, 'clone + kexec, 2 nodes at once');
    }
  } finally {
    if (values.debug) rig.saveDebug(values.debug);
    await rig.close();
  }
  const stepNames = ['the API answered', ...CONTROL_STEPS.map((s) => s.name), '`kexec -e`'];
  // The one-node samples only: two at once share the lab's two cores.
  const stepRows = stepNames.map((name, k) => `| ${name} | ${sec(median(steps.filter((s) => s.nodes === 1).map((s) => s.at[k]!)))} s |`);
  log(`control plane of (a), step by step (median, from the request):\n${stepRows.join('\n')}`);
  if (values['kexec-only']) return;

  const rows = Object.keys(samples).map(
    (k) => `| ${k} | ${samples[k]!.length} | ${sec(stat(k, 'total'))} s | ${sec(stat(k, 'control'))} s | ${sec(stat(k, 'boot'))} s | ${Math.round(stat(k, 'readKiB'))} KiB (${((100 * stat(k, 'readKiB')) / (IMAGE_MIB * 1024)).toFixed(1)} %) |`,
  );
  const a1 = stat('clone + kexec, 1 node', 'total');
  const b1 = stat('clone + power cycle + iPXE, 1 node', 'total');
  const a2 = stat('clone + kexec, 2 nodes at once', 'total');
  const b2 = stat('clone + power cycle + iPXE, 2 nodes at once', 'total');
  const aBoot = stat('clone + kexec, 1 node', 'boot');
  const aCp = stat('clone + kexec, 1 node', 'control');
  const bCp = stat('clone + power cycle + iPXE, 1 node', 'control');
  const bBoot = stat('clone + power cycle + iPXE, 1 node', 'boot');
  const c1 = stat(COPY_1, 'total');
  const c2 = stat(COPY_2, 'total');
  const extrapolation = postExtrapolation([
    { name: 'clone + kexec', ms: aCp + aBoot, posts: 0 },
    { name: 'clone + power cycle + iPXE', ms: bCp + bBoot, posts: 1 },
    // The installer's own boot, then its reboot into the local disk.
    { name: 'copy onto the local disk', ms: c1, posts: 2 },
  ]);
  const body = [
    `- **Command:** \`npm run bench:diskless -- --rounds ${ROUNDS} --write-docs\` on commit ${revision(ROOT)}; 2 lab nodes (384 MiB, TCG, 1 NIC) rented by a derived HIL from a base HIL, with boot networks; the example golden image (${IMAGE_MIB} MiB disk); medians`,
    `- **Machine:** ${m.cpuModel}, ${m.cpus} CPUs, ${m.memoryGiB} GiB RAM, ${m.kernel}; ${m.date}`,
    "- **Split:** control plane = request → the FPBL's `kexec -e` (a) or the firmware's first line (b, c); boot = from there to the OS saying `ready` with its root on its network disk (a, b) or on its local copy (c). Read = what the OS read of its network disk by then (for (c), what the copy read)",
    '',
    '| path | samples | request → ready | control plane | boot | read of the disk |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `In this run, one node: clone + kexec ${sec(a1)} s, clone + power cycle + iPXE ${sec(b1)} s (${(b1 / a1).toFixed(2)}×), copy onto the local disk ${sec(c1)} s (${(c1 / a1).toFixed(2)}×); two at once: ${sec(a2)} s, ${sec(b2)} s (${(b2 / a2).toFixed(2)}×), ${sec(c2)} s (${(c2 / a2).toFixed(2)}×). The control plane of (a) is ${sec(aCp)} s (target: under 1 s), step by step:`,
    '',
    '| step of (a), 1 node | from the request (median) |',
    '|---|---:|',
    ...stepRows,
    '',
    `(c) boots as (b) does and then copies all ${IMAGE_MIB} MiB through the node before its OS starts, where (a) and (b) read the few percent above; a real distribution's image is gigabytes. It skips the installer's reboot into the local disk, which the extrapolation adds back as a second POST.`,
    '',
    '**Extrapolated to real servers**: the same control plane and kernel boot, and on the firmware path a POST of 30 s, 3 min or 10 min (as for bench:fastprov):',
    '',
    ...extrapolation,
  ].join('\n');
  publishLabBench({ root: ROOT, name: 'diskless', heading: 'Diskless provisioning: clone + kexec against clone + power cycle + iPXE', body, data: { machine: m, rounds: ROUNDS, samples }, writeDocs: values['write-docs'], log });
}

runBench(main);
