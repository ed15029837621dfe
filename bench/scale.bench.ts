/**
 * hil at 100, 1,000 and 10,000 nodes on PostgreSQL: `npm run bench:scale`
 * (add `-- --write-docs` to update docs/benchmarks.md). One throwaway
 * cluster holds a database per size, each with 100 mock switches of 20 ms
 * per change, 500 projects, nine nodes in ten allocated, made through the
 * API (bench/lib/scale-world.ts); an API server per size runs with
 * `[server] worker = false`. Then:
 *
 *  1. growth: the free list, ten node views and ten projects' node lists,
 *     with autocannon against all sizes in interleaved rounds; req/s,
 *     p50/p99, CPU per request (API and PostgreSQL), and each step's growth;
 *  2. the free list at the largest size with migration 0006's indexes and
 *     with the schema before it, interleaved;
 *  3. connect_network → DONE for nodes spread over the 100 switches: through
 *     the API while 1, 2 and 4 `hil-admin serve-networks` processes run
 *     (default switch_concurrency, 16); and as a backlog queued at once,
 *     drained by 1 and 4 workers, with the default and with workers that
 *     change one switch at a time (bench/lib/drain.ts): per-action latency,
 *     drain time, and the ratio of 1 worker's drain time to N workers'.
 *
 * Options: --sizes 100,1000,10000 --rounds 3 --seconds 3 --warmup 1
 *          --connections 10 --actions 1000 --slow-actions 400 --drain-rounds 2
 *          --write-docs
 * Results: markdown on stdout and bench/results/scale-<timestamp>.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { drainRun, type DrainResult } from './lib/drain.ts';
import { median } from './lib/measure.ts';
import { freeListBeforeAfter, type FreeListResult } from './lib/free-list.ts';
import { measureGrowth, type GrowthRow, type LoadOptions } from './lib/growth.ts';
import { clusterCpu, startPostgres } from './lib/pg.ts';
import { replaceDocsBlock, revision } from './lib/report.ts';
import { drainTable, freeListTable, growthTable, idealSpeedup, machineLine, ratioLine } from './lib/scale-report.ts';
import { NETWORK, spreadNodes, startWorld, type LiveWorld, type World } from './lib/scale-world.ts';
import { ROOT } from './lib/servers.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,1000,10000' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '10' },
    actions: { type: 'string', default: '1000' },
    'slow-actions': { type: 'string', default: '400' },
    'drain-rounds': { type: 'string', default: '2' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const SIZES = values.sizes.split(',').map(Number);
const LOAD: LoadOptions = { rounds: Number(values.rounds), seconds: Number(values.seconds), warmupSeconds: Number(values.warmup), connections: Number(values.connections) };
const WORLD: World = { switches: 100, projects: 500, latencyMs: 20 };
/** Drain runs at the largest size: [mode, switch_concurrency, workers, actions]. */
const DRAINS: Array<['live' | 'backlog', number, number, number]> = [
  ['live', 16, 1, Number(values.actions)],
  ['live', 16, 2, Number(values.actions)],
  ['live', 16, 4, Number(values.actions)],
  ['backlog', 16, 1, Number(values.actions)],
  ['backlog', 16, 4, Number(values.actions)],
  ['backlog', 1, 1, Number(values['slow-actions'])],
  ['backlog', 1, 4, Number(values['slow-actions'])],
];
const t0 = performance.now();
const log = (m: string) => process.stderr.write(`[scale ${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${m}\n`);

interface ScaleResults {
  machine: string;
  command: string;
  revision: string;
  options: LoadOptions & { sizes: number[]; world: World };
  populateSeconds: Record<number, number>;
  growth: GrowthRow[];
  freeList: FreeListResult;
  /** Per round, in DRAINS order. */
  drains: DrainResult[][];
  ratios: Array<{ mode: 'live' | 'backlog'; switchConcurrency: number; workers: number; ratio: number; ideal: number }>;
  totalSeconds: number;
  loadAverageEnd: number[];
}

