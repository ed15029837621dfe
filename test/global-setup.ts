/**
 * Runs once before all test files (node --test-global-setup). Unless the
 * caller already named a PostgreSQL server (HIL_TEST_POSTGRES_URL), it starts
 * a throwaway cluster so every database test also runs on PostgreSQL.
 * Without PostgreSQL installed, those tests skip and say why; CI installs it.
 * Likewise one single-node Ceph cluster for the rbd storage tests, shared by
 * all of them (each test uses its own key prefix).
 */
import { findCephBins, startCeph, type CephCluster } from './support/ceph.ts';
import { startPostgres, findPostgresBin, type PgCluster } from './support/postgres.ts';

let cluster: PgCluster | undefined;
let ceph: CephCluster | undefined;

export async function globalSetup(): Promise<void> {
  await setUpPostgres();
  try {
    await setUpCeph();
  } catch (err) {
    // The teardown may not run after a failed setup: nothing of ours outlives it.
    cluster?.stop();
    throw err;
  }
}

async function setUpPostgres(): Promise<void> {
  if (process.env.HIL_TEST_POSTGRES_URL) return;
  if (!findPostgresBin()) {
    if (process.env.HIL_TEST_REQUIRE_ALL) throw new Error('PostgreSQL is required here (HIL_TEST_REQUIRE_ALL) but not installed');
    process.env.HIL_TEST_POSTGRES_SKIP = 'PostgreSQL is not installed here (apt-get install postgresql); PostgreSQL variants are skipped';
    return;
  }
  cluster = await startPostgres();
  process.env.HIL_TEST_POSTGRES_URL = cluster.url;
}

async function setUpCeph(): Promise<void> {
  if (process.env.HIL_TEST_CEPH_CONF) return;
  if (!findCephBins()) {
    if (process.env.HIL_TEST_REQUIRE_ALL) throw new Error('Ceph is required here (HIL_TEST_REQUIRE_ALL) but not installed');
    process.env.HIL_TEST_CEPH_SKIP = 'Ceph is not installed here (apt-get install ceph-mon ceph-osd ceph-common qemu-block-extra); rbd storage tests are skipped';
    return;
  }
  ceph = await startCeph();
  process.env.HIL_TEST_CEPH_CONF = ceph.conf;
  process.env.HIL_TEST_CEPH_POOL = ceph.pool;
  process.env.HIL_TEST_CEPH_ID = ceph.clientId;
}

export async function globalTeardown(): Promise<void> {
  try {
    cluster?.stop();
  } finally {
    ceph?.stop();
  }
}
