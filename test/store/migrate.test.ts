import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { openStore } from '../../src/store/db.ts';
import { CORE_MIGRATIONS, migrate, migrationNames, pendingMigrations } from '../../src/store/migrate.ts';
import { MIGRATION_SETS } from '../../src/assembly/drivers.ts';

const MIGRATION_NAMES = migrationNames(MIGRATION_SETS);
import { DuplicateError } from '../../src/errors.ts';
import { insertUnique } from '../../src/core/lookup.ts';

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
        // Its own bookkeeping says nothing ran yet: its migrations run (0001 finds the tables), the row stays.
        assert.deepEqual(await migrate(store, MIGRATION_SETS), Object.keys(mockSet.migrations).map((name) => `mock_switch/${name}`));
        assert.equal((await mock.selectFrom('mock_switch_port').selectAll().execute()).length, 1);
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
