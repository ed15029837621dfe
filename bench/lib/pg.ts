/**
 * PostgreSQL for the benchmarks: the tests' throwaway cluster
 * (test/support/postgres.ts: initdb on loopback, fsync off), a database per
 * world in it, and the CPU time of the cluster's processes, so that a read's
 * cost in the database is counted as well as in the API server.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { startPostgres, type PgCluster } from '../../test/support/postgres.ts';

export { startPostgres, type PgCluster };

/** A new, empty database in the cluster; its URL. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

const cpuOf = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0; // a backend that has just exited
  }
};

/**
 * CPU seconds (user + system) used so far by the cluster's server processes
 * (the postmaster's children: every backend, the writers, autovacuum). Only
 * differences over a run mean anything; a backend that exits in between
 * takes its share with it, so keep connections open across a run.
 */
export async function clusterCpu(adminUrl: string): Promise<() => number> {
  // Our own backend's parent is the postmaster (read while the backend lives).
  const postmaster = await withClient(adminUrl, async (c) => {
    const backend = Number((await c.query('select pg_backend_pid() as pid')).rows[0].pid);
    const stat = readFileSync(`/proc/${backend}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  });
  return () => {
    let children: number[] = [];
    try {
      children = readFileSync(`/proc/${postmaster}/task/${postmaster}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return NaN;
    }
    return children.reduce((sum, pid) => sum + cpuOf(pid), cpuOf(postmaster));
  };
}
