/**
 * Networking workers side by side, the figure: with 2 switches of
 * 20 ms per change, 200 changes spread over both queued at once, how long 1
 * and 2 `hil-admin serve-networks` processes take to drain them (the queue's
 * commit → the last DONE; bench/lib/drain.ts), and the ratio. The API server
 * runs with `[server] worker = false`, everything on one throwaway
 * PostgreSQL cluster.
 *
 * Each worker is run with `switch_concurrency = 1` (one switch at a time:
 * a worker's capacity is then one switch's latency, and only a second worker
 * can take the second switch) and, for reference, with the default 16 (one
 * worker already changes both switches at once, so a second one cannot
 * halve anything: each switch's queue is applied in order).
 *
 *   npm run bench:workers [-- --changes 200 --rounds 2 --write-docs]
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { drainRun, type DrainResult } from './lib/drain.ts';
import { median } from './lib/measure.ts';
import { startPostgres } from './lib/pg.ts';
import { replaceDocsBlock, revision } from './lib/report.ts';
import { drainTable, idealSpeedup, machineLine, ratioLine } from './lib/scale-report.ts';
import { NETWORK, spreadNodes, startWorld, type World } from './lib/scale-world.ts';
import { ROOT } from './lib/servers.ts';

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '2' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const CHANGES = Number(values.changes);
const ROUNDS = Number(values.rounds);
const WORLD: World = { switches: 2, projects: 1, latencyMs: 20 };
const CONCURRENCIES = [1, 16];
/** "≈ half the time": within 10 % of the ideal 2×. */
const TARGET = 1.8;
const log = (m: string) => process.stderr.write(`[workers bench] ${m}\n`);

async function main(): Promise<void> {
  const machine = machineLine();
  const rev = revision(ROOT);
  log(machine);
  const runsNeeded = ROUNDS * CONCURRENCIES.length * 2;
  // Nine in ten nodes are allocated, one in fifty attached: enough connectable ones for every run.
  const nodes = Math.ceil((runsNeeded * CHANGES) / 0.85 / WORLD.switches) * WORLD.switches;
  const work = mkdtempSync(join(tmpdir(), 'hil-workers-bench-'));
  const cluster = await startPostgres();
  try {
    const world = await startWorld({ adminUrl: cluster.url, name: 'hil_workers', workDir: work, world: WORLD, nodes });
    log(`${nodes} nodes on ${WORLD.switches} switches (${WORLD.latencyMs} ms per change), populated through the API in ${world.populateSeconds.toFixed(1)} s`);
    const runs: DrainResult[] = [];
    let used = 0;
    try {
      for (let r = 0; r < ROUNDS; r++) {
        for (const c of CONCURRENCIES) {
          for (const workers of r % 2 === 0 ? [1, 2] : [2, 1]) {
            const res = await drainRun({
              api: world.api,
              databaseUrl: world.databaseUrl,
              workDir: work,
              name: `r${r}-c${c}-w${workers}`,
              mode: 'backlog',
              workers,
              switchConcurrency: c,
              nodes: spreadNodes(WORLD, nodes, CHANGES, used),
              network: NETWORK,
            });
            used += CHANGES;
            runs.push(res);
            log(`switch_concurrency ${c}, ${workers} worker(s): ${res.actions} changes drained in ${res.drainSeconds.toFixed(2)} s (queued in ${res.queueSeconds.toFixed(2)} s; per worker ${res.perWorker.join(' / ')}; ${res.errors} errors)`);
          }
        }
      }
    } finally {
      await world.api.stop();
    }
    report(runs, machine, rev);
  } finally {
    cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function report(runs: DrainResult[], machine: string, rev: string): void {
  const ratios = CONCURRENCIES.map((c) => {
    const one = runs.filter((x) => x.switchConcurrency === c && x.workers === 1);
    const two = runs.filter((x) => x.switchConcurrency === c && x.workers === 2);
    return { c, ratio: median(one.map((x, k) => x.drainSeconds / two[k].drainSeconds)) };
  });
  const command = `npm run bench:workers${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
  const body = [
    `- **Machine:** ${machine}`,
    `- **Command:** \`${command}\` on commit ${rev}; ${CHANGES} connect_network changes spread evenly over ${WORLD.switches} mock switches of ${WORLD.latencyMs} ms per change, queued at once (one transaction of the rows connect_network writes, then its NOTIFY) while the workers wait; drain = that commit → the last DONE; ${ROUNDS} rounds (1 and 2 workers alternate first), medians`,
    '',
    drainTable(runs),
    '',
    ...ratios.map(({ c, ratio }) => ratioLine(`2 workers, switch_concurrency ${c}`, ratio, idealSpeedup(2, c, WORLD.switches), c === 1 ? TARGET : undefined)),
  ].join('\n');
  console.log(`\n${body}\n`);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `workers-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ machine, revision: rev, command, changes: CHANGES, world: WORLD, runs, ratios }, null, 2) + '\n');
  console.log(`results: ${relative(ROOT, file)}`);
  if (values['write-docs']) {
    replaceDocsBlock(join(ROOT, 'docs', 'benchmarks.md'), {
      name: 'workers',
      command: 'npm run bench:workers -- --write-docs',
      heading: 'Scale: networking workers',
      body: `${body}\n- **Raw figures:** \`${relative(ROOT, file)}\``,
    });
    log('updated docs/benchmarks.md');
  }
}

await main();
