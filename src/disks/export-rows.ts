/**
 * A disk's export columns: what they say to its project (exportView), what
 * they hold while a node uses the disk (exportFields) and while none does
 * (NO_EXPORT). Shared by attach (disk.service.ts) and a node's boot disk
 * (boot-disk.service.ts), which export the same way to different addresses.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { AllocationError, BlockedError } from '../errors.ts';
import type { Tx } from '../core/context.ts';
import type { DiskRow } from '../store/schema.ts';
import type { ExportView } from './disk-rules.ts';
import { targetIqn } from './export-names.ts';

/** The export of disk `d` as its project sees it (never the key); null while no node uses it. */
export function exportView(d: DiskRow, advertiseAddress: string): ExportView | null {
  if (d.node_id === null || d.export_port === null || d.export_identity === null || d.export_protocol === null) return null;
  return {
    protocol: d.export_protocol,
    state: d.export_state ?? 'starting',
    error: d.export_error,
    host: d.export_address ?? advertiseAddress,
    port: d.export_port,
    name: d.export_protocol === 'iscsi' ? targetIqn(d.storage_key) : d.storage_key,
    identity: d.export_identity,
    initiator: d.export_initiator,
  };
}

/** What a disk that no node uses has in its export columns. */
export const NO_EXPORT = {
  node_id: null,
  export_protocol: null,
  export_initiator: null,
  export_port: null,
  export_identity: null,
  export_psk: null,
  export_state: null,
  export_error: null,
  export_address: null,
} as const;

/**
 * The export columns of disk `d` served to node `nodeId`: its port (kept if
 * the node already has it), the node's identity and a fresh key. `address`:
 * where it listens, null for `[exports] address`.
 */
export async function exportFields(tx: Tx, d: DiskRow, nodeId: number, how: { protocol: 'nbd' | 'iscsi'; initiator: string | null; address: string | null }, ports: { first: number; last: number }) {
  return {
    node_id: nodeId,
    export_protocol: how.protocol,
    export_initiator: how.initiator,
    export_port: d.node_id === nodeId && d.export_port !== null ? d.export_port : await freePort(tx, ports),
    export_identity: `hil-node-${nodeId}`,
    // UEFI iSCSI initiators take CHAP secrets of 12 to 16 bytes: 96 random bits in 16 characters. TLS-PSK: 256 bits.
    export_psk: how.protocol === 'iscsi' ? randomBytes(12).toString('base64url') : randomBytes(32).toString('hex'),
    export_state: 'starting' as const,
    export_error: null,
    export_address: how.address,
  };
}

/** A node's boot disk is attached and detached through its boot_disk only (its export and script go together). */
export async function refuseBootDisk(tx: Tx, d: DiskRow): Promise<void> {
  const boot = await tx.selectFrom('node_boot').innerJoin('node', 'node.id', 'node_boot.node_id').select('node.label').where('node_boot.disk_id', '=', d.id).executeTakeFirst();
  if (boot) throw new BlockedError(`Disk "${d.label}" is the boot disk of node "${boot.label}"; clear it there (hil node boot-disk clear ${boot.label}).`);
}

/**
 * A port of the range no export uses, picked at random among the free ones:
 * concurrent attaches that all took the lowest would collide on the unique
 * constraint one after another (n of them, n rounds); spread out, they rarely
 * do, and the constraint settles the rest.
 */
export async function freePort(tx: Tx, range: { first: number; last: number }): Promise<number> {
  const used = new Set((await tx.selectFrom('disk').select('export_port').where('export_port', 'is not', null).execute()).map((r) => Number(r.export_port)));
  const free: number[] = [];
  for (let port = range.first; port <= range.last; port++) if (!used.has(port)) free.push(port);
  if (free.length === 0) throw new AllocationError(`No export port is free (exports.ports ${range.first}-${range.last} are all in use).`);
  return free[randomInt(free.length)]!;
}
