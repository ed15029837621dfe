/**
 * The free list (`GET /v0/nodes/free`: `where project_id is null order by
 * label`) read from an index of exactly its rows, in its order, holding every
 * column the query touches: no visit of the allocated nodes, no sort, no
 * table lookups (an index-only scan on PostgreSQL, a covering index on
 * SQLite). The project index keeps only allocated nodes, which is all the
 * project queries (`project_id = ?`) read; otherwise SQLite, which hil
 * never ANALYZEs, kept answering the free list from it and sorting.
 * Measured with 10,000 nodes: docs/benchmarks.md, "Scale: 10,000 nodes".
 */
import { sql } from 'kysely';
import type { AnyDb } from './any-db.ts';
import type { DbKind } from '../db.ts';

export async function up(db: AnyDb, _kind: DbKind): Promise<void> {
  await db.schema.createIndex('node_free_label_idx').on('node').columns(['label', 'project_id']).where(sql<boolean>`project_id is null`).execute();
  await db.schema.dropIndex('node_project_idx').execute();
  await db.schema.createIndex('node_project_idx').on('node').column('project_id').where(sql<boolean>`project_id is not null`).execute();
}
