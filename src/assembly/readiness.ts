/**
 * What GET /readyz checks: the database answers a query in time, its schema
 * has no pending migration (HIL's or a driver's), the networking worker runs
 * where this process has one, its claims' heartbeat gets through (a process
 * that cannot renew them holds nothing), and the process is not stopping. A failure is
 * said in words that name no host, port or connection string (PostgreSQL's
 * own messages do), and logged once when readiness changes, not on every probe.
 */
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { ReadinessReport } from '../api/probes.ts';
import type { Store } from '../store/db.ts';
import { pendingMigrations, type MigrationSet } from '../store/migrate.ts';
import { TimeoutError, withTimeout } from '../util/timeout.ts';

/** A database that takes longer than this to answer `SELECT 1` is not one to send traffic to. */
const QUERY_TIMEOUT_MS = 2000;
const OK = 'ok';

export interface ReadinessParts {
  store: Store;
  migrations: MigrationSet[];
  /** Whether this process runs a networking worker, and whether it is running now. */
  worker?: { running: () => boolean };
  /** Whether the last claims heartbeat reached the database within the TTL. */
  claims: { healthy: boolean };
  stopping: () => boolean;
  log: Logger;
}

export function readiness(p: ReadinessParts): () => Promise<ReadinessReport> {
  let wasReady: boolean | undefined;
  return async () => {
    const checks: Record<string, string> = {};
    checks.process = p.stopping() ? 'stopping' : OK;
    checks.database = await databaseAnswers(p.store);
    checks.schema = checks.database === OK ? await schemaCurrent(p) : 'not checked (no database)';
    if (p.worker) checks.worker = p.worker.running() ? OK : 'not running';
    checks.claims = p.claims.healthy ? OK : 'heartbeat not getting through: claims may have passed to other processes';
    const ready = Object.values(checks).every((v) => v === OK);
    if (ready !== wasReady && !(wasReady === undefined && ready)) {
      if (ready) p.log.info({ checks }, 'ready again');
      else p.log.warn({ checks }, 'not ready');
    }
    wasReady = ready;
    return { ready, checks };
  };
}

async function databaseAnswers(store: Store): Promise<string> {
  try {
    await withTimeout(QUERY_TIMEOUT_MS, 'readiness query', () => sql`select 1`.execute(store.db));
    return OK;
  } catch (err) {
    if (err instanceof TimeoutError) return `no answer within ${QUERY_TIMEOUT_MS} ms`;
    return `failed${errorCode(err)}`;
  }
}

async function schemaCurrent(p: ReadinessParts): Promise<string> {
  try {
    const pending = await withTimeout(QUERY_TIMEOUT_MS, 'migration check', () => pendingMigrations(p.store, p.migrations));
    return pending.length ? `pending migrations: ${pending.join(', ')} (run "hil-admin db migrate")` : OK;
  } catch (err) {
    return `could not be read${errorCode(err)}`;
  }
}

/** A driver's or PostgreSQL's error code (ECONNREFUSED, 3D000): says what happened, names nothing. */
function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? ` (${code})` : '';
}
