/**
 * Runs once before all test files (node --test-global-setup). Unless the
 * caller already named a PostgreSQL server (HIL_TEST_POSTGRES_URL), it starts
 * a throwaway cluster so every database test also runs on PostgreSQL.
 * Without PostgreSQL installed, those tests skip and say why; CI installs it.
 */
import { startPostgres, findPostgresBin, type PgCluster } from './support/postgres.ts';

let cluster: PgCluster | undefined;

export async function globalSetup(): Promise<void> {
  if (process.env.HIL_TEST_POSTGRES_URL) return;
  if (!findPostgresBin()) {
    if (process.env.HIL_TEST_REQUIRE_ALL) throw new Error('PostgreSQL is required here (HIL_TEST_REQUIRE_ALL) but not installed');
    process.env.HIL_TEST_POSTGRES_SKIP = 'PostgreSQL is not installed here (apt-get install postgresql); PostgreSQL variants are skipped';
    return;
  }
  cluster = await startPostgres();
  process.env.HIL_TEST_POSTGRES_URL = cluster.url;
}

export async function globalTeardown(): Promise<void> {
  cluster?.stop();
}