async function main(): Promise<void> {
  const machine = machineLine();
  const rev = revision(ROOT);
  log(machine);
  const work = mkdtempSync(join(tmpdir(), 'hil-scale-bench-'));
  const cluster = await startPostgres();
  const worlds: Array<LiveWorld & { nodes: number }> = [];
  try {
    const dbCpu = await clusterCpu(cluster.url);
    const populateSeconds: Record<number, number> = {};
    for (const n of SIZES) {
      const w = await startWorld({ adminUrl: cluster.url, name: `hil_${n}`, workDir: work, world: WORLD, nodes: n });
      worlds.push({ ...w, nodes: n });
      populateSeconds[n] = w.populateSeconds;
      log(`${n} nodes populated through the API in ${w.populateSeconds.toFixed(1)} s (checked: free list, a project, two node views)`);
    }
    const growth = await measureGrowth(WORLD, worlds.map((w) => ({ nodes: w.nodes, api: w.api })), LOAD, dbCpu, log);
    const largest = worlds[worlds.length - 1];
    const freeList = await freeListBeforeAfter(largest.api, largest.databaseUrl, LOAD, dbCpu, log);
    for (const w of worlds.slice(0, -1)) await w.api.stop(); // the drains need the two cores
    const drains = await runDrains(largest, work);
    const results: ScaleResults = {
      machine,
      command: `npm run bench:scale${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
      revision: rev,
      options: { ...LOAD, sizes: SIZES, world: WORLD },
      populateSeconds,
      growth,
      freeList,
      drains,
      ratios: ratiosOf(drains),
      totalSeconds: (performance.now() - t0) / 1000,
      loadAverageEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    };
    report(results);
  } finally {
    for (const w of worlds) await w.api.stop();
    cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Every drain configuration once per round, in reverse order every other
 * round. Each configuration has its own nodes: connected in even rounds,
 * detached again in odd ones (one change per node either way).
 */
async function runDrains(world: LiveWorld & { nodes: number }, work: string): Promise<DrainResult[][]> {
  const nodeSets: string[][] = [];
  let used = 0;
  for (const [, , , actions] of DRAINS) {
    nodeSets.push(spreadNodes(WORLD, world.nodes, actions, used));
    used += actions;
  }
  const rounds: DrainResult[][] = [];
  for (let round = 0; round < Number(values['drain-rounds']); round++) {
    const verb = round % 2 === 0 ? 'connect' : 'detach';
    const out: DrainResult[] = [];
    const order = DRAINS.map((_, k) => k);
    for (const k of round % 2 === 0 ? order : order.reverse()) {
      const [mode, c, workers] = DRAINS[k];
      const name = `drain${round}-${mode}-c${c}-w${workers}`;
      const r = await drainRun({ api: world.api, databaseUrl: world.databaseUrl, workDir: work, name, mode, verb, workers, switchConcurrency: c, nodes: nodeSets[k], network: NETWORK });
      if (r.errors) throw new Error(`${r.errors} of ${r.actions} actions ended in ERROR`);
      out[k] = r;
      log(
        `round ${round + 1}, ${mode} ${verb}, switch_concurrency ${c}, ${workers} worker(s): ${r.actions} changes over ${WORLD.switches} switches drained in ${r.drainSeconds.toFixed(2)} s ` +
          `(queued in ${r.queueSeconds.toFixed(2)} s; p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms; per worker ${r.perWorker.join(' / ')})`,
      );
    }
    rounds.push(out);
  }
  return rounds;
}

/** 1 worker's drain time ÷ N workers', per round in the same mode and switch_concurrency; medians over the rounds. */
function ratiosOf(rounds: DrainResult[][]): ScaleResults['ratios'] {
  const out: ScaleResults['ratios'] = [];
  DRAINS.forEach(([mode, c, workers], k) => {
    const one = DRAINS.findIndex(([m, c1, w]) => m === mode && c1 === c && w === 1);
    if (workers === 1 || one < 0) return;
    const ratio = median(rounds.map((r) => r[one].drainSeconds / r[k].drainSeconds));
    out.push({ mode, switchConcurrency: c, workers, ratio, ideal: idealSpeedup(workers, c, WORLD.switches) });
  });
  return out;
}

function report(r: ScaleResults): void {
  const largest = SIZES[SIZES.length - 1];
  const body = [
    `- **Machine:** ${r.machine}; load average ${r.loadAverageEnd.join(' / ')} at the end`,
    `- **Command:** \`${r.command}\` on commit ${r.revision} (${Math.round(r.totalSeconds)} s in all)`,
    `- **World:** ${WORLD.switches} mock switches (\`latency_ms\` ${WORLD.latencyMs}), ${WORLD.projects} projects, nine nodes in ten allocated, one in fifty on a network; ` +
      `populated through the API, 16 requests at a time: ${SIZES.map((n) => `${n.toLocaleString('en-US')} nodes in ${r.populateSeconds[n].toFixed(1)} s`).join(', ')}; PostgreSQL 15 (fsync off), VACUUM ANALYZE after the populate`,
    `- **Reads:** ${LOAD.rounds} interleaved rounds × ${LOAD.seconds} s per call and size, ${LOAD.connections} connections, after a ${LOAD.warmupSeconds} s warm-up; medians; growth = median of the per-round ratios`,
    '',
    growthTable(r.growth),
    '',
    `The free list at ${largest.toLocaleString('en-US')} nodes, before and after migration 0006 (same database and server, interleaved):`,
    '',
    freeListTable(r.freeList, largest),
    '',
    `Migration 0006: PostgreSQL CPU per free-list request ÷ ${r.freeList.dbCpuRatio.toFixed(2)}, req/s × ${r.freeList.rpsRatio.toFixed(2)}.`,
    '',
    `Networking changes → DONE at ${largest.toLocaleString('en-US')} nodes, spread evenly over the ${WORLD.switches} switches, ${values['drain-rounds']} rounds (connect, then detach the same nodes; medians): ` +
      `*live*: requested through the API 16 at a time while the workers run (latency from each POST); ` +
      `*backlog*: queued at once, in one transaction of the rows connect_network / detach_network write, then their NOTIFY (latency from the commit):`,
    '',
    drainTable(r.drains.flat()),
    '',
    ...r.ratios.map((x) => ratioLine(`${x.mode}, ${x.workers} workers over ${WORLD.switches} switches, switch_concurrency ${x.switchConcurrency}`, x.ratio, x.ideal)),
  ].join('\n');
  console.log(`\n${body}\n`);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
  console.log(`results: ${relative(ROOT, file)}`);
  if (values['write-docs']) {
    replaceDocsBlock(join(ROOT, 'docs', 'benchmarks.md'), {
      name: 'scale',
      command: 'npm run bench:scale -- --write-docs',
      heading: 'Scale: 10,000 nodes',
      body: `${body}\n- **Raw figures:** \`${relative(ROOT, file)}\``,
    });
    log('updated docs/benchmarks.md');
  }
}

await main();
