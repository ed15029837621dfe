/**
 * Per-project limits (`[quotas]`, docs/operations.md): one tenant must not
 * take every VLAN or node from the others. Checked with the project's row
 * locked (getProject(…, 'update')), so that concurrent requests of one
 * project are counted one after the other.
 */
import { BlockedError } from '../errors.ts';
import type { CoreDeps, Tx } from './context.ts';

type Counted = 'networks' | 'nodes';

const LIMIT_KEY: Record<Counted, 'networksPerProject' | 'nodesPerProject'> = { networks: 'networksPerProject', nodes: 'nodesPerProject' };
const CONFIG_KEY: Record<Counted, string> = { networks: 'quotas.networks_per_project', nodes: 'quotas.nodes_per_project' };

async function held(tx: Tx, what: Counted, projectId: number): Promise<number> {
  const row =
    what === 'networks'
      ? await tx.selectFrom('network').select((eb) => eb.fn.countAll<number>().as('n')).where('owner_id', '=', projectId).executeTakeFirstOrThrow()
      : await tx.selectFrom('node').select((eb) => eb.fn.countAll<number>().as('n')).where('project_id', '=', projectId).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Throws BlockedError (409) naming the limit when the project has no room for one more. */
export async function requireRoom(tx: Tx, deps: Pick<CoreDeps, 'quotas'>, what: Counted, project: { id: number; label: string }): Promise<void> {
  const limit = deps.quotas[LIMIT_KEY[what]];
  if (limit === undefined) return;
  const n = await held(tx, what, project.id);
  if (n >= limit) throw new BlockedError(`Project "${project.label}" has ${n} ${what}, its limit (${CONFIG_KEY[what]} = ${limit}).`);
}
