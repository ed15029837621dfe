/**
 * Table types for Kysely. The migrations in ./migrations are the source of
 * truth for the schema; this file describes the same tables to the compiler.
 * Booleans are stored as integers on SQLite and booleans on PostgreSQL, so
 * readers always pass them through `Boolean()`.
 */
import type { Generated, Selectable } from 'kysely';
import type { HeadnodeTable, HnicTable, VpnNetworkTable, VpnTable } from './tenant-tables.ts';
export type { HeadnodePower, HeadnodeRow, HeadnodeState, HeadnodeTable, HnicRow, HnicTable, VpnNetworkRow, VpnNetworkTable, VpnRow, VpnTable } from './tenant-tables.ts';

type Bool = boolean | number;

export interface ProjectTable {
  id: Generated<number>;
  label: string;
}

export interface NodeTable {
  id: Generated<number>;
  label: string;
  project_id: number | null;
  /** 'obmd' (external obmd, upstream style) or a built-in OBM driver type. */
  obm_type: string;
  /** JSON: obmd `{uri, admin_token}` or the built-in driver's fields. Secret. */
  obm_params: string;
  /** Upstream's "OBM enabled" flag. */
  obm_enabled: Bool;
  /** What a delegating BMC type (obmd) issued when the OBM was enabled: the node's token there. Secret. */
  obm_token: string | null;
}

export interface NicTable {
  id: Generated<number>;
  node_id: number;
  label: string;
  macaddr: string | null;
  port_id: number | null;
}

export interface NodeMetadataTable {
  id: Generated<number>;
  node_id: number;
  label: string;
  /** JSON-encoded value, returned verbatim as upstream does. */
  value: string;
}

export interface NetworkTable {
  id: Generated<number>;
  label: string;
  /** null: owned by the admins. */
  owner_id: number | null;
  allocated: Bool;
  network_id: string;
}

export interface NetworkAccessTable {
  network_id: number;
  project_id: number;
}

export interface SwitchTable {
  id: Generated<number>;
  label: string;
  type: string;
  /** JSON of the driver fields, passwords included. Secret. */
  params: string;
}

export interface PortTable {
  id: Generated<number>;
  switch_id: number;
  label: string;
}

