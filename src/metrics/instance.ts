/**
 * One HIL's own metrics, on a registry of its own (several HILs in one test
 * process must not collide): its HTTP requests, and gauges read from its
 * database when scraped. render() adds the process-wide metrics
 * (./process.ts), so one scrape shows everything this process knows.
 */
import type { Kysely } from 'kysely';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ACTION_STATUSES, type Database } from '../store/schema.ts';
import type { PoolStats } from '../store/db.ts';
import { processRegistry } from './process.ts';

/** The route label of a request no route matched: the raw URL would make a series per URL anyone sends. */
export const UNMATCHED = 'unmatched';

/** API answers are sub-millisecond reads to BMC calls of several seconds. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface InstanceSources {
  db: Kysely<Database>;
  /** The PostgreSQL pool's connections; absent on SQLite (one connection, no pool). */
  poolStats?: () => PoolStats;
  /** Where a collector that could not read its source says so (a scrape still answers without it). */
  warn: (what: string, err: unknown) => void;
}

export interface InstanceMetrics {
  /** One answered request: `route` is the route's pattern (/v0/node/:node) or UNMATCHED. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** The Prometheus text of this HIL's and the process's metrics. */
  render(): Promise<string>;
  readonly contentType: string;
}

export function instanceMetrics(src: InstanceSources): InstanceMetrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'hil_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'hil_http_request_duration_seconds',
    help: 'Time from a request arriving to its answer sent, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });
  actionGauge(registry, src);
  if (src.poolStats) poolGauge(registry, src.poolStats);
  const merged = Registry.merge([processRegistry, registry]);
  return {
    observeRequest(method, route, status, seconds) {
      requests.inc({ method, route, status });
      duration.observe({ method, route }, seconds);
    },
    render: () => merged.metrics(),
    contentType: merged.contentType,
  };
}

/** The journal's rows by status, counted when scraped (a count kept in memory would miss other processes' actions). */
function actionGauge(registry: Registry, src: InstanceSources): void {
  new Gauge({
    name: 'hil_networking_actions',
    help: 'Networking actions in the journal by status (a nic keeps its last finished action until its next request).',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const rows = await src.db.selectFrom('networking_action').select((eb) => ['status', eb.fn.countAll<number | string>().as('n')]).groupBy('status').execute();
        const counts = new Map(rows.map((r) => [r.status, Number(r.n)]));
        for (const status of ACTION_STATUSES) this.set({ status }, counts.get(status) ?? 0);
      } catch (err) {
        // The database being down is what /readyz says; the scrape answers with the rest.
        src.warn('hil_networking_actions', err);
      }
    },
  });
}

function poolGauge(registry: Registry, stats: () => PoolStats): void {
  new Gauge({
    name: 'hil_db_pool_connections',
    help: 'PostgreSQL pool connections: total open, idle, and queries waiting for one.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const s = stats();
      this.set({ state: 'total' }, s.total);
      this.set({ state: 'idle' }, s.idle);
      this.set({ state: 'waiting' }, s.waiting);
    },
  });
}
