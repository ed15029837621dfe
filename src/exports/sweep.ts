/**
 * Storage that nothing names any more: a base or disk whose row is gone (a
 * process died between deleting the row and the storage), or a disk row
 * left 'creating' by a process that died mid-clone. Keys carry ids, so what
 * to remove is decided by the id alone: a key whose row exists is never
 * touched, whatever it is doing.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { DiskStorage } from '../images/disk-storage.ts';
import type { Database } from '../store/schema.ts';

const KEY_ID = /\.(img|disk)\.([0-9]+)(?:-[0-9a-f]+)?$/;

export async function sweepOrphans(db: Kysely<Database>, storage: DiskStorage, log: Logger): Promise<{ images: string[]; disks: string[] }> {
  const removed = { images: [] as string[], disks: [] as string[] };
  // A clone that takes longer than twice the storage timeout has failed, and its process with it.
  const stale = await db
    .selectFrom('disk')
    .select(['id', 'storage_key'])
    .where('state', '=', 'creating')
    .where('created_at', '<', Date.now() - 2 * storage.timeoutMs)
    .execute();
  for (const d of stale) {
    await storage.run('remove a clone left half-made', (signal) => storage.backend.deleteDisk(d.storage_key, signal));
    await db.deleteFrom('disk').where('id', '=', d.id).where('state', '=', 'creating').execute();
    removed.disks.push(d.storage_key);
  }
  const held = await storage.run('list what the storage holds', (signal) => storage.backend.list(`${storage.prefix}.`, signal));
  const ids = async (table: 'image' | 'disk') => new Set((await db.selectFrom(table).select('id').execute()).map((r) => Number(r.id)));
  const orphans = (keys: string[], live: Set<number>) =>
    keys.filter((key) => {
      const id = KEY_ID.exec(key)?.[2];
      return id !== undefined && !live.has(Number(id));
    });
  // Disks first: an orphaned base still has its orphaned clones until they go.
  for (const key of orphans(held.disks, await ids('disk'))) {
    if (await attempt(log, key, () => storage.run('remove an orphaned disk', (signal) => storage.backend.deleteDisk(key, signal)))) removed.disks.push(key);
  }
  for (const key of orphans(held.images, await ids('image'))) {
    if (await attempt(log, key, () => storage.run('remove an orphaned image base', (signal) => storage.backend.deleteImage(key, signal)))) removed.images.push(key);
  }
  if (removed.images.length || removed.disks.length) log.info(removed, 'storage: removed what nothing names');
  return removed;
}

/** One removal; a failure is logged and the sweep goes on (the next sweep tries again). */
async function attempt(log: Logger, key: string, remove: () => Promise<void>): Promise<boolean> {
  try {
    await remove();
    return true;
  } catch (err) {
    log.warn({ key, err: (err as Error).message }, 'storage: could not remove an orphan');
    return false;
  }
}
