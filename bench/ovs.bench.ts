/**
 * Port changes on a real Open vSwitch, in one run:
 *
 *  1. upstream's path: one `ovs-vsctl` call per change (what upstream HIL's
 *     OVS driver did, each waiting for ovs-vswitchd), one change per port;
 *  2. hil's worker: the same changes as connect actions already in the
 *     journal, applied by `hil-admin serve-networks` (which hands a switch's
 *     queue to the OVSDB driver as one transaction) — from the worker taking
 *     the journal to the last action DONE;
 *  3. hil end to end, for reference: the same number of changes requested
 *     through the HTTP API a round at a time (one change per port), each
 *     measured from its POST to its DONE.
 *
 *   npm run bench:ovs [-- --ports 1000 --rounds 10 --write-docs]
 *
 * Needs root and Open vSwitch (apt-get install openvswitch-switch).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startOvs, skipReason, type Ovs } from '../test/support/ovs.ts';
import { ROOT, startHil, type Server } from './lib/servers.ts';
import { ok } from './lib/populate.ts';
import { percentiles } from './lib/measure.ts';
import { replaceDocsBlock } from './lib/report.ts';

const { values } = parseArgs({
  options: {
    ports: { type: 'string', default: '1000' },
    'api-ports': { type: 'string', default: '100' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const PORTS = Number(values.ports);
const API_PORTS = Math.min(PORTS, Number(values['api-ports']));
const BRIDGE = 'benchbr';
const port = (i: number) => `bp${i}`;
const log = (m: string) => process.stderr.write(`[ovs bench] ${m}\n`);

if (skipReason || process.getuid?.() !== 0) {
  console.error(`cannot run: ${skipReason ?? 'needs root'}`);
  process.exit(1);
}

function viaVsctl(ovs: Ovs, vlan: number): { seconds: number; latencies: number[] } {
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < PORTS; i++) {
    const t = performance.now();
    execFileSync('ovs-vsctl', [`--db=${ovs.endpoint}`, 'set', 'port', port(i), `tag=${vlan}`, 'vlan_mode=native-untagged']);
    latencies.push(performance.now() - t);
  }
  return { seconds: (performance.now() - started) / 1000, latencies };
}

/** Starts serve-networks on the queued journal; resolves when `expected` actions are DONE. */
async function viaWorker(dbFile: string, work: string, expected: number): Promise<number> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(ROOT, 'src/cli/hil-admin.ts'), 'serve-networks'], {
    cwd: work,
    env: { ...process.env, HIL_DATABASE_URL: `sqlite:${dbFile}`, HIL_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buffer = '';
  let started = 0;
  let done = 0;
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`serve-networks exited (${code})`)));
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.includes('hil networking worker running')) started = performance.now();
          if (line.includes('"networking action failed"')) reject(new Error(line));
          if (line.includes('"networking action done"') && ++done === expected) resolve((performance.now() - started) / 1000);
        }
      });
    });
  } finally {
    child.kill('SIGKILL');
  }
}

