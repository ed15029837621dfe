/**
 * Fast provisioning against the firmware path, in the lab, through a derived
 * HIL over a base HIL (the rig of the e2e test):
 *
 *   npm run bench:fastprov [-- --rounds 3 --write-docs]
 *
 * Per node alone, and for 2 nodes at once:
 * - deploy by kexec: `hil node deploy` → the customer OS prints its marker;
 *   split at the FPBL's "kexec -e" line into control plane (HIL, the agent's
 *   download, checksum and kexec -l, the network move through both HILs, the
 *   agent noticing it left the provisioning network) and guest boot;
 * - reclaim by kexec: `hil node reclaim` → ready (return, FPBL boot, wipe);
 * - the power-cycle + PXE path: `hil node reclaim --power-cycle` from a
 *   deployed node → the FPBL (same kernel, a same-size initrd) reports in;
 *   split at the firmware's first line ("SeaBIOS") into control plane and
 *   firmware + PXE + boot.
 * Times of console lines are taken by polling the nodes' console logs every
 * 20 ms. Under TCG both boots cost about the same; the extrapolation to real
 * servers adds the POST times of shared/notes/recursive-fastprov-bmi.md §3.1.
 */
import { parseArgs } from 'node:util';
import { missingSummary } from '../src/lab/doctor.ts';
import type { HilClient } from '../src/client/index.ts';
import { startRig, type Rig } from '../test/support/fastprov-rig.ts';
import { machine, revision } from './lib/report.ts';
import { consoleTimes, median, postExtrapolation, publishLabBench, runBench, sec } from './lib/lab-timing.ts';
import { ROOT } from './lib/servers.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, 'write-docs': { type: 'boolean', default: false } } });
const ROUNDS = Number(values.rounds);
const log = (m: string) => console.error(`[bench:fastprov] ${m}`);


interface Sample {
  /** ms from the request to the end (marker, or ready). */
  total: number;
  /** ms from the request to the split line. */
  control: number;
  /** ms from the split line to the OS reporting in. */
  boot: number;
}

const samples: Record<string, Sample[]> = {};
const add = (key: string, s: Sample) => (samples[key] ??= []).push(s);

async function deployKexec(rig: Rig, who: HilClient, idx: number[], key: string): Promise<void> {
  const from = idx.map((i) => rig.consoleText(i).length);
  const t0 = Date.now();
  await Promise.all(idx.map((i) => who.node.deploy(rig.nodes[i], 'os-a', { [rig.nic]: 'net-a' })));
  const times = await Promise.all(idx.map((i, k) => consoleTimes(rig, i, from[k], t0, [/hil-agent: kexec -e now/, /hil-example: BENCH booted/])));
  for (const { times: [kexec, marker] } of times) add(key, { total: marker, control: kexec, boot: marker - kexec });
  await Promise.all(idx.map((i) => rig.waitState(who, rig.nodes[i], 'deployed')));
}

async function reclaim(rig: Rig, who: HilClient, idx: number[], key: string, powerCycle: boolean): Promise<void> {
  const from = idx.map((i) => rig.consoleText(i).length);
  const t0 = Date.now();
  await Promise.all(idx.map((i) => who.node.reclaim(rig.nodes[i], { powerCycle })));
  // The split: the return agent's jump, or the firmware's first words.
  const split = powerCycle ? /SeaBIOS/ : /hil-return: kexec -e now/;
  const times = await Promise.all(idx.map((i, k) => consoleTimes(rig, i, from[k], t0, [split, /hil-fpbl: booted/])));
  const ready = await Promise.all(idx.map((i) => rig.waitState(who, rig.nodes[i], 'ready', 300_000)));
  for (const p of ready) if (p.path !== (powerCycle ? 'power-cycle' : 'kexec')) throw new Error(`reclaim took the ${p.path} path: ${JSON.stringify(p)}`);
  const readyAt = Date.now() - t0;
  for (const { times: [splitAt, booted] } of times) {
    add(`${key} (to FPBL up)`, { total: booted, control: splitAt, boot: booted - splitAt });
    add(`${key} (to ready)`, { total: readyAt, control: splitAt, boot: booted - splitAt });
  }
}

const stat = (key: string, f: keyof Sample) => median(samples[key].map((s) => s[f]));

