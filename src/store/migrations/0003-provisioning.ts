/**
 * Fast provisioning: one row per node that the provisioning service holds
 * (docs/fast-provisioning.md). The state machine's invariants are
 * constraints: a known state, a known path, and a deploying or deployed node
 * names its image (which then cannot be deleted under it).
 */
import { sql } from 'kysely';
import type { AnyDb } from './any-db.ts';
import type { DbKind } from '../db.ts';

export async function up(db: AnyDb, _kind: DbKind): Promise<void> {
  await db.schema
    .createTable('node_provisioning')
    .addColumn('node_id', 'bigint', (c) => c.primaryKey().references('node.id').onDelete('cascade'))
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('booting-fpbl', 'ready', 'deploying', 'deployed', 'reclaiming', 'error')`))
    .addColumn('phase', 'text', (c) => c.notNull())
    // How the node last went back to the FPBL: by kexec from the customer's OS, or by power cycle and PXE.
    .addColumn('path', 'text', (c) => c.check(sql`path in ('kexec', 'power-cycle')`))
    .addColumn('image_id', 'bigint', (c) => c.references('image.id'))
    // JSON {nic: network} the deploy asked for.
    .addColumn('networks', 'text', (c) => c.notNull().defaultTo('{}'))
    // SHA-256 of the FPBL's token and of the customer OS's return token (never the tokens).
    .addColumn('fpbl_token_hash', 'text', (c) => c.unique())
    .addColumn('return_token_hash', 'text', (c) => c.unique())
    .addColumn('ip', 'text')
    .addColumn('boot_id', 'text')
    .addColumn('error', 'text')
    .addColumn('deadline', 'bigint')
    .addColumn('since', 'bigint', (c) => c.notNull())
    .addColumn('operation_started', 'bigint')
    .addColumn('last_seen', 'bigint')
    .addCheckConstraint('provisioning_image_ck', sql`state not in ('deploying', 'deployed') or image_id is not null`)
    .execute();
  await db.schema.createIndex('provisioning_state_idx').on('node_provisioning').columns(['state', 'deadline']).execute();
}
