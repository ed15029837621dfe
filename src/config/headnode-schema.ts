/**
 * The configuration of tenants' own access to their networks
 * (docs/headnodes.md): [headnode] (tenant VMs), [vpn] (WireGuard peers),
 * and [host_switch], the Open vSwitch bridge on this host both plug into
 * (a tap or veth per network, tagged with the network's VLAN); part of
 * ./schema.ts's ConfigSchema. Each section absent: not offered.
 */
import { Type } from 'typebox';
import { Strict } from './schema-kit.ts';

const Cidr = Type.String({ pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$' });

export const HostSwitchSection = Type.Optional(
  Type.Object(
    {
      /** The bridge; its uplink carries the HIL networks' VLANs to the datacenter's switches. */
      ovs_bridge: Type.String({ minLength: 1 }),
      /** ovs-vsctl's --db (default: the system's). */
      ovsdb: Type.Optional(Type.String({ minLength: 1 })),
      /** The namespace ovs-vswitchd runs in, if not this one (a userspace-datapath OVS in its own namespace). */
      ovs_netns: Type.Optional(Type.String({ minLength: 1 })),
    },
    Strict,
  ),
);

export const HeadnodeSection = Type.Optional(
  Type.Object(
    {
      /** Whether this process runs headnode VMs (false: it only answers their API). */
      run: Type.Optional(Type.Boolean()), // default true
      /** The base images tenants may choose, by name: directories of `image_dir` (hil-admin headnode build-image). */
      base_imgs: Type.Optional(Type.Array(Type.String({ minLength: 1, pattern: '^[A-Za-z0-9._-]+$' }))), // default ['base-headnode']
      /** Where the base images are; default <data_dir>/headnode-images. */
      image_dir: Type.Optional(Type.String({ minLength: 1 })),
      /** Where each headnode's overlay disk, seed, sockets and console log are kept; default <data_dir>/headnodes. */
      run_dir: Type.Optional(Type.String({ minLength: 1 })),
      memory_mib: Type.Optional(Type.Integer({ minimum: 64, maximum: 65536 })), // default 256
      cpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })), // default 1
      /** QEMU's accelerators, tried in order; default: kvm where it really works (hardware virtualisation), else tcg. */
      accel: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z]+$' }), { minItems: 1 })),
      /** How long a stop waits for the guest to power off before the VM is ended. */
      stop_timeout_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 600 })), // default 10
      /** Headnodes per project (0: no limit). */
      per_project: Type.Optional(Type.Integer({ minimum: 0 })), // default 4
    },
    Strict,
  ),
);

export const VpnSection = Type.Optional(
  Type.Object(
    {
      /** Whether this process runs the WireGuard endpoints. */
      run: Type.Optional(Type.Boolean()), // default true
      /** What tenants' configurations name as the endpoint's host: this host's public name or address. */
      endpoint: Type.String({ minLength: 1 }),
      /** UDP ports, "first-last": one per network with a VPN. */
      ports: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}-[0-9]{1,5}$' })), // default '51820-51899'
      /** Tunnel addresses, cut into /24s, one per network; must not overlap tenants' own ranges. */
      tunnel_subnets: Type.Optional(Cidr), // default '100.64.0.0/16'
      /** The endpoint's address on a network when a VPN's request gives none. */
      default_lan_address: Type.Optional(Cidr), // default '10.0.0.254/24'
      /** Where the endpoints keep their pid files; default <data_dir>/vpn. */
      run_dir: Type.Optional(Type.String({ minLength: 1 })),
    },
    Strict,
  ),
);
