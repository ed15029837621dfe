/**
 * The kernel command line words that mount a node's root filesystem from its
 * iSCSI boot export, in dracut's syntax (docs/images.md "Booting a node from
 * its disk"), so that a distribution's initramfs and the example's read them
 * alike. One source for the iPXE script (src/exports/boot-scripts.ts) and the
 * kexec deploy (src/provisioning/agent-protocol.ts).
 */
import type { DiskRow } from '../store/schema.ts';
import { targetIqn } from './export-names.ts';

/** The disk columns a boot export is made of (select them as `disk.<column>`). */
export const BOOT_EXPORT_COLUMNS = ['disk.storage_key', 'disk.export_address', 'disk.export_port', 'disk.export_identity', 'disk.export_psk', 'disk.export_initiator'] as const;

export type BootExport = Pick<DiskRow, 'storage_key' | 'export_address' | 'export_port' | 'export_identity' | 'export_psk' | 'export_initiator'>;

/** `rd.iscsi.initiator=… netroot=iscsi:…`; undefined while the disk has no complete boot export. */
export function netrootWords(d: BootExport): string | undefined {
  if (d.export_port === null || d.export_address === null || d.export_psk === null || d.export_initiator === null || d.export_identity === null) return undefined;
  return `rd.iscsi.initiator=${d.export_initiator} netroot=iscsi:${d.export_identity}:${d.export_psk}@${d.export_address}:tcp:${d.export_port}:1:${targetIqn(d.storage_key)}`;
}
