/** The tables of tenants' own access (migration 0010): headnodes, their hnics, VPN endpoints and peers. */
import type { Generated, Selectable } from 'kysely';

type Bool = boolean | number;

export type HeadnodePower = 'on' | 'off';
export type HeadnodeState = 'stopped' | 'starting' | 'running' | 'failed';

/** A tenant's VM on its networks (migration 0010). */
export interface HeadnodeTable {
  id: Generated<number>;
  label: string;
  project_id: number;
  base_img: string;
  uuid: string;
  /** JSON array of OpenSSH public keys, put into the VM's seed. */
  ssh_keys: Generated<string>;
  power: Generated<HeadnodePower>;
  state: Generated<HeadnodeState>;
  error: string | null;
  started: Generated<Bool>;
  resets: Generated<number>;
  created_at: number;
}

export interface HnicTable {
  id: Generated<number>;
  label: string;
  headnode_id: number;
  network_id: number | null;
  mac: string;
  /** CIDR the headnode gives itself on this hnic; null: it asks DHCP. */
  address: string | null;
}

/** A network's WireGuard endpoint. */
export interface VpnNetworkTable {
  network_id: number;
  slot: number;
  lan_address: string;
  private_key: string;
  public_key: string;
  created_at: number;
}

/** One tenant peer of a network's endpoint. */
export interface VpnTable {
  id: Generated<number>;
  label: string;
  network_id: number;
  project_id: number;
  public_key: string;
  host: number;
  created_at: number;
}


export type HeadnodeRow = Selectable<HeadnodeTable>;
export type HnicRow = Selectable<HnicTable>;
export type VpnNetworkRow = Selectable<VpnNetworkTable>;
export type VpnRow = Selectable<VpnTable>;
