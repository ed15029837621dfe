/**
 * The image registry (docs/images.md): one row per image, its files named by
 * their SHA-256 in the blob store. A part's hash and size are set together or
 * not at all, and a hash is 64 lowercase hex digits. Later kinds of images
 * (disk images, copy-on-write clones) add columns such as `format` and
 * `parent_id` (→ image.id) in a later migration; the blobs stay as they are.
 */
import { sql } from 'kysely';
import type { AnyDb } from './any-db.ts';
import type { DbKind } from '../db.ts';

export const IMAGE_PARTS = ['kernel', 'initrd', 'rootfs'] as const;

export async function up(db: AnyDb, kind: DbKind): Promise<void> {
  const isHex = (col: string) =>
    kind === 'postgres' ? sql.raw(`${col} ~ '^[0-9a-f]{64}$'`) : sql.raw(`length(${col}) = 64 and ${col} not glob '*[^0-9a-f]*'`);
  let table = db.schema
    .createTable('image')
    .addColumn('id', kind === 'postgres' ? 'bigserial' : 'integer', (c) => (kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('label', 'text', (c) => c.notNull().unique().check(sql`length(label) between 1 and 64`))
    // null: owned by the admins.
    .addColumn('project_id', 'bigint', (c) => c.references('project.id'))
    .addColumn('public', kind === 'postgres' ? 'boolean' : 'integer', (c) => c.notNull().defaultTo(kind === 'postgres' ? sql`false` : 0))
    .addColumn('cmdline', 'text', (c) => c.notNull().defaultTo('').check(sql`length(cmdline) <= 4096`))
    .addColumn('created_at', 'bigint', (c) => c.notNull());
  for (const part of IMAGE_PARTS) {
    table = table
      .addColumn(`${part}_sha256`, 'text', (c) => c.check(sql`${sql.ref(`${part}_sha256`)} is null or (${isHex(`${part}_sha256`)})`))
      .addColumn(`${part}_size`, 'bigint', (c) => c.check(sql`${sql.ref(`${part}_size`)} >= 0`))
      .addCheckConstraint(`image_${part}_ck`, sql.raw(`(${part}_sha256 is null) = (${part}_size is null)`));
  }
  await table.execute();
  await db.schema.createIndex('image_project_idx').on('image').column('project_id').execute();
}
