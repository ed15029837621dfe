/**
 * The initial schema. Invariants upstream HIL kept only in Python are real
 * constraints here: (node, nic label), (switch, port label), one nic per port,
 * one networking action per nic, (nic, network) and (nic, channel) per
 * attachment, unique user names.
 */
import { sql } from 'kysely';
import type { AnyDb } from './any-db.ts';
import type { DbKind } from '../db.ts';

/** Column types and the id column, per database. */
function columnsFor(db: AnyDb, kind: DbKind) {
  const idType = kind === 'postgres' ? 'bigserial' : 'integer';
  return {
    id: (t: string) => db.schema.createTable(t).addColumn('id', idType, (c) => (kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey())),
    boolType: kind === 'postgres' ? ('boolean' as const) : ('integer' as const),
    ref: 'bigint' as const,
  };
}

type Columns = ReturnType<typeof columnsFor>;

export async function up(db: AnyDb, kind: DbKind): Promise<void> {
  const cols = columnsFor(db, kind);
  await inventory(db, kind, cols);
  await networking(db, cols);
  await usersAndLeases(db, cols);
}

/** Projects, nodes and their nics and metadata, switches and ports. */
async function inventory(db: AnyDb, kind: DbKind, { id, boolType, ref }: Columns): Promise<void> {
  await id('project').addColumn('label', 'text', (c) => c.notNull().unique()).execute();

  await id('node')
    .addColumn('label', 'text', (c) => c.notNull().unique())
    .addColumn('project_id', ref, (c) => c.references('project.id'))
    .addColumn('obm_type', 'text', (c) => c.notNull())
    .addColumn('obm_params', 'text', (c) => c.notNull())
    .addColumn('obm_enabled', boolType, (c) => c.notNull().defaultTo(kind === 'postgres' ? sql`false` : 0))
    .addColumn('obmd_node_token', 'text')
    .execute();
  await db.schema.createIndex('node_project_idx').on('node').column('project_id').execute();

  await id('switch')
    .addColumn('label', 'text', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('params', 'text', (c) => c.notNull())
    .execute();

  await id('port')
    .addColumn('switch_id', ref, (c) => c.notNull().references('switch.id'))
    .addColumn('label', 'text', (c) => c.notNull())
    .addUniqueConstraint('port_switch_label_uq', ['switch_id', 'label'])
    .execute();

  await id('nic')
    .addColumn('node_id', ref, (c) => c.notNull().references('node.id'))
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('macaddr', 'text')
    .addColumn('port_id', ref, (c) => c.references('port.id').unique())
    .addUniqueConstraint('nic_node_label_uq', ['node_id', 'label'])
    .execute();

  await id('node_metadata')
    .addColumn('node_id', ref, (c) => c.notNull().references('node.id').onDelete('cascade'))
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addUniqueConstraint('node_metadata_node_label_uq', ['node_id', 'label'])
    .execute();
}

/** Networks, who may use them, attachments, and the networking journal. */
async function networking(db: AnyDb, { id, boolType, ref }: Columns): Promise<void> {
  await id('network')
    .addColumn('label', 'text', (c) => c.notNull().unique())
    .addColumn('owner_id', ref, (c) => c.references('project.id'))
    .addColumn('allocated', boolType, (c) => c.notNull())
    .addColumn('network_id', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('network_access')
    .addColumn('network_id', ref, (c) => c.notNull().references('network.id').onDelete('cascade'))
    .addColumn('project_id', ref, (c) => c.notNull().references('project.id'))
    .addPrimaryKeyConstraint('network_access_pk', ['network_id', 'project_id'])
    .execute();

  await id('network_attachment')
    .addColumn('nic_id', ref, (c) => c.notNull().references('nic.id'))
    .addColumn('network_id', ref, (c) => c.notNull().references('network.id'))
    .addColumn('channel', 'text', (c) => c.notNull())
    .addUniqueConstraint('attachment_nic_network_uq', ['nic_id', 'network_id'])
    .addUniqueConstraint('attachment_nic_channel_uq', ['nic_id', 'channel'])
    .execute();
  await db.schema.createIndex('attachment_network_idx').on('network_attachment').column('network_id').execute();

  await id('networking_action')
    .addColumn('uuid', 'text', (c) => c.notNull().unique())
    // One action per nic: a PENDING one blocks new requests, a finished one is replaced.
    .addColumn('nic_id', ref, (c) => c.notNull().references('nic.id').unique())
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('modify_port', 'revert_port')`))
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('new_network_id', ref, (c) => c.references('network.id'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('PENDING', 'DONE', 'ERROR')`))
    .addColumn('error', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('action_status_idx').on('networking_action').columns(['status', 'id']).execute();
}

/** Users and their projects, the VLAN pool, the worker lease. */
async function usersAndLeases(db: AnyDb, { id, boolType, ref }: Columns): Promise<void> {
  await id('user')
    .addColumn('label', 'text', (c) => c.notNull().unique())
    .addColumn('is_admin', boolType, (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('user_project')
    .addColumn('user_id', ref, (c) => c.notNull().references('user.id').onDelete('cascade'))
    .addColumn('project_id', ref, (c) => c.notNull().references('project.id'))
    .addPrimaryKeyConstraint('user_project_pk', ['user_id', 'project_id'])
    .execute();

  await db.schema
    .createTable('vlan')
    .addColumn('vlan_no', 'integer', (c) => c.primaryKey().check(sql`vlan_no between 1 and 4096`))
    .addColumn('available', boolType, (c) => c.notNull())
    .execute();

  // The mock switch's tables are its own (drivers/switch/mock-schema.ts); databases
  // made before that was so have them from here, which is why its migration is idempotent.

  await db.schema
    .createTable('worker_lease')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
}
