/**
 * The metrics any layer may move, on one registry for the whole process:
 * driver calls, BMC timeouts, the networking journal's queue times, claims.
 * Free functions, so that a driver call site needs no registry handed down.
 * A process is one HIL in production; where tests run several HILs in one
 * process they share these (each HIL's own metrics are in ./instance.ts,
 * and its /metrics shows both). Node's default metrics are here too, with
 * the `hil_` prefix, collected at scrape time.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const processRegistry = new Registry();

collectDefaultMetrics({ register: processRegistry, prefix: 'hil_' });

/** Driver calls are milliseconds (mock) to tens of seconds (a BMC's power cycle, a slow switch). */
const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** From queued to finished: one switch call, or a long queue behind a slow switch. */
const QUEUE_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

const driverCallSeconds = new Histogram({
  name: 'hil_driver_call_duration_seconds',
  help: 'Duration of calls into drivers (kind: bmc or switch), successful or not.',
  labelNames: ['kind', 'driver', 'op'] as const,
  buckets: CALL_BUCKETS,
  registers: [processRegistry],
});

const driverCallErrors = new Counter({
  name: 'hil_driver_call_errors_total',
  help: 'Driver calls that failed (the driver threw or refused).',
  labelNames: ['kind', 'driver', 'op'] as const,
  registers: [processRegistry],
});

const bmcTimeouts = new Counter({
  name: 'hil_bmc_timeouts_total',
  help: 'BMC calls that did not answer within obm.timeout_seconds (their wait for the BMC gate included).',
  labelNames: ['driver'] as const,
  registers: [processRegistry],
});

const actionQueueSeconds = new Histogram({
  name: 'hil_networking_action_queue_seconds',
  help: 'Networking actions from queued (created_at) to finished (finished_at), DONE or ERROR.',
  buckets: QUEUE_BUCKETS,
  registers: [processRegistry],
});

const claimsHeld = new Gauge({
  name: 'hil_claims_held',
  help: 'Claims (leases on shared work) this process holds now, by kind.',
  labelNames: ['kind'] as const,
  registers: [processRegistry],
});

const claimsTakenOver = new Counter({
  name: 'hil_claims_taken_over_total',
  help: 'Claims this process took over from a holder that had expired or died, by kind.',
  labelNames: ['kind'] as const,
  registers: [processRegistry],
});

/**
 * One finished driver call: `kind` "bmc" or "switch", `driver` its type
 * (ipmi, redfish, ovs, mock…), `op` a short fixed name (power_cycle,
 * apply_batch…): never a node, port or host, which would make a series per object.
 */
export function observeDriverCall(kind: string, driver: string, op: string, seconds: number, ok: boolean): void {
  const labels = { kind, driver, op };
  driverCallSeconds.observe(labels, seconds);
  if (!ok) driverCallErrors.inc(labels);
}

/** A BMC call of this BMC type that ran out of time. */
export function countBmcTimeout(driver: string): void {
  bmcTimeouts.inc({ driver });
}

/** A networking action just finished (DONE or ERROR): `queueSeconds` is finished_at - created_at. */
export function observeActionFinished(queueSeconds: number): void {
  actionQueueSeconds.observe(Math.max(0, queueSeconds));
}

/** How many claims of `kind` this process holds now (set it whenever that changes). */
export function setClaimsHeld(kind: string, n: number): void {
  claimsHeld.set({ kind }, n);
}

/** This process took over a claim of `kind` from a holder that had expired or died. */
export function countTakeover(kind: string): void {
  claimsTakenOver.inc({ kind });
}
