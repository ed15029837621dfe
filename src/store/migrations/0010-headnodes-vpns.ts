/**
 * Headnodes and VPNs (docs/headnodes.md): a tenant's own VMs and WireGuard
 * peers on its project's networks.
 *
 * `headnode.power` is what the tenant asked for ('on' after start, 'off'
 * after stop); `state` is what the process running it last saw, written
 * only under the headnode's claim. `started` replaces upstream's `dirty`:
 * it only says whether the VM was ever created (its overlay disk exists),
 * since here a stopped headnode may be changed and started again.
 * An hnic's `mac` is fixed at its creation, so the headnode's interfaces
 * keep their names and DHCP leases across restarts.
 *
 * `vpn_network` is a network's WireGuard endpoint (one interface per
 * network, in its own namespace): its slot (transit and tunnel addresses,
 * listen port) and its server key; `vpn` rows are its peers.
 */
import { sql } from 'kysely';
import type { AnyDb } from './any-db.ts';
import type { DbKind } from '../db.ts';

export async function up(db: AnyDb, kind: DbKind): Promise<void> {
  const id = kind === 'postgres' ? 'bigserial' : 'integer';
  const bool = kind === 'postgres' ? 'boolean' : 'integer';
  const no = kind === 'postgres' ? sql`false` : 0;

  await db.schema
    .createTable('headnode')
    .addColumn('id', id, (c) => (kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('label', 'text', (c) => c.notNull().unique())
    .addColumn('project_id', 'bigint', (c) => c.notNull().references('project.id'))
    .addColumn('base_img', 'text', (c) => c.notNull())
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    .addColumn('ssh_keys', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('power', 'text', (c) => c.notNull().defaultTo('off').check(sql`power in ('on', 'off')`))
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('stopped').check(sql`state in ('stopped', 'starting', 'running', 'failed')`))
    .addColumn('error', 'text')
    .addColumn('started', bool, (c) => c.notNull().defaultTo(no))
    // Bumped by power_cycle: the holder resets the VM when it differs from the one it last acted on.
    .addColumn('resets', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('hnic')
    .addColumn('id', id, (c) => (kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('headnode_id', 'bigint', (c) => c.notNull().references('headnode.id'))
    .addColumn('network_id', 'bigint', (c) => c.references('network.id'))
    .addColumn('mac', 'text', (c) => c.notNull().unique())
    .addColumn('address', 'text')
    .execute();
  await db.schema.createIndex('hnic_headnode_label_idx').on('hnic').columns(['headnode_id', 'label']).unique().execute();
  await db.schema.createIndex('hnic_network_idx').on('hnic').column('network_id').execute();

  await db.schema
    .createTable('vpn_network')
    .addColumn('network_id', 'bigint', (c) => c.primaryKey().references('network.id'))
    .addColumn('slot', 'integer', (c) => c.notNull().unique().check(sql`slot >= 0`))
    .addColumn('lan_address', 'text', (c) => c.notNull())
    .addColumn('private_key', 'text', (c) => c.notNull())
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('vpn')
    .addColumn('id', id, (c) => (kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('label', 'text', (c) => c.notNull().unique())
    .addColumn('network_id', 'bigint', (c) => c.notNull().references('vpn_network.network_id'))
    .addColumn('project_id', 'bigint', (c) => c.notNull().references('project.id'))
    .addColumn('public_key', 'text', (c) => c.notNull().unique())
    // The peer's tunnel address: host number within its network's tunnel /24.
    .addColumn('host', 'integer', (c) => c.notNull().check(sql`host between 2 and 254`))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('vpn_network_host_idx').on('vpn').columns(['network_id', 'host']).unique().execute();
}
