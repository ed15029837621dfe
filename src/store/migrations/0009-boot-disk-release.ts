/**
 * What becomes of a boot disk when its node stops booting from it, for a
 * release that happens after the request that decided it: the reclaim of a
 * diskless node by kexec asks for it, and the disk is let go only once the
 * node's OS has jumped into the FPBL (src/provisioning/boot-release.ts).
 * true: the disk is deleted then (a deploy's disk, reclaimed without
 * --keep-disk).
 */
import { sql } from 'kysely';
import type { AnyDb } from './any-db.ts';
import type { DbKind } from '../db.ts';

export async function up(db: AnyDb, kind: DbKind): Promise<void> {
  await db.schema
    .alterTable('node_boot')
    .addColumn('delete_on_release', kind === 'postgres' ? 'boolean' : 'integer', (c) => c.notNull().defaultTo(kind === 'postgres' ? sql`false` : 0))
    .execute();
}
