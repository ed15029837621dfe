/**
 * The API benchmark: `npm run bench` (add `-- --write-docs` to update
 * docs/benchmarks.md). For 100 and 1,000 registered nodes it measures, with
 * autocannon in this process and every server in a child process of its own:
 *
 *   - GET /v0/nodes/free and GET /v0/node/<n> on hil with null auth, hil
 *     with database auth, and the bare baseline (bench/baseline-server.ts:
 *     Fastify + node:sqlite doing the same queries on the same file), in
 *     interleaved rounds so that the machine's drift hits all three alike;
 *   - sequential connect_network→DONE→detach_network→DONE cycles on the mock
 *     switch (worker in-process, status polled every millisecond).
 *
 * Options: --sizes 100,1000  --rounds 3  --seconds 3  --warmup 1
 *          --connections 10  --cycles 200  --write-docs  --keep (the databases)
 *          --only free|node (one read call)  --cpu-prof
 * Results: a markdown table on stdout and bench/results/<timestamp>.json.
 * --cpu-prof writes a V8 CPU profile of every server to
 * bench/results/prof-<timestamp>/<server>.cpuprofile (summarise with
 * bench/prof-summary.ts); hil-db-* and baseline-* serve only the reads.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { cycles, load, median, type LoadResult } from './lib/measure.ts';
import { cycleNodes, ok, populate, showRotation } from './lib/populate.ts';
import { checks, machine, markdown, revision, writeDocs, type ReadCase, type Results, type ServerKey, type SizeResult } from './lib/report.ts';
import { ROOT, startBaseline, startHil, type Server } from './lib/servers.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,1000' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '10' },
    cycles: { type: 'string', default: '200' },
    'write-docs': { type: 'boolean', default: false },
    'cpu-prof': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const opt = {
  sizes: values.sizes.split(',').map(Number),
  rounds: Number(values.rounds),
  seconds: Number(values.seconds),
  warmupSeconds: Number(values.warmup),
  connections: Number(values.connections),
  cycles: Number(values.cycles),
};
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const resultsDir = join(ROOT, 'bench', 'results');
const profDir = values['cpu-prof'] ? join(resultsDir, `prof-${stamp}`) : undefined;
const profFlags = (name: string) => (profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}.cpuprofile`] : []);
const ADMIN_PASSWORD = 'bench-admin-secret';
const SERVERS: ServerKey[] = ['hilNull', 'baseline', 'hilDb'];

const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);
const t0 = performance.now();
const m = machine();
// Servers load src/ when they start, so a commit landing mid-run would mix versions.
const revisionAtStart = revision(ROOT);
log(`${m.cpuModel}, ${m.cpus} CPUs, Node ${m.node}; sizes ${opt.sizes.join(', ')}; ${opt.rounds} rounds × ${opt.seconds} s`);
if (m.loadAverage[0] > 0.5) log(`note: load average ${m.loadAverage[0]} at the start (other work, or a run that just ended); figures may be noisy`);

const work = mkdtempSync(join(tmpdir(), 'hil-bench-'));
const sizes: SizeResult[] = [];
try {
  for (const n of opt.sizes) sizes.push(await benchSize(n));
} finally {
  if (!values.keep) rmSync(work, { recursive: true, force: true });
  else log(`kept ${work}`);
}

const results: Results = {
  machine: m,
  command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
  revision: revisionAtStart,
  options: opt,
  sizes,
  checks: checks(sizes),
  totalSeconds: (performance.now() - t0) / 1000,
  loadAverageEnd: loadavg().map((x) => Math.round(x * 100) / 100),
};
const revisionAtEnd = revision(ROOT);
if (revisionAtEnd !== revisionAtStart || revisionAtStart.endsWith('+dirty')) {
  results.revision = `${revisionAtStart} → ${revisionAtEnd} (src/ changed or was uncommitted during the run: figures may mix versions)`;
  log(`warning: ${results.revision}`);
}
mkdirSync(resultsDir, { recursive: true });
const resultsFile = join(resultsDir, `${stamp}.json`);
writeFileSync(resultsFile, JSON.stringify(results, null, 2) + '\n');
const table = markdown(results);
console.log(`\n${table}\n`);
const failed = results.checks.filter((c) => !c.pass);
console.log(failed.length ? `targets missed: ${failed.map((c) => `${c.nodes} nodes ${c.what} (${c.measured}, target ${c.target})`).join('; ')}` : 'all targets met');
console.log(`results: ${relative(ROOT, resultsFile)}${profDir ? `\nCPU profiles: ${relative(ROOT, profDir)}` : ''}`);
if (values['write-docs']) {
  writeDocs(join(ROOT, 'docs', 'benchmarks.md'), results, relative(ROOT, resultsFile));
  console.log('updated docs/benchmarks.md');
}

async function benchSize(n: number): Promise<SizeResult> {
  const dir = join(work, `n${n}`);
  mkdirSync(dir);
  const dbFile = join(dir, 'hil.db');
  const servers: Server[] = [];
  try {
    const hilNull = await startHil({ name: `hil-null-${n}`, dbFile, workDir: dir, auth: 'null', adminPassword: ADMIN_PASSWORD, nodeFlags: profFlags(`hil-null-${n}`) });
    servers.push(hilNull);
    const p0 = performance.now();
    await populate(hilNull, n);
    const populateSeconds = (performance.now() - p0) / 1000;
    log(`${n} nodes: populated through the API in ${populateSeconds.toFixed(1)} s`);

    // The worker runs in hilNull (the only worker yet: hilDb starts later), so the cycles go there,
    // before anything else shares the machine.
    const cyc = await cycles(hilNull, cycleNodes(n), opt.cycles);
    log(`${n} nodes: ${opt.cycles} cycles, connect→DONE p50 ${cyc.connect.p50.toFixed(1)} ms, ${cyc.cyclesPerSecond.toFixed(1)} cycles/s`);

    const baseline = await startBaseline({ name: `baseline-${n}`, dbFile, workDir: dir, nodeFlags: profFlags(`baseline-${n}`) });
    servers.push(baseline);
    const hilDb = await startHil({ name: `hil-db-${n}`, dbFile, workDir: dir, auth: 'database', adminPassword: ADMIN_PASSWORD, nodeFlags: profFlags(`hil-db-${n}`) });
    servers.push(hilDb);
    const byKey: Record<ServerKey, Server> = { hilNull, baseline, hilDb };

    const cases: Array<Omit<ReadCase, 'rounds' | 'summary'>> = [
      { key: 'free' as const, call: 'GET /v0/nodes/free', paths: ['/v0/nodes/free'] },
      { key: 'node' as const, call: 'GET /v0/node/<n>', paths: showRotation(n).map((l) => `/v0/node/${l}`) },
    ].filter((c) => !values.only || c.key === values.only);
    await sameAnswers(byKey, cases.flatMap((c) => c.paths));

    for (const c of cases) for (const k of SERVERS) await load(byKey[k], c.paths, { seconds: opt.warmupSeconds, connections: opt.connections });

    const rounds: Array<Array<Record<ServerKey, LoadResult>>> = cases.map(() => []);
    for (let r = 0; r < opt.rounds; r++) {
      // Each server takes each place in the order once every three rounds.
      const order = SERVERS.map((_, i) => SERVERS[(i + r) % SERVERS.length]);
      for (const [ci, c] of cases.entries()) {
        const round = {} as Record<ServerKey, LoadResult>;
        for (const k of order) {
          const res = await load(byKey[k], c.paths, { seconds: opt.seconds, connections: opt.connections });
          if (res.errors || res.non2xx) throw new Error(`${byKey[k].name} ${c.call}: ${res.errors} errors, ${res.non2xx} non-2xx answers`);
          round[k] = res;
        }
        rounds[ci].push(round);
        log(
          `${n} nodes, round ${r + 1}, ${c.call}: ` +
            SERVERS.map((k) => `${k} ${Math.round(round[k].rps)} req/s (${Math.round(round[k].cpuUsPerRequest)} µs CPU/req, ${round[k].serverCores.toFixed(2)} cores)`).join(', '),
        );
      }
    }

    const reads: ReadCase[] = cases.map((c, ci) => {
      const rs = rounds[ci];
      const med = (k: ServerKey, f: (x: LoadResult) => number) => median(rs.map((x) => f(x[k])));
      const sum = (k: ServerKey) => ({
        rps: med(k, (x) => x.rps),
        p50: med(k, (x) => x.p50),
        p99: med(k, (x) => x.p99),
        cpuUsPerRequest: med(k, (x) => x.cpuUsPerRequest),
        serverCores: med(k, (x) => x.serverCores),
      });
      return {
        ...c,
        rounds: rs,
        summary: {
          hilNull: sum('hilNull'),
          baseline: sum('baseline'),
          hilDb: sum('hilDb'),
          ratioNull: median(rs.map((x) => x.hilNull.rps / x.baseline.rps)),
          ratioDb: median(rs.map((x) => x.hilDb.rps / x.baseline.rps)),
          cpuRatioNull: median(rs.map((x) => x.baseline.cpuUsPerRequest / x.hilNull.cpuUsPerRequest)),
          cpuRatioDb: median(rs.map((x) => x.baseline.cpuUsPerRequest / x.hilDb.cpuUsPerRequest)),
        },
      };
    });
    return { nodes: n, populateSeconds, reads, cycles: cyc };
  } finally {
    for (const s of servers.reverse()) await s.stop();
  }
}

/** The baseline must do the same work: its answers must equal hil's (key order aside). */
async function sameAnswers(byKey: Record<ServerKey, Server>, paths: string[]): Promise<void> {
  const canonical = (x: unknown): string =>
    JSON.stringify(x, (_k, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
    );
  for (const path of paths) {
    const want = canonical(await ok(byKey.hilNull, 'GET', path));
    for (const k of ['baseline', 'hilDb'] as const) {
      const got = canonical(await ok(byKey[k], 'GET', path));
      if (got !== want) throw new Error(`${byKey[k].name} answers GET ${path} differently from hil:\n  hil:  ${want}\n  ${k}: ${got}`);
    }
  }
}