async function main(): Promise<void> {
  const missing = missingSummary();
  if (missing) throw new Error(`the lab cannot run here: ${missing}`);
  const m = machine();
  log('starting the rig: base HIL, 2-node lab, derived HIL');
  const rig = await startRig({ nodes: 2, returnTimeoutSeconds: 60, bootTimeoutSeconds: 300, images: [{ user: 'alice', image: 'os-a', marker: 'BENCH', returnAgent: true }] });
  try {
    log('enrolling both nodes (power cycle + PXE into the FPBL)');
    await Promise.all(rig.nodes.map((n) => rig.derived.admin.node.reclaim(n)));
    await Promise.all(rig.nodes.map((n) => rig.waitState(rig.derived.admin, n, 'ready', 300_000)));
    for (const n of rig.nodes) await rig.alice.project.connectNode('cust-a', n);
    const both = [0, 1];
    for (let r = 1; r <= ROUNDS; r++) {
      log(`round ${r} of ${ROUNDS}`);
      for (const i of both) {
        await deployKexec(rig, rig.alice, [i], 'deploy by kexec, 1 node');
        await reclaim(rig, rig.alice, [i], 'reclaim by kexec, 1 node', false);
      }
      await deployKexec(rig, rig.alice, both, 'deploy by kexec, 2 nodes at once');
      await reclaim(rig, rig.alice, both, 'reclaim by kexec, 2 nodes at once', false);
      for (const i of both) {
        await deployKexec(rig, rig.alice, [i], 'deploy by kexec, 1 node');
        await reclaim(rig, rig.alice, [i], 'power cycle + PXE, 1 node', true);
      }
      await deployKexec(rig, rig.alice, both, 'deploy by kexec, 2 nodes at once');
      await reclaim(rig, rig.alice, both, 'power cycle + PXE, 2 nodes at once', true);
    }
  } finally {
    await rig.close();
  }

  const rows = Object.keys(samples).map((k) => `| ${k} | ${samples[k].length} | ${sec(stat(k, 'total'))} s | ${sec(stat(k, 'control'))} s | ${sec(stat(k, 'boot'))} s |`);
  const kexec1 = stat('deploy by kexec, 1 node', 'total');
  const pxe1 = stat('power cycle + PXE, 1 node (to FPBL up)', 'total');
  const kexec2 = stat('deploy by kexec, 2 nodes at once', 'total');
  const pxe2 = stat('power cycle + PXE, 2 nodes at once (to FPBL up)', 'total');
  const cp = stat('deploy by kexec, 1 node', 'control');
  const guest = stat('deploy by kexec, 1 node', 'boot');
  const pxeCp = stat('power cycle + PXE, 1 node (to FPBL up)', 'control');
  const pxeBoot = stat('power cycle + PXE, 1 node (to FPBL up)', 'boot');
  // Real servers: the same control plane and kernel boot, plus POST on the firmware path (notes §3.1).
  const extrapolation = postExtrapolation([
    { name: 'deploy by kexec', ms: cp + guest, posts: 0 },
    { name: 'power cycle + PXE', ms: pxeCp + pxeBoot, posts: 1 },
  ]);
  const body = [
    `- **Command:** \`npm run bench:fastprov -- --rounds ${ROUNDS} --write-docs\` on commit ${revision(ROOT)}; 2 lab nodes (384 MiB, TCG, 1 NIC, 16 MiB disk) rented by a derived HIL from a base HIL; medians`,
    `- **Machine:** ${m.cpuModel}, ${m.cpus} CPUs, ${m.memoryGiB} GiB RAM, ${m.kernel}; ${m.date}`,
    '- **Split:** control plane = request → the FPBL\'s `kexec -e` (deploy), the return agent\'s `kexec -e` (reclaim) or the firmware\'s first line (power cycle); boot = from there to the OS reporting in on its console',
    '',
    '| path | samples | request → done | control plane | boot |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `In this run: deploy by kexec ${sec(kexec1)} s against power cycle + PXE ${sec(pxe1)} s for one node (${(pxe1 / kexec1).toFixed(2)}×), ${sec(kexec2)} s against ${sec(pxe2)} s for two at once (${(pxe2 / kexec2).toFixed(2)}×).`,
    '',
    '**Extrapolated to real servers**: the same control plane and kernel boot, and on the firmware path a POST of 30 s (new 1U server), 3 min (typical 2-socket server) or 10 min (large memory, RAID, many option ROMs):',
    '',
    ...extrapolation,
  ].join('\n');
  publishLabBench({ root: ROOT, name: 'fastprov', heading: 'Fast provisioning: kexec against power cycle + PXE', body, data: { machine: m, rounds: ROUNDS, samples }, writeDocs: values['write-docs'], log });
}

runBench(main);
