/**
 * What a disk is and who may see or change it (docs/images.md "Disks"): a
 * project's members and admins see and change its disks; anyone else is
 * answered as if the disk did not exist. Names follow the image rule.
 */
import { BlockedError, NotFoundError } from '../errors.ts';
import type { Tx } from '../core/context.ts';
import { held, type Lock } from '../core/lookup.ts';
import { hasProjectAccess, type Principal } from '../core/principal.ts';
import type { DiskRow } from '../store/schema.ts';

export const diskNotFound = (name: string) => new NotFoundError(`Disk "${name}" does not exist.`);

export interface ExportView {
  protocol: 'nbd' | 'iscsi';
  /** What the serving process last said: starting, serving or failed. */
  state: string;
  error: string | null;
  /** Where the node connects: the export address (on the provisioning network) and port. */
  host: string;
  port: number;
  /** The NBD export name, or the iSCSI target's name (LUN 1). */
  name: string;
  /** The node's TLS-PSK identity, or its CHAP user (the key is given once, by attach). */
  identity: string;
  /** iSCSI: the initiator name the target admits (the node's). */
  initiator: string | null;
}

export interface DiskView {
  name: string;
  project: string;
  /** The image whose base the disk sits on (after a local snapshot: that snapshot). */
  image: string;
  /** Bytes, as the node sees it. */
  size: number;
  state: 'creating' | 'ready';
  /** The node using it, which it is exported to. */
  node: string | null;
  export: ExportView | null;
}

/** What attach answers: the export, and the node's key (only here, once per attach). */
export interface AttachView extends ExportView {
  /** The TLS-PSK key, 64 hex digits (the node's `keys.psk` line is `identity:key`), or the CHAP secret, 16 characters. */
  key: string;
}

export interface AttachOptions {
  /** nbd (the default): TLS-PSK; iscsi: CHAP, for initiators that boot from iSCSI (iPXE sanboot). */
  protocol?: string;
  /** iscsi: the node's initiator name (iqn.…), the only one its target admits. */
  initiator?: string;
}

/** The disk if the caller may see (and so change) it; otherwise it does not exist. */
export async function visibleDisk(tx: Tx, p: Principal, name: string, lock?: Lock): Promise<DiskRow> {
  const row = await held(tx, tx.selectFrom('disk').selectAll().where('label', '=', name), lock).executeTakeFirst();
  if (!row || !hasProjectAccess(p, row.project_id)) throw diskNotFound(name);
  return row;
}

/** A disk that a snapshot still depends on cannot go: says which and how far its separation is. */
export async function snapshotsDependingOn(tx: Tx, disk: DiskRow): Promise<BlockedError | undefined> {
  const rows = await tx.selectFrom('image').select(['label', 'state', 'progress']).where('source_disk_id', '=', disk.id).orderBy('label').execute();
  if (!rows.length) return undefined;
  const what = rows.map((r) => (r.state === 'pending' ? `${r.label} (being taken)` : `${r.label} (separating: ${Math.round(Number(r.progress ?? 0) * 100)} %)`));
  return new BlockedError(`Disk "${disk.label}" has snapshots that still depend on it: ${what.join(', ')}; try again when they are done.`);
}
