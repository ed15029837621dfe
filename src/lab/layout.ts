/**
 * Where every part of a lab lives and what it is called: one function of the
 * lab's directory, its id and its size, so that `up`, `status`, `down` and
 * the chassis control all agree, and `down` can find everything again from
 * lab.json alone (also after `up` crashed half-way).
 *
 * The id (four hex digits, random per `up`) keeps several labs apart on one
 * host: it is in every namespace, interface and MAC address the lab makes.
 * Interface names stay within Linux's 15 characters.
 */
import { join } from 'node:path';

export interface LabSpec {
  /** Absolute path of the lab's directory; every file of the lab is in it. */
  dir: string;
  /** Four lowercase hex digits. */
  id: string;
  nodes: number;
  /** NICs per node: 1 or 2. */
  nics: number;
  /** Prefix of the names registered in HIL: <prefix>-switch, <prefix>-node1, … */
  prefix: string;
  /** The VLAN of the provisioning network. */
  provisioningVlan: number;
  /** MiB of RAM per node. */
  memoryMiB: number;
  accel: 'tcg' | 'kvm';
  /** MiB of each node's disk (disk.raw in its directory, a virtio disk); 0 or absent: no disk. */
  diskMiB?: number;
  /** The unix socket the boot server forwards /fpbl/ to (HIL's provisioning endpoint); absent: none. */
  fpblSocket?: string;
}

export interface NicLayout {
  /** The name HIL knows it by in the node: eth0, eth1. */
  name: string;
  mac: string;
  /** The QEMU tap, which is also the OVS port and HIL's port name. */
  tap: string;
}

export interface NodeLayout {
  /** 1-based. */
  index: number;
  /** Its name in HIL. */
  name: string;
  dir: string;
  nics: NicLayout[];
  bmcPort: number;
  /** The BMC's end of the node's serial cable (the lab's serial relay, on loopback); SOL connects to it. */
  serialPort: number;
}

/** Addresses inside the provisioning namespace (private to it, so the same in every lab). */
export const PROVISIONING = {
  address: '10.128.0.1',
  prefixLength: 24,
  dhcpRange: ['10.128.0.100', '10.128.0.199'] as const,
  netmask: '255.255.255.0',
  /** A ULA prefix for dnsmasq's router advertisements (iPXE stalls ~15 s waiting for IPv6 without one). */
  ipv6: 'fd48:494c::1/64',
  /** Port of the HTTP boot server. */
  httpPort: 80,
  /** The provisioning namespace's end of its cable to the switch. */
  ifname: 'eth0',
} as const;

export function labLayout(spec: LabSpec) {
  const { dir, id } = spec;
  const idByte = (k: number) => id.slice(k * 2, k * 2 + 2);
  // BMC and serial ports: a block of 100 per lab, chosen by the id, between
  // 10000 and 32000 — below Linux's ephemeral range (32768-60999), where the
  // outgoing connections of everything else on the host would collide with
  // them. `up` checks the block is free, and picks another id if not.
  const base = 10000 + (parseInt(id, 16) % 220) * 100;
  const nodes: NodeLayout[] = Array.from({ length: spec.nodes }, (_, i) => {
    const index = i + 1;
    return {
      index,
      name: `${spec.prefix}-node${index}`,
      dir: join(dir, 'nodes', `node${index}`),
      nics: Array.from({ length: spec.nics }, (_, j) => ({
        name: `eth${j}`,
        // 52:… is locally administered and unicast; the id keeps labs apart.
        mac: ['52', '54', idByte(0), idByte(1), index.toString(16).padStart(2, '0'), j.toString(16).padStart(2, '0')].join(':'),
        tap: `hl${id}n${index}e${j}`,
      })),
      bmcPort: base + index * 2,
      serialPort: base + index * 2 + 1,
    };
  });
  return {
    spec,
    stateFile: join(dir, 'lab.json'),
    serialRelayPid: join(dir, 'serial-relay.pid'),
    switchNetns: `hil-lab-${id}-sw`,
    provisioningNetns: `hil-lab-${id}-pxe`,
    /** The switch's end of the provisioning namespace's cable (an OVS port). */
    provisioningPort: `hl${id}pxe`,
    /** Every host interface the lab makes starts with this. */
    ifPrefix: `hl${id}`,
    bridge: 'br0',
    switchDir: join(dir, 'switch'),
    ovsdbSocket: join(dir, 'switch', 'db.sock'),
    provisioningDir: join(dir, 'provisioning'),
    bootDir: join(dir, 'provisioning', 'http'),
    reportsFile: join(dir, 'provisioning', 'reports.jsonl'),
    dnsmasqLog: join(dir, 'provisioning', 'dnsmasq.log'),
    nodes,
    hilNames: {
      switch: `${spec.prefix}-switch`,
      provisioningNetwork: `${spec.prefix}-provisioning`,
    },
  };
}

export type LabLayout = ReturnType<typeof labLayout>;

/** What a node's chassis control needs to know, written as node.json into the node's directory. */
export interface NodeRuntime {
  name: string;
  labDir: string;
  switchNetns: string;
  memoryMiB: number;
  accel: 'tcg' | 'kvm';
  serialPort: number;
  nics: NicLayout[];
  /** The node's disk image (raw), if it has one. */
  disk?: string;
}