export const ACTION_STATUSES = ['PENDING', 'DONE', 'ERROR'] as const;
export type ActionStatus = (typeof ACTION_STATUSES)[number];
export const ACTION_TYPES = ['modify_port', 'revert_port'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

export interface NetworkingActionTable {
  id: Generated<number>;
  uuid: string;
  nic_id: number;
  type: ActionType;
  channel: string;
  new_network_id: number | null;
  status: ActionStatus;
  /** Why the action ended in ERROR. */
  error: string | null;
  attempts: Generated<number>;
  created_at: number;
  finished_at: number | null;
}

export interface NetworkAttachmentTable {
  id: Generated<number>;
  nic_id: number;
  network_id: number;
  channel: string;
}

export interface UserTable {
  id: Generated<number>;
  label: string;
  is_admin: Bool;
  password_hash: string;
}

export interface UserProjectTable {
  user_id: number;
  project_id: number;
}

export interface VlanTable {
  vlan_no: number;
  available: Bool;
}

export const PROVISIONING_STATES = ['booting-fpbl', 'ready', 'deploying', 'deployed', 'reclaiming', 'error'] as const;
export type ProvisioningState = (typeof PROVISIONING_STATES)[number];
export type ProvisioningPath = 'kexec' | 'power-cycle';

export interface NodeProvisioningTable {
  node_id: number;
  state: ProvisioningState;
  /** Where in the state the node is (PHASES in src/provisioning/machine.ts). */
  phase: string;
  path: ProvisioningPath | null;
  image_id: number | null;
  /** JSON {nic: network} asked for by the deploy. */
  networks: Generated<string>;
  /** SHA-256 (hex) of the FPBL agent's token. */
  fpbl_token_hash: string | null;
  /** SHA-256 (hex) of the customer OS's return-agent token. */
  return_token_hash: string | null;
  ip: string | null;
  boot_id: string | null;
  error: string | null;
  /** Epoch ms by which the state must have moved on. */
  deadline: number | null;
  since: number;
  /** When the current deploy or reclaim was asked for. */
  operation_started: number | null;
  last_seen: number | null;
}

/** An image of the registry (docs/images.md); its files are blobs named by SHA-256 (64 lowercase hex). */
export interface ImageTable {
  id: Generated<number>;
  label: string;
  /** null: owned by the admins. */
  project_id: number | null;
  public: Bool;
  cmdline: Generated<string>;
  kernel_sha256: string | null;
  kernel_size: number | null;
  initrd_sha256: string | null;
  initrd_size: number | null;
  rootfs_sha256: string | null;
  rootfs_size: number | null;
  /** Epoch ms. */
  created_at: number;
  /** 'kexec': kernel, initrd, rootfs; 'qcow2' or 'raw': a disk image. */
  format: Generated<ImageFormat>;
  disk_sha256: string | null;
  disk_size: number | null;
  /** A disk image's size as a node sees it. */
  virtual_size: number | null;
  /** The image's base in the storage backend, once there. */
  storage_key: string | null;
  state: Generated<ImageState>;
  error: string | null;
  /** A snapshot's separation from its disk, 0 to 1. */
  progress: number | null;
  /** The image a snapshot's base sits on. */
  parent_id: number | null;
  /** The disk a snapshot was taken of, while it still depends on it. */
  source_disk_id: number | null;
}

export type ImageFormat = 'kexec' | 'qcow2' | 'raw';
export type ImageState = 'pending' | 'ready';

/** A copy-on-write clone of an image, owned by a project, exported to the node using it (docs/images.md). */
export interface DiskTable {
  id: Generated<number>;
  label: string;
  project_id: number;
  /** The image whose base the disk sits on. */
  image_id: number;
  storage_key: string;
  state: 'creating' | 'ready';
  virtual_size: number;
  node_id: number | null;
  export_protocol: ExportProtocol | null;
  /** iSCSI: the node's initiator name, the only one its target admits. */
  export_initiator: string | null;
  export_port: number | null;
  export_identity: string | null;
  /** The node's TLS-PSK key, hex. */
  export_psk: string | null;
  export_state: ExportState | null;
  export_error: string | null;
  /** Where the export listens and what the node is told; null: `[exports] address`. */
  export_address: string | null;
  created_at: number;
}

/** A project's boot network: the HIL network its diskless nodes boot on, and its subnet. */
export interface BootNetworkTable {
  id: Generated<number>;
  project_id: number;
  network_id: number;
  /** Index of the project's /24 in `[exports.boot] subnets`. */
  subnet: number;
  created_at: number;
}

/** A node that boots from a disk, through one of its NICs, at a fixed address of its project's boot network. */
export interface NodeBootTable {
  node_id: number;
  disk_id: number;
  nic_id: number;
  boot_network_id: number;
  /** The last byte of its address in the boot network's /24. */
  host: number;
  created_at: number;
  /** Delete the disk when the node stops booting from it (migration 0009). */
  delete_on_release: Generated<Bool>;
}

export type ExportState = 'starting' | 'serving' | 'failed';
export type ExportProtocol = 'nbd' | 'iscsi';

/** Facts about this installation (`storage_prefix`). */
export interface HilInstanceTable {
  key: string;
  value: string;
}

/** A HIL process doing background work, alive while it keeps `expires_at` ahead (src/claims/). */
export interface HilProcessTable {
  id: string;
  host: string;
  pid: number;
  role: string;
  address: string | null;
  internal_token: string | null;
  backend_pid: number | null;
  backend_start: number | null;
  started_at: number;
  expires_at: number;
}

/** Which process holds a resource (`switch:<id>`, `console:<node id>`, `bmc:<node id>`), and the hand-over count. */
export interface ClaimTable {
  resource: string;
  holder: string | null;
  generation: number;
  expires_at: number;
  taken_at: number;
}

export interface Database {
  project: ProjectTable;
  node: NodeTable;
  nic: NicTable;
  node_metadata: NodeMetadataTable;
  network: NetworkTable;
  network_access: NetworkAccessTable;
  switch: SwitchTable;
  port: PortTable;
  networking_action: NetworkingActionTable;
  network_attachment: NetworkAttachmentTable;
  user: UserTable;
  user_project: UserProjectTable;
  vlan: VlanTable;
  hil_process: HilProcessTable;
  claim: ClaimTable;
  image: ImageTable;
  disk: DiskTable;
  hil_instance: HilInstanceTable;
  node_provisioning: NodeProvisioningTable;
  boot_network: BootNetworkTable;
  node_boot: NodeBootTable;
  headnode: HeadnodeTable;
  hnic: HnicTable;
  vpn_network: VpnNetworkTable;
  vpn: VpnTable;
}

export type NodeRow = Selectable<NodeTable>;
export type NicRow = Selectable<NicTable>;
export type SwitchRow = Selectable<SwitchTable>;
export type ImageRow = Selectable<ImageTable>;
export type DiskRow = Selectable<DiskTable>;
export type ProvisioningRow = Selectable<NodeProvisioningTable>;
export type BootNetworkRow = Selectable<BootNetworkTable>;
export type NodeBootRow = Selectable<NodeBootTable>;
