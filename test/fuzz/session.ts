/**
 * One fuzz session against one database: a test HIL with database auth, the
 * mock BMC and the mock switch, seeded with the world (world.ts); then
 *
 * 1. the survey: `requests` generated requests from a seed, each answer
 *    judged (checks.ts), every failure filed under its class, none stopping
 *    the run, so that one run shows every class it can reach;
 * 2. the invariants (invariants.ts), once the networking worker is idle;
 * 3. shrinking: for each class, fast-check replays the first request that
 *    showed it (by seed and run index) and shrinks it to a smallest request
 *    that still does.
 *
 * The callers are restored after each request that may have changed them
 * (world.ts); a request that leaves no administrator is filed as a failure.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mockBmcDriver } from '../../src/drivers/bmc/mock.ts';
import type { TestDatabase } from '../support/databases.ts';
import { documentedErrors, type DocumentedErrors } from '../support/documented-errors.ts';
import { startTestHil, type TestHil } from '../support/hil.ts';
import { judge, type Verdict } from './checks.ts';
import { checkInvariants } from './invariants.ts';
import { fuzzRequest, type FuzzRequest } from './requests.ts';
import { operationsOf, type Operation } from './routes.ts';
import { send, type Answer, type Target } from './send.ts';
import { actorHashes, restoreActors, seedWorld, VLANS } from './world.ts';

export interface Example {
  /** The run index within the seed (fast-check's path). */
  index: number;
  req: FuzzRequest;
  answer: Answer;
}

export interface FailureClass {
  name: string;
  count: number;
  routes: Set<string>;
  first: Example;
  /** The smallest request found that still shows the class. */
  shrunk?: Example;
}

export interface SessionReport {
  database: string;
  seed: number;
  sent: number;
  statuses: Map<number, number>;
  /** route → status → count: which routes the run reached, and how far. */
  coverage: Map<string, Map<number, number>>;
  failures: Map<string, FailureClass>;
  /** Documented 5xx seen (allowed, reported), by status and type. */
  documented5xx: Map<string, { count: number; routes: Set<string>; example: Example }>;
  violations: string[];
  /** Error-level log lines, by message. */
  errorLogs: Map<string, number>;
  repairs: number;
  /** Starting the HIL and seeding the world; the survey; everything (with the checks and shrinking). */
  setupMs: number;
  surveyMs: number;
  totalMs: number;
}

export interface SessionOptions {
  seed: number;
  requests: number;
  /** How many classes to shrink, and for how long each at most. */
  shrinkClasses: number;
  shrinkMs: number;
}

interface Fuzz {
  t: TestHil;
  target: Target;
  ops: Operation[];
  docs: DocumentedErrors;
  hashes: Map<string, string>;
}

/** A route that may change a caller: users, and deleting projects (memberships). */
const touchesActors = (req: FuzzRequest) => req.url.startsWith('/v0/auth/basic/user') || (req.method === 'DELETE' && req.url.startsWith('/v0/project/'));

