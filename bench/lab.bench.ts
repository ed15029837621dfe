/**
 * What a lab costs: RAM and CPU of its parts, and how long a node takes from
 * power-on to reporting in over the provisioning network, alone and with the
 * other nodes booting at the same time (the ratio is the figure to watch on a
 * shared, noisy machine).
 *
 *   npm run bench:lab [-- --nodes 4 --write-docs]
 *
 * The nodes are driven as HIL drives them, over IPMI (ipmitool lanplus
 * against each node's ipmi_sim); their ports are put on the provisioning VLAN
 * directly on the switch, since HIL is not what is measured here.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { missingSummary } from '../src/lab/doctor.ts';
import { down, readReports, up } from '../src/lab/lab.ts';
import type { LabLayout, NodeLayout } from '../src/lab/layout.ts';
import { nodeFiles } from '../src/lab/qemu.ts';
import { vsctl } from '../src/lab/switch.ts';
import { commandLine, processesMentioning, readPid } from '../src/lab/system.ts';
import { machine, replaceDocsBlock, revision } from './lib/report.ts';
import { ROOT } from './lib/servers.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '4' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const NODES = Number(values.nodes);
const log = (m: string) => console.error(`[bench:lab] ${m}`);

/** Resident memory of a process, MiB. */
function rssMiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds a process has used so far. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100 on Linux)
  } catch {
    return 0;
  }
}

function memAvailableMiB(): number {
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) / 1024;
}

function ipmi(layout: LabLayout, password: string, node: NodeLayout, ...args: string[]): void {
  const r = spawnSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(node.bmcPort), '-U', 'admin', '-E', ...args], {
    env: { ...process.env, IPMI_PASSWORD: password },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`ipmitool ${args.join(' ')} on ${node.name}: ${r.stderr}`);
}

