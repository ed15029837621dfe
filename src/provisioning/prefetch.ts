/**
 * What an idle FPBL keeps in RAM so that a deploy needs no download: the
 * kernels and initrds of the images its node's project may deploy (its own
 * and the public ones), newest first, up to `[provisioning] prefetch_mib`.
 * A deploy of one of them costs `kexec -l` and nothing else on the node
 * (docs/fast-provisioning.md, "Prefetching").
 *
 * The list is worked out again at every report, from the database: an image
 * deleted, or the node given to another project, drops out of it, and the
 * FPBL is told to forget (and zero) what is no longer on it. A node in no
 * project keeps nothing: nobody could deploy on it.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { AgentCommand } from './machine.ts';

export interface Blob {
  sha256: string;
  size: number;
}

/** The blobs node `nodeId`'s FPBL should hold, at most `budget` bytes of them. */
export async function wantedBlobs(db: Kysely<Database>, nodeId: number, budget: number): Promise<Blob[]> {
  if (budget <= 0) return [];
  const node = await db.selectFrom('node').select('project_id').where('id', '=', nodeId).executeTakeFirst();
  if (!node || node.project_id === null) return [];
  const projectId = node.project_id;
  const images = await db
    .selectFrom('image')
    .select(['kernel_sha256', 'kernel_size', 'initrd_sha256', 'initrd_size', 'project_id', 'public'])
    .where('state', '=', 'ready')
    .where('kernel_sha256', 'is not', null)
    .where('initrd_sha256', 'is not', null)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  const out = new Map<string, Blob>();
  let used = 0;
  for (const image of images.filter((i) => i.project_id === projectId || Boolean(i.public))) {
    // An image goes in whole or not at all: half of one saves no deploy.
    const parts = [
      { sha256: image.kernel_sha256!, size: Number(image.kernel_size ?? 0) },
      { sha256: image.initrd_sha256!, size: Number(image.initrd_size ?? 0) },
    ].filter((b) => !out.has(b.sha256));
    const size = parts.reduce((n, b) => n + b.size, 0);
    if (used + size > budget) continue;
    for (const b of parts) out.set(b.sha256, b);
    used += size;
  }
  return [...out.values()];
}

/** The hashes an FPBL says it holds (`cached=a,b,…`; anything that is not a hash is ignored). */
export function reportedCache(cached: string | undefined): Set<string> {
  return new Set((cached ?? '').split(',').filter((h) => /^[0-9a-f]{64}$/.test(h)));
}

/**
 * The `cache` command that brings an FPBL holding `held` to `wanted`: what
 * to keep (everything else is forgotten) and the next blob to fetch, one per
 * command; null when it holds exactly what it should.
 */
export function cacheCommand(wanted: Blob[], held: Set<string>, blobUrl: (sha256: string) => string): AgentCommand | null {
  const keep = new Set(wanted.map((b) => b.sha256));
  const missing = wanted.find((b) => !held.has(b.sha256));
  const extra = [...held].some((h) => !keep.has(h));
  if (!missing && !extra) return null;
  const command: AgentCommand = { command: 'cache', keep: [...keep].join(',') };
  if (missing) Object.assign(command, { fetch_url: blobUrl(missing.sha256), fetch_sha256: missing.sha256, fetch_size: String(missing.size) });
  return command;
}
