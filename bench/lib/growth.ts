/**
 * How the key reads grow with the datacenter: the same calls against one API
 * server per size, all running at once, in interleaved rounds (each round
 * rotates which size goes first), so that the machine's drift hits every
 * size alike. A step's growth is the median of the per-round ratios.
 * Besides req/s and latency, the CPU time per request of the API server and
 * of PostgreSQL (every backend) is measured: it moves far less than req/s
 * when the shared machine is busy.
 */
import { load, median, type LoadResult } from './measure.ts';
import { ok } from './populate.ts';
import { nodeLabel, projectOf, type World } from './scale-world.ts';
import type { Server } from './servers.ts';

export interface Size {
  nodes: number;
  api: Server;
}

export type CallKey = 'free' | 'node' | 'project';

export interface Call {
  key: CallKey;
  call: string;
  paths: string[];
}

export interface Sample {
  rps: number;
  p50: number;
  p99: number;
  /** CPU µs per request: the API server's, PostgreSQL's. */
  apiCpuUs: number;
  dbCpuUs: number;
}

export interface GrowthRow {
  key: CallKey;
  call: string;
  nodes: number;
  /** Names in the answer (lists) or its bytes (node view), averaged over the paths. */
  answer: string;
  median: Sample;
  /** Against the previous size: its req/s ÷ this one's (1.0 = flat), and this CPU per request ÷ its. */
  growth?: { time: number; cpu: number };
  rounds: Sample[];
}

/** The calls at a size: the free list; ten node views (attached, allocated, free); ten projects that have nodes at every size. */
export function callsFor(w: World, n: number, smallest: number): Call[] {
  const picks = [0, 9, ...Array.from({ length: 8 }, (_, k) => Math.floor(((k + 1) * n) / 10) + 3)];
  const projects = [...new Set(Array.from({ length: smallest }, (_, i) => projectOf(w, i)).filter((p): p is string => p !== null))];
  const step = Math.max(1, Math.floor(projects.length / 10));
  return [
    { key: 'free', call: 'GET /v0/nodes/free', paths: ['/v0/nodes/free'] },
    { key: 'node', call: 'GET /v0/node/<n>', paths: picks.map((i) => `/v0/node/${nodeLabel(i)}`) },
    { key: 'project', call: 'GET /v0/project/<p>/nodes', paths: projects.filter((_, k) => k % step === 0).slice(0, 10).map((p) => `/v0/project/${p}/nodes`) },
  ];
}

async function answerSize(api: Server, c: Call): Promise<string> {
  const bodies = await Promise.all(c.paths.map((p) => ok(api, 'GET', p)));
  if (c.key === 'node') return `${Math.round(median(bodies.map((b) => JSON.stringify(b).length)))} B`;
  const names = bodies.reduce((s, b: string[]) => s + b.length, 0) / bodies.length;
  return `${Number.isInteger(names) ? names : names.toFixed(1)} name${names === 1 ? "" : "s"}`;
}

export interface LoadOptions {
  rounds: number;
  seconds: number;
  warmupSeconds: number;
  connections: number;
}

/** One load run, with PostgreSQL's CPU over the same time. */
export async function sample(api: Server, paths: string[], o: LoadOptions, dbCpu: () => number): Promise<Sample> {
  const db0 = dbCpu();
  const r: LoadResult = await load(api, paths, { seconds: o.seconds, connections: o.connections });
  if (r.errors || r.non2xx) throw new Error(`${api.name} ${paths[0]}: ${r.errors} errors, ${r.non2xx} non-2xx answers`);
  return { rps: r.rps, p50: r.p50, p99: r.p99, apiCpuUs: r.cpuUsPerRequest, dbCpuUs: ((dbCpu() - db0) * 1e6) / r.requests };
}

export function medianSample(xs: Sample[]): Sample {
  const m = (f: (s: Sample) => number) => median(xs.map(f));
  return { rps: m((s) => s.rps), p50: m((s) => s.p50), p99: m((s) => s.p99), apiCpuUs: m((s) => s.apiCpuUs), dbCpuUs: m((s) => s.dbCpuUs) };
}

export async function measureGrowth(w: World, sizes: Size[], o: LoadOptions, dbCpu: () => number, log: (m: string) => void): Promise<GrowthRow[]> {
  const smallest = Math.min(...sizes.map((s) => s.nodes));
  const calls = new Map(sizes.map((s) => [s.nodes, callsFor(w, s.nodes, smallest)]));
  const rows: GrowthRow[] = [];
  for (const s of sizes) for (const c of calls.get(s.nodes)!) rows.push({ key: c.key, call: c.call, nodes: s.nodes, answer: await answerSize(s.api, c), median: undefined!, rounds: [] });
  const row = (key: CallKey, nodes: number) => rows.find((r) => r.key === key && r.nodes === nodes)!;
  for (const s of sizes) for (const c of calls.get(s.nodes)!) await load(s.api, c.paths, { seconds: o.warmupSeconds, connections: o.connections });
  for (let r = 0; r < o.rounds; r++) {
    const order = sizes.map((_, i) => sizes[(i + r) % sizes.length]);
    for (const key of ['free', 'node', 'project'] as const) {
      for (const s of order) row(key, s.nodes).rounds.push(await sample(s.api, calls.get(s.nodes)!.find((c) => c.key === key)!.paths, o, dbCpu));
      log(`round ${r + 1}, ${key}: ` + sizes.map((s) => `${s.nodes} nodes ${Math.round(row(key, s.nodes).rounds[r].rps)} req/s`).join(', '));
    }
  }
  for (const x of rows) x.median = medianSample(x.rounds);
  for (const key of ['free', 'node', 'project'] as const) {
    for (let k = 1; k < sizes.length; k++) {
      const prev = row(key, sizes[k - 1].nodes);
      const cur = row(key, sizes[k].nodes);
      cur.growth = {
        time: median(cur.rounds.map((x, i) => prev.rounds[i].rps / x.rps)),
        cpu: median(cur.rounds.map((x, i) => (x.apiCpuUs + x.dbCpuUs) / (prev.rounds[i].apiCpuUs + prev.rounds[i].dbCpuUs))),
      };
    }
  }
  return rows;
}
