/**
 * Which HIL project a Keystone project is (docs/auth.md, "Keystone"):
 * - "id": the HIL project labelled with the Keystone project's id (upstream);
 * - "name": the one labelled with its name (any domain: with several
 *   domains, use "table");
 * - "table": the row an administrator put in keystone_project
 *   (PUT /v0/auth/keystone/project/<id>), keyed by the Keystone project's id,
 *   which unlike its name cannot be reused by another project. The row goes
 *   with its HIL project.
 *
 * The table is this backend's own, with its own migration set.
 */
import type { Kysely } from 'kysely';
import type { DbKind } from '../../store/db.ts';
import type { AnyDb, MigrationSet } from '../../store/migrate.ts';
import type { Database } from '../../store/schema.ts';

export interface KeystoneProjectTable {
  /** The Keystone project's id. */
  keystone_id: string;
  project_id: number;
}

export type KeystoneProjectTables = { keystone_project: KeystoneProjectTable };

async function up(db: AnyDb, _kind: DbKind): Promise<void> {
  await db.schema
    .createTable('keystone_project')
    .addColumn('keystone_id', 'text', (c) => c.primaryKey())
    .addColumn('project_id', 'bigint', (c) => c.notNull().references('project.id').onDelete('cascade'))
    .execute();
  await db.schema.createIndex('keystone_project_project').on('keystone_project').column('project_id').execute();
}

export const KEYSTONE_PROJECT_MIGRATIONS: MigrationSet = {
  owner: 'keystone_project',
  migrations: { '0001-table': { up } },
};

export const keystoneProjects = (db: Kysely<Database>) => db.withTables<KeystoneProjectTables>();

/** The HIL project's id for a token's project, or null when it is none. */
export async function mappedProjectId(db: Kysely<Database>, mapping: 'id' | 'name' | 'table', project: { id: string; name: string }): Promise<number | null> {
  if (mapping === 'table') {
    const row = await keystoneProjects(db).selectFrom('keystone_project').select('project_id').where('keystone_id', '=', project.id).executeTakeFirst();
    return row ? Number(row.project_id) : null;
  }
  const label = mapping === 'id' ? project.id : project.name;
  const row = await db.selectFrom('project').select('id').where('label', '=', label).executeTakeFirst();
  return row ? row.id : null;
}
