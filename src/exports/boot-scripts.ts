/**
 * What a diskless node is told when its iPXE asks its boot network: its
 * script, made from the database at the moment it asks (so it always names
 * the disk's current export), and the kernel and initrd it boots.
 *
 * Two kinds, chosen by the disk's image (docs/images.md):
 * - the image (or the image it was snapshotted from) has a kernel and an
 *   initrd: they are fetched over HTTP, and the initramfs mounts the root
 *   filesystem from the disk's iSCSI export (dracut's `netroot=iscsi:` and
 *   `rd.iscsi.initiator=`). The same words work after a kexec, and iPXE's
 *   own iSCSI is never in the data path once the kernel runs.
 * - it has none: iPXE `sanboot`s the LUN, and the firmware's int13 hook
 *   (BIOS) boots what the disk's boot sector holds.
 *
 * Only the boot NICs of the network's own project are answered; any other
 * MAC gets nothing.
 */
import type { Kysely } from 'kysely';
import type { Database, ImageRow } from '../store/schema.ts';
import { targetIqn } from '../disks/export-names.ts';
import { BOOT_EXPORT_COLUMNS, netrootWords } from '../disks/netroot.ts';

export interface NodeBootFiles {
  script: string;
  /** Blob hashes of the kernel and initrd, when the script boots them. */
  kernel?: string;
  initrd?: string;
}

/** The boot NIC with `mac` on boot network `bootNetworkId`, and what it boots; undefined: not one of its nodes. */
export async function bootFilesOf(db: Kysely<Database>, bootNetworkId: number, mac: string, base: string): Promise<NodeBootFiles | undefined> {
  const row = await db
    .selectFrom('node_boot')
    .innerJoin('nic', 'nic.id', 'node_boot.nic_id')
    .innerJoin('disk', 'disk.id', 'node_boot.disk_id')
    .select([...BOOT_EXPORT_COLUMNS, 'disk.image_id', 'nic.macaddr'])
    .where('node_boot.boot_network_id', '=', bootNetworkId)
    .where('nic.macaddr', '=', mac)
    .executeTakeFirst();
  if (!row || row.export_port === null || row.export_address === null || row.export_psk === null || row.export_initiator === null) return undefined;
  const iqn = targetIqn(row.storage_key);
  const image = await bootImage(db, row.image_id);
  if (!image) {
    const script = [
      '#!ipxe',
      `set initiator-iqn ${row.export_initiator}`,
      `set username ${row.export_identity}`,
      `set password ${row.export_psk}`,
      `sanboot iscsi:${row.export_address}::${row.export_port}:1:${iqn}`,
      '',
    ].join('\n');
    return { script };
  }
  const cmdline = [image.cmdline, `hil.mac=${mac}`, netrootWords(row)].filter(Boolean).join(' ');
  const script = ['#!ipxe', `kernel ${base}/boot/${mac}/vmlinuz initrd=initrd.img ${cmdline}`, `initrd ${base}/boot/${mac}/initrd.img`, 'boot', ''].join('\n');
  return { script, kernel: image.kernel_sha256!, initrd: image.initrd_sha256! };
}

/**
 * The image whose kernel, initrd and command line boot a disk: its own
 * image, or the nearest one it was snapshotted from that has them (a
 * snapshot holds a disk, not a kernel).
 */
async function bootImage(db: Kysely<Database>, imageId: number | null): Promise<ImageRow | undefined> {
  for (let depth = 0; imageId !== null && depth < 64; depth++) {
    const image = await db.selectFrom('image').selectAll().where('id', '=', imageId).executeTakeFirst();
    if (!image) return undefined;
    if (image.kernel_sha256 !== null && image.initrd_sha256 !== null) return image;
    imageId = image.parent_id;
  }
  return undefined;
}

/**
 * Whether the node whose boot NIC on `bootNetworkId` has `mac` is deployed
 * by the provisioning service (every NIC moved, machine.ts); undefined: not
 * a node of this network.
 */
export async function isDeployed(db: Kysely<Database>, bootNetworkId: number, mac: string): Promise<boolean | undefined> {
  const row = await db
    .selectFrom('node_boot')
    .innerJoin('nic', 'nic.id', 'node_boot.nic_id')
    .leftJoin('node_provisioning', 'node_provisioning.node_id', 'node_boot.node_id')
    .select('node_provisioning.state')
    .where('node_boot.boot_network_id', '=', bootNetworkId)
    .where('nic.macaddr', '=', mac)
    .executeTakeFirst();
  return row && row.state === 'deployed';
}
