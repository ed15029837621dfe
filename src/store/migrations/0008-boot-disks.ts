/**
 * Nodes that boot from a disk (docs/images.md "Booting a node from its
 * disk"). Each project with such nodes has one boot network: an admin-owned
 * HIL network only that project may use, on which the storage host has an
 * address from the project's own subnet and serves the project's boot
 * exports, DHCP and iPXE scripts. `node_boot` says which disk a node boots
 * from and through which of its NICs.
 *
 * `disk.export_address` is where a disk's export listens and what nodes are
 * told: null for `[exports] address`, the boot network's address for a boot
 * disk.
 */
import { sql } from 'kysely';
import type { AnyDb } from './any-db.ts';
import type { DbKind } from '../db.ts';

export async function up(db: AnyDb, kind: DbKind): Promise<void> {
  const id = kind === 'postgres' ? 'bigserial' : 'integer';
  await db.schema.alterTable('disk').addColumn('export_address', 'text').execute();

  await db.schema
    .createTable('boot_network')
    .addColumn('id', id, (c) => (kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('project_id', 'bigint', (c) => c.notNull().unique().references('project.id'))
    .addColumn('network_id', 'bigint', (c) => c.notNull().unique().references('network.id'))
    // Which /24 of `[exports.boot] subnets` is this project's: 0 is the first.
    .addColumn('subnet', 'integer', (c) => c.notNull().unique().check(sql`subnet >= 0`))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('node_boot')
    .addColumn('node_id', 'bigint', (c) => c.primaryKey().references('node.id'))
    .addColumn('disk_id', 'bigint', (c) => c.notNull().unique().references('disk.id'))
    .addColumn('nic_id', 'bigint', (c) => c.notNull().unique().references('nic.id'))
    .addColumn('boot_network_id', 'bigint', (c) => c.notNull().references('boot_network.id'))
    // The node's address on the boot network: its static DHCP lease, and what a kexec deploy configures.
    .addColumn('host', 'integer', (c) => c.notNull().check(sql`host between 2 and 254`))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('node_boot_network_host_idx').on('node_boot').columns(['boot_network_id', 'host']).unique().execute();
}
