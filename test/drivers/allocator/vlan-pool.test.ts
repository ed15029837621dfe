/**
 * The vlan_pool allocator (spec §9) against a real, migrated database, and the
 * VLAN range parser its configuration goes through.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases, type TestDatabase } from '../../support/databases.ts';
import { openStore, type Store } from '../../../src/store/db.ts';
import { migrate } from '../../../src/store/migrate.ts';
import { vlanPoolAllocator } from '../../../src/drivers/allocator/vlan-pool.ts';
import { parseVlanRanges } from '../../../src/drivers/allocator/vlan-ranges.ts';
import { BlockedError } from '../../../src/errors.ts';

async function withStore(database: TestDatabase, fn: (store: Store) => Promise<void>): Promise<void> {
  const fresh = await database.create();
  const store = openStore(fresh.url);
  try {
    await migrate(store);
    await fn(store);
  } finally {
    await store.close();
    await fresh.drop();
  }
}

/** The vlan table as [vlan_no, available] pairs, in VLAN order. */
async function vlans(store: Store): Promise<Array<[number, boolean]>> {
  const rows = await store.db.selectFrom('vlan').select(['vlan_no', 'available']).orderBy('vlan_no').execute();
  return rows.map((r) => [Number(r.vlan_no), Boolean(r.available)]);
}

const range = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

describe('parseVlanRanges', () => {
  it('expands "14,35-40, 100-900" into the VLANs it names, in order', () => {
    const v = parseVlanRanges('14,35-40, 100-900');
    assert.equal(v.length, 1 + 6 + 801);
    assert.deepEqual(v.slice(0, 8), [14, 35, 36, 37, 38, 39, 40, 100]);
    assert.deepEqual(v.slice(7), range(100, 900));
    assert.deepEqual(parseVlanRanges('7'), [7]);
    assert.deepEqual(parseVlanRanges('1-3,4096'), [1, 2, 3, 4096]);
    assert.deepEqual(parseVlanRanges('40-40'), [40]);
  });

  it('rejects malformed entries and VLANs outside 1-4096', () => {
    for (const bad of ['', 'abc', '0', '4097', '1-4097', '40-30', '10-', '-5', '5,,6', '1.5', '40-x']) {
      assert.throws(() => parseVlanRanges(bad), Error, JSON.stringify(bad));
    }
  });
});

for (const database of testDatabases()) {
  describe(`vlan_pool allocator on ${database.name}`, { skip: database.skip }, () => {
    it('populates one available row per VLAN and is idempotent, keeping taken VLANs taken', () =>
      withStore(database, async (store) => {
        const pool = vlanPoolAllocator('40-45');
        await pool.populate(store.db);
        const once = await vlans(store);
        assert.deepEqual(once, range(40, 45).map((v) => [v, true]));
        await pool.populate(store.db);
        assert.deepEqual(await vlans(store), once);

        assert.equal(await pool.allocate(store.db), '40');
        await pool.populate(store.db);
        assert.deepEqual((await vlans(store))[0], [40, false], 're-populating must not free a taken VLAN');

        // a wider pool adds its new VLANs and leaves the old rows alone
        await vlanPoolAllocator('40-47').populate(store.db);
        assert.deepEqual(await vlans(store), range(40, 47).map((v) => [v, v !== 40]));

        // a large pool (more than one insert batch)
        await vlanPoolAllocator('14,35-40, 100-900').populate(store.db);
        const all = await vlans(store);
        assert.equal(all.length, 1 + 13 + 801, '14, 35-47 and 100-900');
        assert.equal(all.filter(([, a]) => !a).length, 1);
      }));

    it('allocates the lowest free VLAN first, frees, and returns null when exhausted', () =>
      withStore(database, async (store) => {
        const pool = vlanPoolAllocator('50,40-41');
        await pool.populate(store.db);
        assert.equal(await pool.allocate(store.db), '40');
        assert.equal(await pool.allocate(store.db), '41');
        assert.equal(await pool.allocate(store.db), '50');
        assert.equal(await pool.allocate(store.db), null);
        assert.deepEqual(await vlans(store), [[40, false], [41, false], [50, false]]);

        await pool.free(store.db, '41');
        assert.deepEqual(await vlans(store), [[40, false], [41, true], [50, false]]);
        assert.equal(await pool.allocate(store.db), '41');
        await pool.free(store.db, '50');
        await pool.free(store.db, '40');
        assert.equal(await pool.allocate(store.db), '40');
        // freeing a VLAN outside the pool changes nothing
        await pool.free(store.db, '3000');
        assert.deepEqual(await vlans(store), [[40, false], [41, false], [50, true]]);
      }));

    it('undoes an allocation made in a transaction that rolls back', () =>
      withStore(database, async (store) => {
        const pool = vlanPoolAllocator('40-41');
        await pool.populate(store.db);
        await assert.rejects(
          store.db.transaction().execute(async (tx) => {
            assert.equal(await pool.allocate(tx), '40');
            throw new Error('request failed');
          }),
          /request failed/,
        );
        assert.deepEqual(await vlans(store), [[40, true], [41, true]]);
        assert.equal(await pool.allocate(store.db), '40');
      }));

    it('claims: outside the pool is a no-op, available becomes taken, taken is BlockedError', () =>
      withStore(database, async (store) => {
        const pool = vlanPoolAllocator('40-45');
        await pool.populate(store.db);
        await pool.claim(store.db, '3000');
        await pool.claim(store.db, '3000');
        assert.equal((await vlans(store)).length, 6, 'claiming outside the pool adds no row');
        assert.ok((await vlans(store)).every(([, a]) => a));

        await pool.claim(store.db, '43');
        assert.deepEqual((await vlans(store)).find(([v]) => v === 43), [43, false]);
        await assert.rejects(pool.claim(store.db, '43'), (err: unknown) => {
          assert.ok(err instanceof BlockedError);
          assert.equal(err.type, 'BlockedError');
          assert.match(err.message, /not available/);
          return true;
        });

        // the allocator skips a claimed VLAN
        await pool.claim(store.db, '40');
        assert.equal(await pool.allocate(store.db), '41');
        // an allocated VLAN cannot be claimed either
        await assert.rejects(pool.claim(store.db, '41'), BlockedError);
        // once freed it can be claimed again
        await pool.free(store.db, '43');
        await pool.claim(store.db, '43');
        assert.deepEqual(await vlans(store), [[40, false], [41, false], [42, true], [43, false], [44, true], [45, true]]);
      }));

    it('validates IDs, knows which are in the pool, and offers native plus tagged channels', () =>
      withStore(database, async (store) => {
        const pool = vlanPoolAllocator('40-45');
        await pool.populate(store.db);
        for (const ok of ['1', '40', '3000', '4096']) assert.equal(pool.isValid(ok), true, ok);
        for (const bad of ['yes', '5023', '-2', '0', '4097', '', '1.5', 'vlan/40']) assert.equal(pool.isValid(bad), false, bad);
        assert.equal(await pool.isInPool(store.db, '40'), true);
        assert.equal(await pool.isInPool(store.db, '45'), true);
        assert.equal(await pool.isInPool(store.db, '46'), false);
        assert.equal(await pool.isInPool(store.db, '3000'), false);
        assert.equal(await pool.isInPool(store.db, 'yes'), false);
        // being taken does not take a VLAN out of the pool
        await pool.claim(store.db, '42');
        assert.equal(await pool.isInPool(store.db, '42'), true);
        assert.deepEqual(pool.legalChannels('42'), ['vlan/native', 'vlan/42']);
        assert.equal(pool.defaultChannel(), 'vlan/native');
      }));
  });
}
