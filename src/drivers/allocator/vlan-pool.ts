/** The `vlan_pool` allocator: IDs are VLAN numbers from a configured pool. */
import { sql } from 'kysely';
import { BlockedError } from '../../errors.ts';
import type { NetworkAllocator } from './interface.ts';
import { parseVlanRanges } from './vlan-ranges.ts';

export function vlanPoolAllocator(spec: string): NetworkAllocator {
  const vlans = parseVlanRanges(spec);

  return {
    extensionName: 'hil.ext.network_allocators.vlan_pool',

    async populate(db) {
      for (let i = 0; i < vlans.length; i += 500) {
        const rows = vlans.slice(i, i + 500).map((vlan_no) => ({ vlan_no, available: true }));
        await db.insertInto('vlan').values(rows).onConflict((oc) => oc.column('vlan_no').doNothing()).execute();
      }
    },

    async allocate(tx) {
      // Lowest free VLAN first, so "vlans = 40-80" hands out 40 first, as upstream.
      // A lost race means another transaction took that VLAN, so each retry
      // sees one fewer candidate: the loop ends when one sticks or none is left.
      for (;;) {
        const candidate = await tx
          .selectFrom('vlan')
          .select('vlan_no')
          .where('available', '=', true)
          .orderBy('vlan_no')
          .limit(1)
          .executeTakeFirst();
        if (!candidate) return null;
        const taken = await tx
          .updateTable('vlan')
          .set({ available: false })
          .where('vlan_no', '=', candidate.vlan_no)
          .where('available', '=', true)
          .executeTakeFirst();
        if (Number(taken.numUpdatedRows) === 1) return String(candidate.vlan_no);
      }
    },

    async free(tx, networkId) {
      await tx.updateTable('vlan').set({ available: true }).where('vlan_no', '=', Number(networkId)).execute();
    },

    isValid(networkId) {
      if (!/^\d+$/.test(networkId)) return false;
      const n = Number(networkId);
      return n >= 1 && n <= 4096;
    },

    async isInPool(tx, networkId) {
      if (!this.isValid(networkId)) return false;
      const row = await tx.selectFrom('vlan').select(sql<number>`1`.as('one')).where('vlan_no', '=', Number(networkId)).executeTakeFirst();
      return row !== undefined;
    },

    async claim(tx, networkId) {
      if (!(await this.isInPool(tx, networkId))) return;
      const r = await tx
        .updateTable('vlan')
        .set({ available: false })
        .where('vlan_no', '=', Number(networkId))
        .where('available', '=', true)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) {
        throw new BlockedError('Network ID is not available. Please choose a different ID.');
      }
    },

    legalChannels(networkId) {
      return ['vlan/native', `vlan/${networkId}`];
    },

    defaultChannel() {
      return 'vlan/native';
    },
  };
}
