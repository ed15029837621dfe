import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { openStore } from '../../src/store/db.ts';
import { CORE_MIGRATIONS, migrate, migrationNames, pendingMigrations } from '../../src/store/migrate.ts';
import { MIGRATION_SETS } from '../../src/assembly/drivers.ts';

const MIGRATION_NAMES = migrationNames(MIGRATION_SETS);
import { DuplicateError } from '../../src/errors.ts';
import { insertUnique } from '../../src/core/lookup.ts';
import { sql } from 'kysely';

for (const database of testDatabases()) {
  describe(`schema on ${database.name}`, { skip: database.skip }, () => {
    it('migrates once, and a second run changes nothing', async () => {
      const fresh = await database.create();
      const store = openStore(fresh.url);
      try {
        assert.deepEqual(await pendingMigrations(store, MIGRATION_SETS), MIGRATION_NAMES);
        assert.ok(MIGRATION_NAMES.includes('mock_switch/0001-tables') && MIGRATION_NAMES.includes('0001-init'));
        assert.deepEqual(await migrate(store, MIGRATION_SETS), MIGRATION_NAMES);
        assert.deepEqual(await migrate(store, MIGRATION_SETS), []);
        assert.deepEqual(await pendingMigrations(store, MIGRATION_SETS), []);
      } finally {
        await store.close();
        await fresh.drop();
      }
    });

    it('takes a database made before the mock switch owned its tables (they came with 0001) to the same schema', async () => {
      const fresh = await database.create();
      const store = openStore(fresh.url);
      try {
        await migrate(store, [CORE_MIGRATIONS]);
        // What 0001-init used to create: the mock switch's port table, with a row in it.
        const mockSet = MIGRATION_SETS.find((m) => m.owner === 'mock_switch')!;
        await mockSet.migrations['0001-tables']!.up(store.db, store.kind);
        await store.db.insertInto('switch').values({ label: 's', type: 't', params: '{}' }).execute();
        const sw = await store.db.selectFrom('switch').select('id').executeTakeFirstOrThrow();
        const mock = store.db.withTables<{ mock_switch_port: { switch_id: number; port: string; channel: string; network_id: string } }>();
        await mock.insertInto('mock_switch_port').values({ switch_id: sw.id, port: 'gi1/0/1', channel: 'vlan/native', network_id: '1001' }).execute();
        // Its own bookkeeping says nothing ran yet: its migrations run (0001 finds the tables), the row stays; so do the other drivers' sets.
        const driverSets = MIGRATION_SETS.filter((m) => m.owner !== 'hil');
        assert.ok(driverSets.includes(mockSet));
        assert.deepEqual(await migrate(store, MIGRATION_SETS), driverSets.flatMap((set) => Object.keys(set.migrations).map((name) => `${set.owner}/${name}`)));
        assert.equal((await mock.selectFrom('mock_switch_port').selectAll().execute()).length, 1);
      } finally {
        await store.close();
        await fresh.drop();
      }
    });

    it('reads the free list from its own index, never visiting allocated nodes (on SQLite in order, no sort); a project from the project index', async () => {
      const fresh = await database.create();
      const store = openStore(fresh.url);
      const { db } = store;
      try {
        await migrate(store);
        // 30 projects and 3,000 nodes, one in ten free, in two statements.
        const series = (n: number) =>
          store.kind === 'postgres'
            ? sql`select i from generate_series(0, ${sql.lit(n - 1)}) as i`
            : sql`with recursive s(i) as (select 0 union all select i + 1 from s where i < ${sql.lit(n - 1)}) select i from s`;
        const obmEnabled = store.kind === 'postgres' ? sql`false` : sql`0`;
        await sql`insert into project (label) select 'p' || i from (${series(30)}) as t`.execute(db);
        await sql`insert into node (label, project_id, obm_type, obm_params, obm_enabled)
          select 'n' || i, case when i % 10 = 9 then null else (select id from project where label = 'p' || (i % 30)) end, 'mock', '{}', ${obmEnabled}
          from (${series(3000)}) as t`.execute(db);
        // PostgreSQL plans by its statistics; SQLite has none (hil never ANALYZEs), which is
        // the case that matters there.
        if (store.kind === 'postgres') await sql`analyze node`.execute(db);
        const plan = async (query: { sql: string; parameters: readonly unknown[] }) => {
          const text = query.sql.replace(/\$1|\?/, "(select id from project where label = 'p3')");
          return store.kind === 'postgres'
            ? (await sql.raw<{ 'QUERY PLAN': string }>(`explain ${text}`).execute(db)).rows.map((r) => r['QUERY PLAN']).join('\n')
            : (await sql.raw<{ detail: string }>(`explain query plan ${text}`).execute(db)).rows.map((r) => r.detail).join('\n');
        };
        // The very queries the node and project services make.
        const free = db.selectFrom('node').select('label').where('project_id', 'is', null).orderBy('label').compile();
        const freePlan = await plan(free);
        assert.match(freePlan, /node_free_label_idx/, freePlan);
        assert.doesNotMatch(freePlan, /node_project_idx|Seq Scan|SCAN node\b(?! USING)/, freePlan);
        // SQLite reads the labels in order from the index alone. PostgreSQL does too (an
        // index-only scan) once autovacuum has set the table's visibility map, which a test
        // cannot wait for; until then it may sort what it read from the same index.
        if (store.kind === 'sqlite') assert.match(freePlan, /^SCAN node USING COVERING INDEX node_free_label_idx$/, freePlan);
        const projectPlan = await plan(db.selectFrom('node').select('label').where('project_id', '=', 0).orderBy('id').compile());
        assert.match(projectPlan, /node_project_idx/, projectPlan);
        const labels = (await db.executeQuery<{ label: string }>(free)).rows.map((r) => r.label);
        assert.equal(labels.length, 300);
        assert.deepEqual(labels, [...labels].sort());
      } finally {
        await store.close();
        await fresh.drop();
      }
    });

    it('keeps invariants as constraints, not only in code', async () => {
      const fresh = await database.create();
      const store = openStore(fresh.url);
      const { db } = store;
      try {
        await migrate(store);
        const sw = await db.insertInto('switch').values({ label: 's', type: 't', params: '{}' }).returning('id').executeTakeFirstOrThrow();
        const port = await db.insertInto('port').values({ switch_id: sw.id, label: 'p1' }).returning('id').executeTakeFirstOrThrow();
        const node = await db
          .insertInto('node')
          .values({ label: 'n', project_id: null, obm_type: 'mock', obm_params: '{}', obm_enabled: false, obm_token: null })
          .returning('id')
          .executeTakeFirstOrThrow();
        const dup = (p: Promise<unknown>) => assert.rejects(insertUnique(p, 'dup'), DuplicateError);
        await dup(db.insertInto('port').values({ switch_id: sw.id, label: 'p1' }).execute());
        await dup(db.insertInto('node').values({ label: 'n', project_id: null, obm_type: 'mock', obm_params: '{}', obm_enabled: false, obm_token: null }).execute());
        await db.insertInto('nic').values({ node_id: node.id, label: 'eth0', macaddr: null, port_id: port.id }).execute();
        await dup(db.insertInto('nic').values({ node_id: node.id, label: 'eth0', macaddr: null, port_id: null }).execute());
        // One nic per port.
        await dup(db.insertInto('nic').values({ node_id: node.id, label: 'eth1', macaddr: null, port_id: port.id }).execute());
        const nic = await db.selectFrom('nic').select('id').executeTakeFirstOrThrow();
        const action = { nic_id: nic.id, type: 'modify_port' as const, channel: 'vlan/native', new_network_id: null, status: 'PENDING' as const, error: null, created_at: 0, finished_at: null };
        await db.insertInto('networking_action').values({ ...action, uuid: 'a' }).execute();
        // One action per nic.
        await dup(db.insertInto('networking_action').values({ ...action, uuid: 'b' }).execute());
        await assert.rejects(db.insertInto('networking_action').values({ ...action, uuid: 'c', status: 'BOGUS' as 'DONE' }).execute());
        await assert.rejects(db.insertInto('vlan').values({ vlan_no: 5000, available: true }).execute());
      } finally {
        await store.close();
        await fresh.drop();
      }
    });
  });
}