/** Seconds from each node's power-on (its chassis log) to its report (the boot server's clock). */
async function bootTimes(layout: LabLayout, nodes: NodeLayout[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reports = readReports(layout);
    const done = nodes.map((n) => reports.find((r) => r.mac === n.nics[0].mac));
    if (done.every(Boolean)) {
      return nodes.map((n, i) => {
        const on = [...readFileSync(nodeFiles(n.dir).events, 'utf8').matchAll(/^(\S+) powered on/gm)].at(-1)![1];
        return (Date.parse(done[i]!.at) - Date.parse(on)) / 1000;
      });
    }
    if (Date.now() > deadline) throw new Error(`not every node reported in within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number) => x.toFixed(1);

async function main(): Promise<void> {
  const missing = missingSummary();
  if (missing) throw new Error(missing);
  const scratch = mkdtempSync(join(tmpdir(), 'hil-bench-lab-'));
  const dir = join(scratch, 'lab');
  try {
    const memBefore = memAvailableMiB();
    const t0 = Date.now();
    const { layout, state } = await up({ dir, nodes: NODES, nics: 1 });
    const upSeconds = (Date.now() - t0) / 1000;
    log(`up in ${upSeconds.toFixed(1)} s`);
    for (const n of layout.nodes) vsctl(layout, 'set', 'port', n.nics[0].tap, 'vlan_mode=access', `tag=${layout.spec.provisioningVlan}`, 'trunks=[]', 'protected=false');
    const infra = processesMentioning(dir).map((p) => ({ ...p, rss: rssMiB(p.pid) }));
    const infraRss = infra.reduce((a, p) => a + p.rss, 0);
    const part = (re: RegExp) => infra.filter((p) => re.test(p.cmdline)).reduce((a, p) => a + p.rss, 0);

    // One node at a time: each boots alone.
    const alone: number[] = [];
    for (const n of layout.nodes) {
      ipmi(layout, state.bmc.password, n, 'chassis', 'bootdev', 'pxe');
      ipmi(layout, state.bmc.password, n, 'chassis', 'power', 'on');
      alone.push((await bootTimes(layout, [n], 180_000))[0]);
      log(`${n.name} alone: ${fmt(alone.at(-1)!)} s`);
      ipmi(layout, state.bmc.password, n, 'chassis', 'power', 'off');
    }
    // All at once (the reports file is cleared so that only this round counts).
    writeFileSync(layout.reportsFile, '');
    const memIdle = memAvailableMiB();
    const tAll = Date.now();
    for (const n of layout.nodes) ipmi(layout, state.bmc.password, n, 'chassis', 'power', 'on');
    const together = await bootTimes(layout, layout.nodes, 300_000);
    const allSeconds = (Date.now() - tAll) / 1000;
    log(`all ${NODES} together: ${together.map(fmt).join(', ')} s; all reported after ${fmt(allSeconds)} s`);

    // Settled: the guests sit at their shell.
    await new Promise((r) => setTimeout(r, 5000));
    const qemus = layout.nodes.map((n) => readPid(nodeFiles(n.dir).pid)!).filter((pid) => commandLine(pid).includes(dir));
    const qemuRss = qemus.map(rssMiB);
    const cpu0 = qemus.map(cpuSeconds);
    await new Promise((r) => setTimeout(r, 10_000));
    const idleCpuPct = qemus.map((pid, i) => ((cpuSeconds(pid) - cpu0[i]) / 10) * 100);
    const memUsedByNodes = memIdle - memAvailableMiB();
    const m = machine();
    const ratio = median(together) / median(alone);

    const body = [
      `- **Date:** ${m.date}; **machine:** ${m.cpuModel}, ${m.cpus} CPUs, ${m.memoryGiB} GiB RAM, ${m.kernel}; load average ${m.loadAverage.join(' / ')} at the start`,
      `- **Command:** \`npm run bench:lab${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}\` on commit ${revision(ROOT)}; ${NODES} nodes of ${layout.spec.memoryMiB} MiB, ${layout.spec.accel.toUpperCase()}, 1 NIC each; boot = IPMI power-on → iPXE DHCP → HTTP kernel + initrd → guest DHCP → report`,
      '',
      '| | figure |',
      '|---|---:|',
      `| \`hil-lab up\` (guest build, switch, provisioning network, ${NODES} BMCs) | ${fmt(upSeconds)} s |`,
      `| lab processes without nodes (OVS ×2, dnsmasq, boot server, serial relay, ${NODES} × ipmi_sim): RSS | ${fmt(infraRss)} MiB |`,
      `| … of which ovsdb-server + ovs-vswitchd / ${NODES} × ipmi_sim / boot server + relay (Node.js) | ${fmt(part(/ovs/))} / ${fmt(part(/ipmi_sim/))} / ${fmt(part(/boot-server|serial-relay/))} MiB |`,
      `| boot time of a node alone, median (min–max of ${NODES}) | ${fmt(median(alone))} s (${fmt(Math.min(...alone))}–${fmt(Math.max(...alone))}) |`,
      `| boot time with all ${NODES} booting at once, median (min–max) | ${fmt(median(together))} s (${fmt(Math.min(...together))}–${fmt(Math.max(...together))}) |`,
      `| **together ÷ alone** (median) | **${ratio.toFixed(2)}×** |`,
      `| QEMU RSS per booted node, idle at its shell, median (max) | ${fmt(median(qemuRss))} MiB (${fmt(Math.max(...qemuRss))}) |`,
      `| host memory taken by the ${NODES} running nodes (MemAvailable before − after) | ${fmt(memUsedByNodes)} MiB |`,
      `| CPU per idle node, median over 10 s | ${fmt(median(idleCpuPct))} % of a core |`,
      `| whole lab with ${NODES} nodes up (MemAvailable at the start − now) | ${fmt(memBefore - memAvailableMiB())} MiB |`,
    ].join('\n');
    console.log(body);
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    const file = join(ROOT, 'bench', 'results', `lab-${m.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ machine: m, nodes: NODES, upSeconds, infra, alone, together, allSeconds, qemuRss, idleCpuPct, memUsedByNodes }, null, 2));
    log(`results: ${file}`);
    if (values['write-docs']) {
      replaceDocsBlock(join(ROOT, 'docs', 'benchmarks.md'), {
        name: 'lab',
        command: 'npm run bench:lab -- --write-docs',
        heading: 'The lab: resources of a 4-node datacenter in a box',
        body: `${body}\n- **Raw figures:** \`bench/results/${file.split('/').pop()}\``,
      });
      log('updated docs/benchmarks.md');
    }
  } finally {
    down(dir);
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
