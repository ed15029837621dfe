/**
 * The databases every store-touching test runs on: SQLite always, PostgreSQL
 * when the global setup started one (or HIL_TEST_POSTGRES_URL names one).
 * Each call to create() gives a fresh, empty database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface FreshDb {
  url: string;
  drop(): Promise<void>;
}

export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  /** Why this database is skipped here; undefined when it runs. */
  skip?: string;
  create(): Promise<FreshDb>;
}

const sqlite: TestDatabase = {
  name: 'sqlite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'hil-sqlite-'));
    return { url: `sqlite:${join(dir, 'hil.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  },
};

function postgres(): TestDatabase {
  const admin = process.env.HIL_TEST_POSTGRES_URL;
  const skip = admin ? undefined : (process.env.HIL_TEST_POSTGRES_SKIP ?? 'HIL_TEST_POSTGRES_URL is not set (run through npm test)');
  return {
    name: 'postgres',
    skip,
    async create() {
      const name = `hil_t_${randomBytes(6).toString('hex')}`;
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      const url = new URL(admin!);
      url.pathname = `/${name}`;
      return {
        url: url.toString(),
        async drop() {
          const c = new pg.Client({ connectionString: admin });
          await c.connect();
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          await c.end();
        },
      };
    },
  };
}

export function testDatabases(): TestDatabase[] {
  const dbs = [sqlite, postgres()];
  for (const db of dbs) if (db.skip) console.log(`# skipping ${db.name} variants: ${db.skip}`);
  return dbs;
}