async function viaApi(hil: Server, rounds: number): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  const startedAll = performance.now();
  for (let r = 0; r < rounds; r++) {
    const path = r % 2 === 0 ? 'detach_network' : 'connect_network';
    const outstanding = new Map<string, number>();
    await Promise.all(
      Array.from({ length: API_PORTS }, async (_, i) => {
        const t = performance.now();
        outstanding.set((await ok(hil, 'POST', `/v0/node/n${i}/nic/eth0/${path}`, { network: 'net' })).status_id, t);
      }),
    );
    // One poller sweeps the outstanding actions (a client per action polling would measure the polling).
    while (outstanding.size) {
      for (const [id, t] of outstanding) {
        const a = await ok(hil, 'GET', `/v0/networking_action/${id}`);
        if (a.status === 'PENDING') continue;
        if (a.status === 'ERROR') throw new Error(`action failed: ${a.error}`);
        latencies.push(performance.now() - t);
        outstanding.delete(id);
      }
      if (outstanding.size) await new Promise((res) => setTimeout(res, 2));
    }
  }
  return { seconds: (performance.now() - startedAll) / 1000, latencies };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'hil-ovs-bench-'));
  const dbFile = join(work, 'hil.db');
  const ovs = await startOvs();
  let hil: Server | undefined;
  try {
    ovs.addBridge(BRIDGE);
    for (let i = 0; i < PORTS; i += 100) {
      const args: string[] = [];
      for (let j = i; j < Math.min(PORTS, i + 100); j++) args.push('--', 'add-port', BRIDGE, port(j), '--', 'set', 'interface', port(j), 'type=internal');
      ovs.vsctl(...args.slice(1));
    }
    // The API server without a worker: actions wait in the journal until serve-networks starts.
    hil = await startHil({ name: 'hil', dbFile, workDir: work, auth: 'null', adminPassword: 'x', serveArgs: ['--no-worker'] });
    await ok(hil, 'PUT', '/v0/project/p');
    await ok(hil, 'PUT', '/v0/switch/ovs0', { type: 'ovs', ovs_bridge: BRIDGE, ovsdb: ovs.endpoint });
    for (let i = 0; i < PORTS; i++) {
      await ok(hil, 'PUT', `/v0/switch/ovs0/port/${port(i)}`);
      await ok(hil, 'PUT', `/v0/node/n${i}`, { obm: { type: 'mock' } });
      await ok(hil, 'PUT', `/v0/node/n${i}/nic/eth0`, { macaddr: 'aa' });
      await ok(hil, 'POST', `/v0/switch/ovs0/port/${port(i)}/connect_nic`, { node: `n${i}`, nic: 'eth0' });
      await ok(hil, 'POST', '/v0/project/p/connect_node', { node: `n${i}` });
    }
    await ok(hil, 'PUT', '/v0/network/net', { owner: 'p', access: 'p', net_id: '' });
    const vlan = Number((await ok(hil, 'GET', '/v0/network/net')).channels[1].split('/')[1]);
    log(`${PORTS} ports on a userspace OVS bridge; ${PORTS} changes per path`);

    const vsctl = viaVsctl(ovs, vlan);
    log(`ovs-vsctl: ${PORTS} changes in ${vsctl.seconds.toFixed(2)} s`);
    ovs.vsctl(...Array.from({ length: PORTS }, (_, i) => ['--', 'clear', 'port', port(i), 'tag']).flat().slice(1));

    for (let i = 0; i < PORTS; i++) await ok(hil, 'POST', `/v0/node/n${i}/nic/eth0/connect_network`, { network: 'net' });
    const workerSeconds = await viaWorker(dbFile, work, PORTS);
    log(`hil worker: ${PORTS} changes in ${workerSeconds.toFixed(2)} s`);

    // End to end: a worker running again, changes requested through the API a round at a time.
    const worker = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(ROOT, 'src/cli/hil-admin.ts'), 'serve-networks'], {
      cwd: work,
      env: { ...process.env, HIL_DATABASE_URL: `sqlite:${dbFile}`, HIL_LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 1500));
    const api = await viaApi(hil, Math.ceil(PORTS / API_PORTS));
    worker.kill('SIGKILL');
    log(`hil via the API: ${PORTS} changes in ${api.seconds.toFixed(2)} s`);

    const ratio = vsctl.seconds / workerSeconds;
    const apiRatio = vsctl.seconds / api.seconds;
    const v = percentiles(vsctl.latencies);
    const a = percentiles(api.latencies);
    const stamp = new Date().toISOString();
    const cpu = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
    const ovsVersion = execFileSync('ovs-vsctl', ['--version']).toString().split('\n')[0];
    const table = [
      `- **Date:** ${stamp}; **machine:** ${cpu}, ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; load average ${loadavg()[0].toFixed(2)}; ${ovsVersion}, userspace datapath`,
      `- **Command:** \`npm run bench:ovs${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}\`: ${PORTS} ports on one bridge, one change per port per path`,
      '',
      '| path | time for the changes | changes/s | per change, p50 / p90 / p99 ms |',
      '|---|---:|---:|---|',
      `| one \`ovs-vsctl\` per change (upstream's driver) | ${vsctl.seconds.toFixed(2)} s | ${(PORTS / vsctl.seconds).toFixed(0)} | ${v.p50.toFixed(1)} / ${v.p90.toFixed(1)} / ${v.p99.toFixed(1)} |`,
      `| **hil's worker** (journal → switch → DONE, batched OVSDB transactions) | ${workerSeconds.toFixed(2)} s | ${(PORTS / workerSeconds).toFixed(0)} | — |`,
      `| hil end to end (HTTP request → DONE, ${API_PORTS} requests at a time) | ${api.seconds.toFixed(2)} s | ${(PORTS / api.seconds).toFixed(0)} | ${a.p50.toFixed(1)} / ${a.p90.toFixed(1)} / ${a.p99.toFixed(1)} |`,
      '',
      `**hil's worker is ${ratio.toFixed(1)}× faster than one ovs-vsctl per change** (target ≥ 20×: ${ratio >= 20 ? 'pass' : '**FAIL**'}); end to end through the API, including HTTP and the database for every request, ${apiRatio.toFixed(1)}×.`,
    ].join('\n');
    console.log(table);
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    const file = join(ROOT, 'bench', 'results', `ovs-${stamp.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({ stamp, ports: PORTS, vsctlSeconds: vsctl.seconds, workerSeconds, apiSeconds: api.seconds, vsctlLatency: v, apiLatency: a, ratio, apiRatio }, null, 2));
    log(`results: ${file}`);
    if (values['write-docs']) writeDocs(table, file);
  } finally {
    await hil?.stop();
    await ovs.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function writeDocs(table: string, file: string): void {
  const body = `${table}\n- **Raw figures:** \`bench/results/${file.split('/').pop()}\``;
  replaceDocsBlock(join(ROOT, 'docs', 'benchmarks.md'), { name: 'ovs', command: 'npm run bench:ovs -- --write-docs', heading: 'Open vSwitch: port changes', body });
  log('updated docs/benchmarks.md');
}

await main();
