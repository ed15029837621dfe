/**
 * Letting a node's boot disk go when the node stops booting from it: at the
 * reclaim itself when it goes by power cycle, or, for a diskless node
 * reclaimed by kexec, only once its OS has jumped into the FPBL (its root
 * filesystem is that disk until then) or has not come back in time
 * (agent-protocol.ts, tick.ts). The NIC stays where it is: the provisioning
 * service moves it. A deploy's disk is then deleted unless the reclaim said
 * --keep-disk (`node_boot.delete_on_release` carries that from the request
 * to the release).
 */
import { admin, type Principal } from '../core/principal.ts';
import type { Tx } from '../core/context.ts';
import { BlockedError } from '../errors.ts';
import type { ProvisioningContext } from './context.ts';

export interface Released {
  disk: string;
  /** Delete it once its export has stopped. */
  deleteIt: boolean;
}

/** In `tx`: the node boots from no disk any more; null when it did not. `deleteIt`: the reclaim's word, else the one it left on the row. */
export async function releaseBootDisk(ctx: ProvisioningContext, tx: Tx, nodeId: number, deleteIt?: boolean): Promise<Released | null> {
  const row = await tx.selectFrom('node_boot').select('delete_on_release').where('node_id', '=', nodeId).executeTakeFirst();
  const disk = await ctx.diskless.bootDisks.releaseInTx(tx, nodeId);
  return disk === null ? null : { disk, deleteIt: deleteIt ?? Boolean(row?.delete_on_release) };
}

/** After the commit of a release: the exports and boot networks told, the disk deleted if asked (as `p`, or as HIL itself). */
export function afterRelease(ctx: ProvisioningContext, released: Released, p: Principal = admin('hil-provisioning')): void {
  ctx.diskless.bootDisks.changed();
  if (released.deleteIt) void deleteWhenFree(ctx, p, released.disk);
}

/**
 * Deletes a deploy's disk once its export has stopped: the process serving it
 * lets it go within a heartbeat or two, and until then the delete is refused
 * as "still being worked on". Gives up (the disk stays, the tenant's to
 * delete) after DELETE_WAIT_MS or on any other refusal, and says so in the log.
 */
async function deleteWhenFree(ctx: ProvisioningContext, p: Principal, disk: string): Promise<void> {
  const deadline = Date.now() + DELETE_WAIT_MS;
  for (;;) {
    try {
      await ctx.diskless.disks.delete(p, disk);
      ctx.log.info({ disk }, 'provisioning: deleted the disk of a reclaimed node');
      return;
    } catch (err) {
      const busy = err instanceof BlockedError && /still being worked on/.test(err.message);
      if (!busy || Date.now() > deadline) {
        ctx.log.warn({ disk, err: (err as Error).message }, 'provisioning: could not delete the disk of a reclaimed node; it stays');
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const DELETE_WAIT_MS = 30_000;
