/** Headnodes (spec §5.6) and VPNs (not in upstream): bodies and answers. */
import { Type } from 'typebox';
import { Args, Nullable, StringEnum, StringMap } from './common.ts';

export const HeadnodeCreateBody = Args({
  project: Type.String(),
  base_img: Type.String(),
  /** Not in upstream: OpenSSH public keys root on the headnode accepts. */
  ssh_keys: Type.Optional(Type.Array(Type.String({ maxLength: 8192 }), { maxItems: 32 })),
});

/** Upstream sends no body; this server takes the hnic's address (none: DHCP). */
export const HnicCreateBody = Args({ address: Type.Optional(Type.String({ maxLength: 18 })) });

export const HnicConnectBody = Args({ network: Type.String() });

export const HnicView = Type.Object({ network: Nullable(Type.String()), mac: Type.String(), address: Nullable(Type.String()) });

export const HeadnodeView = Type.Object({
  name: Type.String(),
  project: Type.String(),
  hnics: Type.Array(Type.String()),
  vncport: Type.Null(),
  uuid: Type.String(),
  base_img: Type.String(),
  power: StringEnum(['on', 'off'] as const),
  state: StringEnum(['stopped', 'starting', 'running', 'failed'] as const),
  error: Nullable(Type.String()),
  nics: StringMap(HnicView),
  ssh_keys: Type.Array(Type.String()),
});

export const VpnCreateBody = Args({
  network: Type.String(),
  /** The project the VPN is for; default: the network's owner. */
  project: Type.Optional(Type.String()),
  /** The tenant's WireGuard public key; absent: a key pair is made and its private half is in the answer only. */
  public_key: Type.Optional(Type.String({ maxLength: 64 })),
  /** The endpoint's address on the network (first VPN of the network only); default [vpn] default_lan_address. */
  address: Type.Optional(Type.String({ maxLength: 18 })),
});

export const VpnView = Type.Object({
  name: Type.String(),
  network: Type.String(),
  project: Type.String(),
  public_key: Type.String(),
  address: Type.String(),
  endpoint: Type.String(),
  allowed_ips: Type.Array(Type.String()),
});

export const VpnCreated = Type.Object({ ...VpnView.properties, config: Type.String() });
