/**
 * Disk images, disks and snapshots (docs/images.md). An image gains a format
 * ('kexec' for the kernel/initrd/rootfs images of 0002) and, for disk
 * images, a `disk` part in the blob store and a base in the storage backend
 * (`storage_key`). A disk is a copy-on-write clone of an image, owned by a
 * project, used by at most one node, exported to that node while attached.
 *
 * What depends on what is a foreign key, so the database refuses to delete
 * what something still needs: a disk needs the image it sits on
 * (`disk.image_id`), a snapshot the image under it (`image.parent_id`) and,
 * while it is taken or not yet separated from it, the disk it came from
 * (`image.source_disk_id`).
 *
 * `hil_instance` holds facts about this HIL installation: the prefix of
 * every name it uses in a storage backend, random, so two HILs can share a
 * pool without their ids colliding.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { AnyDb } from './any-db.ts';
import type { DbKind } from '../db.ts';

export async function up(db: AnyDb, kind: DbKind): Promise<void> {
  const id = kind === 'postgres' ? 'bigserial' : 'integer';
  const isHex = kind === 'postgres' ? sql.raw(`disk_sha256 ~ '^[0-9a-f]{64}$'`) : sql.raw(`length(disk_sha256) = 64 and disk_sha256 not glob '*[^0-9a-f]*'`);

  await db.schema
    .createTable('hil_instance')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
  await db.insertInto('hil_instance').values({ key: 'storage_prefix', value: `hil-${randomBytes(4).toString('hex')}` }).execute();

  await db.schema
    .createTable('disk')
    .addColumn('id', id, (c) => (kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('label', 'text', (c) => c.notNull().unique().check(sql`length(label) between 1 and 64`))
    .addColumn('project_id', 'bigint', (c) => c.notNull().references('project.id'))
    // The image whose base this disk sits on (after a local snapshot: the snapshot).
    .addColumn('image_id', 'bigint', (c) => c.notNull().references('image.id'))
    .addColumn('storage_key', 'text', (c) => c.notNull().unique())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('creating', 'ready')`))
    .addColumn('virtual_size', 'bigint', (c) => c.notNull().check(sql`virtual_size >= 0`))
    // The node using it; while set, the disk is exported to that node.
    .addColumn('node_id', 'bigint', (c) => c.references('node.id'))
    // How the disk is served to its node: NBD with TLS-PSK, or iSCSI with CHAP (then also the node's initiator name).
    .addColumn('export_protocol', 'text', (c) => c.check(sql`export_protocol in ('nbd', 'iscsi')`))
    .addColumn('export_initiator', 'text')
    // The export's port, the node's identity (TLS-PSK identity or CHAP user) and key (hex): set together with node_id.
    .addColumn('export_port', 'integer', (c) => c.unique())
    .addColumn('export_identity', 'text')
    .addColumn('export_psk', 'text')
    // What the process serving the export last said: starting, serving or failed (and why).
    .addColumn('export_state', 'text', (c) => c.check(sql`export_state in ('starting', 'serving', 'failed')`))
    .addColumn('export_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addCheckConstraint(
      'disk_export_ck',
      sql`(node_id is null) = (export_port is null) and (node_id is null) = (export_psk is null) and (node_id is null) = (export_identity is null) and (node_id is null) = (export_protocol is null) and (export_protocol = 'iscsi') = (export_initiator is not null)`,
    )
    .execute();
  await db.schema.createIndex('disk_project_idx').on('disk').column('project_id').execute();
  await db.schema.createIndex('disk_node_idx').on('disk').column('node_id').execute();

  // SQLite cannot add a column with a table constraint: each rule is a column check.
  await db.schema
    .alterTable('image')
    .addColumn('format', 'text', (c) => c.notNull().defaultTo('kexec').check(sql`format in ('kexec', 'qcow2', 'raw')`))
    .execute();
  await db.schema.alterTable('image').addColumn('disk_sha256', 'text', (c) => c.check(sql`disk_sha256 is null or (${isHex})`)).execute();
  await db.schema.alterTable('image').addColumn('disk_size', 'bigint', (c) => c.check(sql`disk_size >= 0`)).execute();
  // The disk's size as a node sees it (qcow2: its virtual size).
  await db.schema.alterTable('image').addColumn('virtual_size', 'bigint', (c) => c.check(sql`virtual_size >= 0`)).execute();
  // The base in the storage backend, once it is there.
  await db.schema.alterTable('image').addColumn('storage_key', 'text').execute();
  // 'pending': a snapshot asked for and not yet taken (while a try fails, error says why).
  await db.schema
    .alterTable('image')
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('ready').check(sql`state in ('pending', 'ready')`))
    .execute();
  await db.schema.alterTable('image').addColumn('error', 'text').execute();
  // A snapshot's separation from its disk, 0 to 1 (RBD's background flatten).
  await db.schema.alterTable('image').addColumn('progress', 'real').execute();
  await db.schema.alterTable('image').addColumn('parent_id', 'bigint', (c) => c.references('image.id')).execute();
  await db.schema.alterTable('image').addColumn('source_disk_id', 'bigint', (c) => c.references('disk.id')).execute();
  await db.schema.createIndex('image_storage_key_idx').on('image').column('storage_key').unique().execute();
  await db.schema.createIndex('image_parent_idx').on('image').column('parent_id').execute();
  await db.schema.createIndex('image_source_disk_idx').on('image').column('source_disk_id').execute();
}
