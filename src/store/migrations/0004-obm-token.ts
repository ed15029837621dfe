/**
 * The credential a delegating BMC type hands out (obmd's node token) is the
 * node's OBM token, whichever service issues it.
 */
import type { AnyDb } from './any-db.ts';
import type { DbKind } from '../db.ts';

export async function up(db: AnyDb, _kind: DbKind): Promise<void> {
  await db.schema.alterTable('node').renameColumn('obmd_node_token', 'obm_token').execute();
}
