/** Disks (docs/images.md; not in upstream): /v0/disk/<disk>. */
import { Type } from 'typebox';
import { Args, Nullable } from './common.ts';

export const CreateDiskBody = Args({ image: Type.String({ description: 'a disk image the project may use' }), project: Type.String() });
export const AttachDiskBody = Args({
  node: Type.String({ description: "a node of the disk's project" }),
  protocol: Type.Optional(Type.String({ description: 'nbd (the default: TLS-PSK) or iscsi (CHAP)' })),
  initiator: Type.Optional(Type.String({ description: "iscsi: the node's initiator name, the only one its target admits" })),
});
export const SnapshotDiskBody = Args({ image: Type.String({ description: "the new image's name; it joins the disk's project" }) });

const exportFields = {
  protocol: Type.String({ description: 'nbd or iscsi' }),
  state: Type.String({ description: 'starting, serving or failed' }),
  error: Nullable(Type.String()),
  host: Type.String({ description: 'the address the node connects to' }),
  port: Type.Integer(),
  name: Type.String({ description: "the NBD export name, or the iSCSI target's name (LUN 1)" }),
  identity: Type.String({ description: "the node's TLS-PSK identity, or its CHAP user" }),
  initiator: Nullable(Type.String({ description: 'iscsi: the initiator name the target admits' })),
};

export const ExportView = Type.Object(exportFields);
export const AttachView = Type.Object({ ...exportFields, key: Type.String({ description: "the node's TLS-PSK key (64 hex digits) or CHAP secret (16 characters), answered only here" }) });

export const DiskView = Type.Object({
  name: Type.String(),
  project: Type.String(),
  image: Type.String({ description: 'the image whose base the disk sits on' }),
  size: Type.Integer({ description: 'bytes, as the node sees it' }),
  state: Type.String({ description: 'creating or ready' }),
  node: Nullable(Type.String()),
  export: Nullable(ExportView),
});

export const SnapshotView = Type.Object({ image: Type.String(), state: Type.String({ description: 'pending until the snapshot is taken; watch GET /v0/image/<image>' }) });
export const DiskList = Type.Array(Type.String());

export const BootDiskBody = Args({
  disk: Type.String({ description: "a disk of the node's project" }),
  nic: Type.Optional(Type.String({ description: "the NIC the node boots through (default: its first); it goes on the project's boot network natively" })),
});
export const BootDiskView = Type.Object({
  node: Type.String(),
  disk: Type.String(),
  nic: Type.String(),
  mac: Type.String(),
  network: Type.String({ description: "the project's boot network" }),
  address: Type.String({ description: "the node's fixed address there" }),
  server: Type.String({ description: "the storage host's address there: its DHCP, boot scripts and the disk's export" }),
  export: Nullable(ExportView),
  status_id: Nullable(Type.String({ description: "the boot NIC's latest networking action: the node can boot once it is DONE" })),
});
