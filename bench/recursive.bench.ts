/**
 * What a layer of recursion costs: the same tenant calls against the base,
 * a derived HIL (d1) and a derived-of-derived one (d2), three server
 * processes on loopback, SQLite each. The base drives the mock switch and
 * mock BMCs, so what is measured is HIL, HTTP and the layering, not hardware.
 *
 *   npm run bench:recursive [-- --cycles 50 --write-docs]
 *
 * Per layer: connect→DONE and detach→DONE of a NIC (networking action through
 * every layer's worker), network create + delete, and power status; medians
 * and the ratio to the base, measured in the same run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { HilClient } from '../src/client/index.ts';
import { machine, replaceDocsBlock, revision } from './lib/report.ts';
import { ROOT } from './lib/servers.ts';
import { freePort } from '../src/lab/system.ts';

const { values } = parseArgs({ options: { cycles: { type: 'string', default: '50' }, 'write-docs': { type: 'boolean', default: false } } });
const CYCLES = Number(values.cycles);
const HIL_ADMIN = join(ROOT, 'bin', 'hil-admin');
const log = (m: string) => console.error(`[bench:recursive] ${m}`);

interface Layer {
  name: string;
  env: Record<string, string>;
  admin: HilClient;
  proc?: ChildProcess;
}


async function startLayer(root: string, name: string, upstream?: { endpoint: string; user: string; project: string }): Promise<Layer & { endpoint: string }> {
  const dir = join(root, name);
  mkdirSync(dir);
  const port = await freePort();
  const env: Record<string, string> = { HIL_DATA_DIR: dir, HIL_LISTEN: `127.0.0.1:${port}`, HIL_ADMIN_PASSWORD: 'bench-pw', HIL_LOG_LEVEL: 'warn' };
  if (upstream) {
    writeFileSync(join(dir, 'hil.toml'), '[worker]\nbatch_linger_ms = 0\n');
    Object.assign(env, { HIL_CONFIG: join(dir, 'hil.toml'), HIL_UPSTREAM_ENDPOINT: upstream.endpoint, HIL_UPSTREAM_USERNAME: upstream.user, HIL_UPSTREAM_PASSWORD: 'bench-pw', HIL_UPSTREAM_PROJECT: upstream.project });
  } else {
    writeFileSync(join(dir, 'hil.toml'), '[worker]\nbatch_linger_ms = 0\n');
    Object.assign(env, { HIL_CONFIG: join(dir, 'hil.toml'), HIL_VLAN_POOL: '100-999' });
  }
  const proc = spawn(HIL_ADMIN, ['serve', '--migrate'], { env: { ...process.env, ...env, HIL_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('hil API server listening')) resolve();
    });
    proc.once('exit', () => reject(new Error(`${name} exited:\n${out}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return { name, env, endpoint, proc, admin: new HilClient({ endpoint, username: 'admin', password: 'bench-pw' }) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'hil-bench-rec-'));
  const layers: Layer[] = [];
  try {
    const base = await startLayer(root, 'base');
    layers.push(base);
    await base.admin.switch.register('sw0', 'mock', { hostname: 'h', username: 'u', password: 'p' });
    await base.admin.project.create('reseller');
    await base.admin.user.create('reseller', 'bench-pw', false);
    await base.admin.user.addProject('reseller', 'reseller');
    for (const i of [1, 2, 3]) {
      await base.admin.node.register(`n${i}`, { obm: { type: 'mock' } });
      await base.admin.node.addNic(`n${i}`, 'eth0', `52:54:00:00:00:0${i}`);
      await base.admin.port.register('sw0', `gi1/0/${i}`);
      await base.admin.port.connectNic('sw0', `gi1/0/${i}`, `n${i}`, 'eth0');
      await base.admin.project.connectNode('reseller', `n${i}`);
    }
    const d1 = await startLayer(root, 'd1', { endpoint: base.endpoint, user: 'reseller', project: 'reseller' });
    layers.push(d1);
    const imported = spawnSync(HIL_ADMIN, ['pool', 'import'], { env: { ...process.env, ...d1.env }, encoding: 'utf8' });
    if (imported.status !== 0) throw new Error(imported.stderr);
    await d1.admin.project.create('reseller2');
    await d1.admin.user.create('reseller2', 'bench-pw', false);
    await d1.admin.user.addProject('reseller2', 'reseller2');
    for (const i of [2, 3]) await d1.admin.project.connectNode('reseller2', `n${i}`);
    const d2 = await startLayer(root, 'd2', { endpoint: d1.endpoint, user: 'reseller2', project: 'reseller2' });
    layers.push(d2);
    const imported2 = spawnSync(HIL_ADMIN, ['pool', 'import'], { env: { ...process.env, ...d2.env }, encoding: 'utf8' });
    if (imported2.status !== 0) throw new Error(imported2.stderr);

    // One tenant node per layer, measured one layer after the other (d1's n1 is the base's n1).
    const plan: [Layer, string, string][] = [[base, 'n1', 'reseller'], [d1, 'n1', 't'], [d2, 'n2', 't']];
    for (const [l, node, project] of plan) {
      if (project === 't') {
        await l.admin.project.create('t');
        await l.admin.project.connectNode('t', node);
      }
      await l.admin.node.enableObm(node);
    }
    const results = [];
    for (const [l, node, project] of plan) {
      const net = `bench-${l.name}`;
      await l.admin.network.create(net, project, project, '');
      const connect: number[] = [];
      const detach: number[] = [];
      const create: number[] = [];
      const status: number[] = [];
      for (let i = 0; i < CYCLES; i++) {
        connect.push(await time(async () => l.admin.waitForAction((await l.admin.node.connectNetwork(node, 'eth0', net)).status_id)));
        detach.push(await time(async () => l.admin.waitForAction((await l.admin.node.detachNetwork(node, 'eth0', net)).status_id)));
        create.push(await time(async () => {
          await l.admin.network.create(`${net}-${i}`, project, project, '');
          await l.admin.network.delete(`${net}-${i}`);
        }));
        status.push(await time(() => l.admin.node.powerStatus(node)));
      }
      results.push({ layer: l.name, connect: median(connect), detach: median(detach), create: median(create), status: median(status) });
      log(`${l.name}: connect ${median(connect).toFixed(1)} ms, detach ${median(detach).toFixed(1)} ms, network create+delete ${median(create).toFixed(1)} ms, power status ${median(status).toFixed(1)} ms`);
    }
    const b = results[0];
    const m = machine();
    const body = [
      `- **Date:** ${m.date}; **machine:** ${m.cpuModel}, ${m.cpus} CPUs, ${m.memoryGiB} GiB RAM; load average ${m.loadAverage.join(' / ')} at the start`,
      `- **Command:** \`npm run bench:recursive${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}\` on commit ${revision(ROOT)}; ${CYCLES} sequential cycles per layer, medians; three server processes (SQLite), mock switch and BMCs at the base, \`batch_linger_ms = 0\``,
      '',
      '| layer | connect → DONE | detach → DONE | network create + delete | power status | connect, ÷ base |',
      '|---|---:|---:|---:|---:|---:|',
      ...results.map((r) => `| ${r.layer} | ${r.connect.toFixed(1)} ms | ${r.detach.toFixed(1)} ms | ${r.create.toFixed(1)} ms | ${r.status.toFixed(1)} ms | ${(r.connect / b.connect).toFixed(1)}× |`),
    ].join('\n');
    console.log(body);
    if (values['write-docs']) {
      replaceDocsBlock(join(ROOT, 'docs', 'benchmarks.md'), { name: 'recursive', command: 'npm run bench:recursive -- --write-docs', heading: 'Recursive HIL: what a layer costs', body });
      log('updated docs/benchmarks.md');
    }
  } finally {
    for (const l of layers.reverse()) l.proc?.kill('SIGTERM');
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
