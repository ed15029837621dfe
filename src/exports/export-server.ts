/**
 * The export a disk's row asks for, and the server of its protocol that
 * serves it: NBD with TLS-PSK (nbd-server.ts) or iSCSI with CHAP
 * (iscsi-server.ts). The keeper compares what runs with what is wanted and
 * restarts on any difference.
 */
import type { BlockdevOptions } from '../drivers/storage/interface.ts';
import type { DiskRow } from '../store/schema.ts';
import { IscsiServer } from './iscsi-server.ts';
import { NbdServer } from './nbd-server.ts';

/** An export server of either protocol: what the keeper needs of it. */
export type ExportServer = NbdServer | IscsiServer;

/** What a disk's row asks to be served, or nothing (not attached). */
export interface WantedExport {
  protocol: 'nbd' | 'iscsi';
  name: string;
  address: string;
  port: number;
  identity: string;
  psk: string;
  initiator: string | null;
}

export interface Served {
  server: ExportServer;
  wanted: WantedExport;
}

export function wantedExport(disk: DiskRow, address: string): WantedExport | undefined {
  const { export_protocol: protocol, export_port: port, export_identity: identity, export_psk: psk } = disk;
  if (disk.node_id === null || protocol === null || port === null || identity === null || psk === null) return undefined;
  return { protocol, name: disk.storage_key, address, port, identity, psk, initiator: disk.export_initiator };
}

export function startServer(w: WantedExport, blockdev: BlockdevOptions, runDir: string, signal: AbortSignal): Promise<ExportServer> {
  const common = { name: w.name, blockdev, address: w.address, port: w.port, runDir };
  if (w.protocol === 'iscsi') return IscsiServer.start({ ...common, initiator: w.initiator!, user: w.identity, secret: w.psk }, signal);
  return NbdServer.start({ ...common, identity: w.identity, psk: w.psk }, signal);
}

/** The blockdev may change under a running export (a live snapshot pushed an overlay): it does not count. */
export function sameExport(a: WantedExport, b: WantedExport): boolean {
  return a.protocol === b.protocol && a.name === b.name && a.address === b.address && a.port === b.port && a.identity === b.identity && a.psk === b.psk && a.initiator === b.initiator;
}
