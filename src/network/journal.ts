/**
 * The worker's side of the networking journal (spec §8): which switches have
 * PENDING actions, a switch's queue in order, actions that can never run,
 * and recording outcomes. Every outcome is written once: the status guard
 * makes a repeat (after a crash) a no-op, and DONE changes the attachments
 * in the same transaction.
 */
import type { Kysely } from 'kysely';
import type { PortChange } from '../drivers/switch/interface.ts';
import type { Database } from '../store/schema.ts';
import { limitIdleInTransaction } from '../store/db.ts';
import { heldBy, type Claim } from '../claims/claims.ts';
import { observeActionFinished } from '../metrics/process.ts';

type Db = Kysely<Database>;

export interface PendingAction {
  id: number;
  uuid: string;
  nic_id: number;
  type: 'modify_port' | 'revert_port';
  channel: string;
  new_network_id: number | null;
  network_id: string | null;
  port: string;
  /** Epoch ms: when the API queued it (the queue-time metric). */
  created_at: number;
}

export type Outcome = { ok: true; attempts: number } | { ok: false; attempts: number; error: string };
export type Result = { action: PendingAction; outcome: Outcome };

/** Actions whose nic lost its port can never run: they end ERROR now, not never. */
export async function failOrphans(db: Db): Promise<void> {
  const orphans = await db
    .selectFrom('networking_action')
    .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
    .select('networking_action.id')
    .where('networking_action.status', '=', 'PENDING')
    .where('nic.port_id', 'is', null)
    .execute();
  if (orphans.length === 0) return;
  await db
    .updateTable('networking_action')
    .set({ status: 'ERROR', error: 'The nic is not connected to a switch port.', finished_at: Date.now() })
    .where('id', 'in', orphans.map((o) => o.id))
    .where('status', '=', 'PENDING')
    .execute();
}

/** Switches with PENDING actions. */
export async function switchesWithWork(db: Db): Promise<number[]> {
  const rows = await db
    .selectFrom('networking_action')
    .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
    .innerJoin('port', 'port.id', 'nic.port_id')
    .select('port.switch_id')
    .distinct()
    .where('networking_action.status', '=', 'PENDING')
    .execute();
  return rows.map((r) => r.switch_id);
}

/** A switch's queue, oldest first (at most 200 at a time). */
export async function pendingFor(db: Db, switchId: number): Promise<PendingAction[]> {
  return (await db
    .selectFrom('networking_action')
    .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
    .innerJoin('port', 'port.id', 'nic.port_id')
    .leftJoin('network', 'network.id', 'networking_action.new_network_id')
    .select([
      'networking_action.id',
      'networking_action.uuid',
      'networking_action.nic_id',
      'networking_action.type',
      'networking_action.channel',
      'networking_action.new_network_id',
      'network.network_id',
      'port.label as port',
      'networking_action.created_at',
    ])
    .where('networking_action.status', '=', 'PENDING')
    .where('port.switch_id', '=', switchId)
    .orderBy('networking_action.id')
    .limit(200)
    .execute()) as PendingAction[];
}

/**
 * Records outcomes in one transaction, each exactly once, and only while
 * `claim` on their switch is still this worker's: a holder that lost it
 * records nothing (the next holder repeats the idempotent calls). A worker
 * paused inside the transaction for `idleLimitMs` (the claims' TTL) loses
 * it, instead of holding the action's row locks against the next holder
 * until it resumes.
 */
export async function recordOutcomes(db: Db, results: Result[], claim: Claim, idleLimitMs: number): Promise<void> {
  if (results.length === 0) return;
  const finished: number[] = [];
  await db.transaction().execute(async (tx) => {
    await limitIdleInTransaction(tx, idleLimitMs);
    for (const { action, outcome } of results) {
      const done = await tx
        .updateTable('networking_action')
        .set({ status: outcome.ok ? 'DONE' : 'ERROR', error: outcome.ok ? null : outcome.error, attempts: outcome.attempts, finished_at: Date.now() })
        .where('id', '=', action.id)
        .where('status', '=', 'PENDING')
        .where(heldBy(claim))
        .executeTakeFirst();
      if (Number(done.numUpdatedRows) !== 1) continue;
      finished.push((Date.now() - Number(action.created_at)) / 1000);
      if (!outcome.ok) continue;
      if (action.type === 'revert_port') {
        await tx.deleteFrom('network_attachment').where('nic_id', '=', action.nic_id).execute();
      } else if (action.new_network_id === null) {
        await tx.deleteFrom('network_attachment').where('nic_id', '=', action.nic_id).where('channel', '=', action.channel).execute();
      } else {
        await tx.insertInto('network_attachment').values({ nic_id: action.nic_id, network_id: action.new_network_id, channel: action.channel }).execute();
      }
    }
  });
  for (const seconds of finished) observeActionFinished(seconds); // committed: counted once
}

export function toChange(a: PendingAction): PortChange {
  if (a.type === 'revert_port') return { op: 'revert', port: a.port };
  return { op: 'modify', port: a.port, channel: a.channel, networkId: a.new_network_id === null ? null : a.network_id };
}

