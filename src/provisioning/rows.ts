/**
 * The `node_provisioning` queries that the service, the agent protocol and
 * the tick share. A transition is one conditional UPDATE on the (state,
 * phase) it leaves, so a repeated report, a retried request or a second
 * server process never applies one twice: whoever comes second moves nothing.
 */
import type { Logger } from 'pino';
import type { Tx } from '../core/context.ts';
import { NotFoundError, ServerError } from '../errors.ts';
import type { ProvisioningRow } from '../store/schema.ts';
import { isPosition, type Change, type Position } from './machine.ts';
import { hashToken } from './tokens.ts';

export function rowOfNode(db: Tx, nodeId: number): Promise<ProvisioningRow | undefined> {
  return db.selectFrom('node_provisioning').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
}

/** The row whose FPBL (`kind` "fpbl") or customer OS (`kind` "return") holds `token`. */
export async function rowByToken(db: Tx, token: string): Promise<{ row: ProvisioningRow; kind: 'fpbl' | 'return' } | null> {
  const h = hashToken(token);
  const row = await db.selectFrom('node_provisioning').selectAll().where((eb) => eb.or([eb('fpbl_token_hash', '=', h), eb('return_token_hash', '=', h)])).executeTakeFirst();
  if (!row) return null;
  return { row, kind: row.fpbl_token_hash === h ? 'fpbl' : 'return' };
}

/** Moves a row from (state, phase) to `to`; false if it was not there any more. */
export async function transition(tx: Tx, log: Logger, row: Pick<ProvisioningRow, 'node_id'> & Position, to: Change): Promise<boolean> {
  if (!isPosition(to)) throw new ServerError(`${to.state} has no phase ${to.phase}`); // a bug here, not bad input
  const r = await tx
    .updateTable('node_provisioning')
    .set({ ...to, since: Date.now() })
    .where('node_id', '=', row.node_id)
    .where('state', '=', row.state)
    .where('phase', '=', row.phase)
    .executeTakeFirst();
  const moved = Number(r.numUpdatedRows) === 1;
  if (moved) log.info({ node: row.node_id, from: `${row.state}/${row.phase}`, to: `${to.state}/${to.phase}`, error: to.error ?? undefined }, 'provisioning state');
  return moved;
}

/** The first row of a node the service takes over. */
export async function insertRow(tx: Tx, nodeId: number, first: Change): Promise<void> {
  await tx.insertInto('node_provisioning').values({ node_id: nodeId, since: Date.now(), ...first }).execute();
}

export async function provisioningNetworkId(tx: Tx, label: string): Promise<number> {
  const net = await tx.selectFrom('network').select('id').where('label', '=', label).executeTakeFirst();
  if (!net) throw new NotFoundError(`the provisioning network "${label}" does not exist`);
  return net.id;
}
