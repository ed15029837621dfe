/** Load runs (autocannon, in this process) and the networking cycle. */
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { NETWORK, NIC, ok, waitAction } from './populate.ts';
import type { Server } from './servers.ts';

export interface LoadResult {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  requests: number;
  seconds: number;
  errors: number;
  non2xx: number;
  /** Server CPU time per request, µs: robust to other load on the machine, unlike req/s. */
  cpuUsPerRequest: number;
  /** Cores the server process used during the run (≈ 1 when it was the bottleneck and not starved). */
  serverCores: number;
}

export async function load(server: Server, paths: string[], o: { seconds: number; connections: number }): Promise<LoadResult> {
  const cpu0 = server.cpuSeconds();
  const r = await autocannon({
    url: server.url,
    connections: o.connections,
    duration: o.seconds,
    headers: server.headers,
    requests: paths.map((path) => ({ method: 'GET', path })),
  });
  const cpu = server.cpuSeconds() - cpu0;
  return {
    rps: r.requests.total / r.duration,
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    requests: r.requests.total,
    seconds: r.duration,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    cpuUsPerRequest: (cpu * 1e6) / r.requests.total,
    serverCores: cpu / r.duration,
  };
}

export interface CycleResult {
  cycles: number;
  /** POST connect_network until GET networking_action says DONE, ms. */
  connect: Percentiles;
  /** POST detach_network until DONE, ms. */
  detach: Percentiles;
  cyclesPerSecond: number;
  /** Status polls per action, on average. */
  pollsPerAction: number;
  failures: number;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: s[s.length - 1], mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function timedAction(server: Server, node: string, verb: 'connect_network' | 'detach_network'): Promise<{ ms: number; polls: number; status: string }> {
  const t0 = performance.now();
  const { status_id } = await ok(server, 'POST', `/v0/node/${node}/nic/${NIC}/${verb}`, { network: NETWORK });
  const { status, polls } = await waitAction(server, status_id, 1);
  return { ms: performance.now() - t0, polls, status };
}

/**
 * Sequential connect→DONE→detach→DONE cycles over `nodes`, polling the action
 * every millisecond; the first `warmup` cycles are not recorded.
 */
export async function cycles(server: Server, nodes: string[], n: number, warmup = 10): Promise<CycleResult> {
  const connect: number[] = [];
  const detach: number[] = [];
  let polls = 0;
  let failures = 0;
  let started = 0;
  for (let k = -warmup; k < n; k++) {
    if (k === 0) started = performance.now();
    const node = nodes[(k + warmup) % nodes.length];
    const c = await timedAction(server, node, 'connect_network');
    const d = await timedAction(server, node, 'detach_network');
    if (k < 0) continue;
    connect.push(c.ms);
    detach.push(d.ms);
    polls += c.polls + d.polls;
    if (c.status !== 'DONE' || d.status !== 'DONE') failures++;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    cycles: n,
    connect: percentiles(connect),
    detach: percentiles(detach),
    cyclesPerSecond: n / seconds,
    pollsPerAction: polls / (2 * n),
    failures,
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