export async function runSession(database: TestDatabase, o: SessionOptions): Promise<SessionReport> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'hil-fuzz-'));
  const db = await database.create();
  const t = await startTestHil(db, {
    auth: 'database',
    bmcDrivers: [mockBmcDriver()],
    config: (c) => {
      c.network.vlans = VLANS;
      c.server.data_dir = dir;
      c.images.dir = join(dir, 'blobs');
      c.images.max_file_mib = 1;
      c.obm.timeout_seconds = 2;
    },
  });
  try {
    const base = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
    await seedWorld(t);
    const doc = (await t.as()('GET', '/openapi.json')).body;
    const fuzz: Fuzz = { t, target: { t, port: Number(new URL(base).port), actions: [] }, ops: operationsOf(doc), docs: documentedErrors(), hashes: await actorHashes(t) };
    const report: SessionReport = {
      database: database.name,
      seed: o.seed,
      sent: 0,
      statuses: new Map(),
      coverage: new Map(),
      failures: new Map(),
      documented5xx: new Map(),
      violations: [],
      errorLogs: new Map(),
      repairs: 0,
      setupMs: Date.now() - started,
      surveyMs: 0,
      totalMs: 0,
    };
    const surveyStart = Date.now();
    await survey(fuzz, report, o);
    report.surveyMs = Date.now() - surveyStart;
    await settle(t);
    report.violations = await checkInvariants(t);
    for (const line of t.logs) if (Number(line.level) >= 50) bump(report.errorLogs, String((line.err as any)?.message ?? line.msg).slice(0, 120));
    for (const cls of [...report.failures.values()].slice(0, o.shrinkClasses)) cls.shrunk = await shrink(fuzz, o, cls);
    report.totalMs = Date.now() - started;
    return report;
  } finally {
    await t.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sends one request and judges it; restores the callers if it may have changed them. */
async function step(f: Fuzz, req: FuzzRequest): Promise<{ answer: Answer; verdict: Verdict; repaired: string[] }> {
  const answer = await send(f.target, req);
  const op = f.ops.find((x) => `${x.method} ${x.template}` === req.route);
  const verdict = judge(req, op, answer, f.docs, (id) => loggedError(f.t, id));
  if (answer.status === 202 && req.settle !== false) await settle(f.t);
  let repaired: string[] = [];
  if (answer.status >= 200 && answer.status < 300 && touchesActors(req)) {
    const admins = await f.t.hil.store.db.selectFrom('user').select('id').where('is_admin', '=', true).execute();
    if (admins.length === 0 && !verdict.failure) verdict.failure = 'invariant: the request left no administrator';
    repaired = await restoreActors(f.t, f.hashes);
  }
  return { answer, verdict, repaired };
}

async function survey(f: Fuzz, report: SessionReport, o: SessionOptions): Promise<void> {
  let index = 0;
  const property = fc.asyncProperty(fuzzRequest(f.ops), async (req) => {
    const i = index++;
    const { answer, verdict, repaired } = await step(f, req);
    report.sent++;
    bump(report.statuses, answer.status);
    if (!report.coverage.has(req.route)) report.coverage.set(req.route, new Map());
    bump(report.coverage.get(req.route)!, answer.status);
    report.repairs += repaired.length;
    if (verdict.failure) {
      const cls = report.failures.get(verdict.failure);
      if (cls) {
        cls.count++;
        cls.routes.add(req.route);
      } else report.failures.set(verdict.failure, { name: verdict.failure, count: 1, routes: new Set([req.route]), first: { index: i, req, answer } });
    }
    if (verdict.documented5xx) {
      const seen = report.documented5xx.get(verdict.documented5xx);
      if (seen) {
        seen.count++;
        seen.routes.add(req.route);
      } else report.documented5xx.set(verdict.documented5xx, { count: 1, routes: new Set([req.route]), example: { index: i, req, answer } });
    }
    return true;
  });
  await fc.check(property, { seed: o.seed, numRuns: o.requests });
}

/** Replays the class's first request by its run index and lets fast-check shrink it, bounded in time. */
async function shrink(f: Fuzz, o: SessionOptions, cls: FailureClass): Promise<Example | undefined> {
  let last: Example | undefined;
  const property = fc.asyncProperty(fuzzRequest(f.ops), async (req) => {
    const { answer, verdict } = await step(f, req);
    if (verdict.failure !== cls.name) return true;
    last = { index: cls.first.index, req, answer };
    return false;
  });
  const details = await fc.check(property, { seed: o.seed, path: String(cls.first.index), plugins: [fc.interruptAfterTimeLimit(o.shrinkMs)] });
  return details.failed ? last : undefined;
}

/** Waits (up to 5 s) until the worker has applied every PENDING networking action. */
async function settle(t: TestHil): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    await t.hil.worker?.idle();
    const pending = await t.hil.store.db.selectFrom('networking_action').select('id').where('status', '=', 'PENDING').executeTakeFirst();
    if (!pending) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The message of the error line the server logged for a request id. */
function loggedError(t: TestHil, requestId: string | undefined): string | undefined {
  if (!requestId) return undefined;
  for (let i = t.logs.length - 1; i >= 0 && i >= t.logs.length - 200; i--) {
    const line = t.logs[i]!;
    if (line.reqId === requestId && Number(line.level) >= 50) return String((line.err as any)?.message ?? line.msg);
  }
  return undefined;
}

function bump<K>(m: Map<K, number>, k: K): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}
