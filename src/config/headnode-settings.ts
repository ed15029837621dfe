/** [host_switch], [headnode] and [vpn] with their defaults applied and units converted (./headnode-schema.ts). */
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { detectAccel } from '../util/accel.ts';
import type { Config } from './schema.ts';

/** The Open vSwitch bridge on this host that headnodes' taps and VPN endpoints plug into. */
export interface HostSwitchSettings {
  bridge: string;
  ovsdb?: string;
  netns?: string;
}

export interface HeadnodeSettings {
  run: boolean;
  baseImages: string[];
  imageDir: string;
  runDir: string;
  memoryMib: number;
  cpus: number;
  accel: string[];
  stopTimeoutMs: number;
  perProject: number | undefined;
  hostSwitch?: HostSwitchSettings;
}

export interface VpnSettings {
  run: boolean;
  endpoint: string;
  ports: { first: number; last: number };
  /** The first /24 of the tunnel range as a 32-bit number, and how many /24s it holds. */
  tunnels: { first: number; count: number };
  defaultLanAddress: string;
  runDir: string;
  hostSwitch?: HostSwitchSettings;
}

function hostSwitch(cfg: Config): HostSwitchSettings | undefined {
  const h = cfg.host_switch;
  return h && { bridge: h.ovs_bridge, ovsdb: h.ovsdb, netns: h.ovs_netns };
}

export function headnodeSettings(cfg: Config): HeadnodeSettings | undefined {
  const h = cfg.headnode;
  if (!h) return undefined;
  return {
    run: h.run ?? true,
    baseImages: [...new Set(h.base_imgs ?? ['base-headnode'])].sort(),
    imageDir: resolve(h.image_dir ?? join(cfg.server.data_dir, 'headnode-images')),
    runDir: resolve(h.run_dir ?? join(cfg.server.data_dir, 'headnodes')),
    memoryMib: h.memory_mib ?? 256,
    cpus: h.cpus ?? 1,
    accel: h.accel ?? [detectAccel()],
    stopTimeoutMs: (h.stop_timeout_seconds ?? 10) * 1000,
    perProject: (h.per_project ?? 4) || undefined,
    hostSwitch: hostSwitch(cfg),
  };
}

export function vpnSettings(cfg: Config): VpnSettings | undefined {
  const v = cfg.vpn;
  if (!v) return undefined;
  const ports = v.ports ?? '51820-51899';
  const [first, last] = ports.split('-').map(Number) as [number, number];
  if (first < 1 || last > 65535 || first > last) throw new ConfigError(`vpn.ports "${ports}" must be first-last within 1-65535, first <= last`);
  return {
    run: v.run ?? true,
    endpoint: v.endpoint,
    ports: { first, last },
    tunnels: slash24s('vpn.tunnel_subnets', v.tunnel_subnets ?? '100.64.0.0/16'),
    defaultLanAddress: v.default_lan_address ?? '10.0.0.254/24',
    runDir: resolve(v.run_dir ?? join(cfg.server.data_dir, 'vpn')),
    hostSwitch: hostSwitch(cfg),
  };
}

/** "100.64.0.0/16" → its /24s; the range must be aligned and between /8 and /24. */
export function slash24s(key: string, cidr: string): { first: number; count: number } {
  const [address, bits] = cidr.split('/') as [string, string];
  const octets = address.split('.').map(Number);
  const prefix = Number(bits);
  if (octets.some((o) => o > 255) || prefix < 8 || prefix > 24) throw new ConfigError(`${key} "${cidr}" must be an IPv4 range from /8 to /24`);
  const first = octets.reduce((n, o) => n * 256 + o, 0);
  if (first % 2 ** (32 - prefix) !== 0) throw new ConfigError(`${key} "${cidr}" is not aligned: its address has bits past /${prefix}`);
  return { first, count: 2 ** (24 - prefix) };
}
