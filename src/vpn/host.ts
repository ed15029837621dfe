/**
 * The host side of tenant VPN access: WireGuard endpoints that put a
 * tenant's laptop on its isolated network.
 *
 * One network namespace per network with VPNs, `hilvpn-<vlan>`:
 *
 *   laptop ──udp──> host:<listenPort> ──DNAT (table ip hil_vpn)──> hvu<vlan> ═veth═ up0 (169.254.64.0/18 + slot*4, .2)
 *                                                                     ns: wireguard-go hilwg<vlan> (<tunnel gateway>/p)
 *   tenant hosts <── OVS access port hvl<vlan> tag=<vlan> ═veth═ lan0 (<lanAddress>) <── masquerade <── tunnel
 *
 *  - wireguard-go runs inside the namespace (its TUN device cannot be moved
 *    there later), detached, with a PID file in the state directory;
 *  - forwarding inside the namespace goes only from the tunnel to lan0,
 *    masqueraded as lanAddress, so tenant hosts need no route back;
 *    nothing crosses between lan0 or the tunnel and the uplink
 *    (namespace-firewall.ts);
 *  - the host DNATs the listen port on its own addresses to the namespace and
 *    forwards only those flows to and from the uplinks (host-firewall.ts);
 *    net.ipv4.ip_forward is turned on for that.
 *
 * Apply is idempotent and converges: it creates what is missing, corrects
 * what differs (addresses, VLAN tag, peers: exactly the given ones) and
 * adopts a daemon that is already running. Remove undoes all of it, also
 * after a crash, and is fine with any part already gone.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { BadArgumentError } from '../errors.ts';
import { KeyedLock } from '../util/keyed-lock.ts';
import { hostForwardVlans, applyHostForward, removeHostForward } from './host-firewall.ts';
import { isWireguardKey } from './keys.ts';
import * as links from './links.ts';
import * as names from './names.ts';
import { applyNamespaceFirewall } from './namespace-firewall.ts';
import { ip } from './run.ts';
import { ensureAccessPort, listPorts, removePort, type SwitchPlace } from './ovs.ts';
import { deleteRecord, listRecords, pidFileVlans, readRecord, writeRecord } from './state.ts';
import { configure, ensureDaemon, stopDaemon, WG_SOCKET_DIR, type WireguardPeer } from './wireguard.ts';

export type { SwitchPlace, WireguardPeer };

export interface NetworkVpnSpec {
  vlan: number;
  /** The OVS bridge the network's node ports are on. */
  bridge: string;
  /** Which transit /30 the network's uplink uses (0..4095), unique per host. */
  slot: number;
  /** The namespace's address on the tenant network, e.g. 10.50.0.254/24. */
  lanAddress: string;
  /** The tunnel's gateway address with the tunnel's prefix, e.g. 100.64.3.1/24. */
  tunnelAddress: string;
  /** The UDP port on the host's addresses, unique per host. */
  listenPort: number;
  privateKey: string;
  peers: WireguardPeer[];
  /** PID files and records; kept across restarts. */
  stateDir: string;
  /** Where the switch is; the system's Open vSwitch when absent. */
  switch?: SwitchPlace;
}

const lock = new KeyedLock();

function validate(s: NetworkVpnSpec): void {
  if (!Number.isInteger(s.vlan) || s.vlan < 1 || s.vlan > 4094) throw new BadArgumentError(`VLAN ${s.vlan} is outside 1..4094`);
  if (!Number.isInteger(s.listenPort) || s.listenPort < 1 || s.listenPort > 65535) throw new BadArgumentError(`listen port ${s.listenPort} is outside 1..65535`);
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(s.bridge)) throw new BadArgumentError(`bridge name ${JSON.stringify(s.bridge)} is not an interface name`);
  if (!isWireguardKey(s.privateKey)) throw new BadArgumentError('the VPN private key is not a WireGuard key');
  names.transitOf(s.slot);
  names.parseCidr(s.lanAddress, 'LAN address');
  names.parseCidr(s.tunnelAddress, 'tunnel address');
  const keys = new Set<string>();
  for (const p of s.peers) {
    if (!isWireguardKey(p.publicKey)) throw new BadArgumentError(`peer key ${JSON.stringify(p.publicKey)} is not a WireGuard key`);
    if (names.parseCidr(p.address, 'peer address').prefix !== 32) throw new BadArgumentError(`peer address ${p.address} is not a /32`);
    if (keys.has(p.publicKey)) throw new BadArgumentError(`peer key ${p.publicKey} appears twice`);
    keys.add(p.publicKey);
  }
}

/** The tenant-network cable: lan0 in the namespace, hvl<vlan> on the switch as an access port. */
async function plugLan(s: NetworkVpnSpec, ns: string): Promise<void> {
  const where = s.switch ?? {};
  const port = names.switchPortOf(s.vlan);
  await links.ensureVeth({ name: names.LAN_IF, netns: ns }, { name: port, netns: where.netns });
  if (where.netdevDatapath) {
    await links.disableTxChecksumOffload(ns, names.LAN_IF);
    await links.disableTxChecksumOffload(where.netns, port);
  }
  await links.setAddresses(ns, names.LAN_IF, [s.lanAddress]);
  await ensureAccessPort(where, s.bridge, port, s.vlan);
}

/** The uplink: hvu<vlan> on the host, up0 in the namespace, on the slot's /30, the namespace routing out through it. */
async function plugUplink(s: NetworkVpnSpec, ns: string): Promise<string> {
  const t = names.transitOf(s.slot);
  const host = names.uplinkOf(s.vlan);
  await links.ensureVeth({ name: host, netns: undefined }, { name: names.UPLINK_NS_IF, netns: ns });
  await links.setAddresses(undefined, host, [`${t.host}/${t.prefix}`]);
  await links.setAddresses(ns, names.UPLINK_NS_IF, [`${t.ns}/${t.prefix}`]);
  await links.setDefaultRoute(ns, t.host, names.UPLINK_NS_IF);
  return t.ns;
}

function hostForwarding(): boolean {
  try {
    return readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

async function apply(s: NetworkVpnSpec): Promise<void> {
  const ns = names.namespaceOf(s.vlan);
  const wg = names.wgInterfaceOf(s.vlan);
  const tunnel = names.parseCidr(s.tunnelAddress, 'tunnel address');
  writeRecord(s.stateDir, { vlan: s.vlan, bridge: s.bridge, slot: s.slot, listenPort: s.listenPort, switch: s.switch ?? {} });
  await links.ensureNamespace(ns);
  await links.enableForwarding(ns);
  // The firewall before any cable, so the namespace never forwards unfiltered.
  await applyNamespaceFirewall(ns, { wgInterface: wg, tunnelNetwork: tunnel.network, listenPort: s.listenPort });
  await plugLan(s, ns);
  const target = await plugUplink(s, ns);
  await ensureDaemon(ns, wg, s.stateDir);
  await configure(wg, s.privateKey, s.listenPort, s.peers);
  await links.setAddresses(ns, wg, [s.tunnelAddress]);
  await ip(ns, 'link', 'set', 'dev', wg, 'up');
  await applyHostForward({ vlan: s.vlan, listenPort: s.listenPort, target });
  if (!hostForwarding()) await links.enableForwarding(undefined);
}

/** Creates or corrects the network's VPN endpoint so that it is exactly `spec`. */
export function applyNetworkVpn(spec: NetworkVpnSpec): Promise<void> {
  validate(spec);
  return lock.run(String(spec.vlan), () => apply(spec));
}

async function remove(vlan: number, stateDir: string, place: SwitchPlace | undefined): Promise<void> {
  const known = place ?? readRecord(stateDir, vlan)?.switch;
  const where = known ?? {};
  await stopDaemon(names.wgInterfaceOf(vlan), stateDir);
  await removeHostForward(vlan);
  await links.deleteNamespace(names.namespaceOf(vlan));
  // Normally gone with the namespace (each is a veth's far end); not if the namespace was lost first.
  await links.deleteLink(undefined, names.uplinkOf(vlan));
  await links.deleteLink(where.netns, names.switchPortOf(vlan));
  // Without a record (removed already, or never applied here) the system's switch is only a guess: its absence is no error.
  await removePort(where, names.switchPortOf(vlan)).catch((err: unknown) => {
    if (known) throw err;
  });
  deleteRecord(stateDir, vlan);
}

/**
 * Tears the network's VPN endpoint down; fine when any part (or all) is gone.
 * The switch is the one recorded at apply unless `where` says otherwise.
 */
export function removeNetworkVpn(vlan: number, stateDir: string, where?: SwitchPlace): Promise<void> {
  if (!Number.isInteger(vlan) || vlan < 1 || vlan > 4094) return Promise.reject(new BadArgumentError(`VLAN ${vlan} is outside 1..4094`));
  return lock.run(String(vlan), () => remove(vlan, stateDir, where));
}

export interface VpnSweepScope {
  /** Also count PID files and records here. */
  stateDir?: string;
  /** Also count OVS ports on these switches (besides those recorded in stateDir). */
  switches?: SwitchPlace[];
}

const vlansMatching = (items: string[], re: RegExp) => items.flatMap((i) => re.exec(i)?.[1] ?? []).map(Number);

/**
 * VLANs with anything of a VPN endpoint left on this host: a namespace, an
 * uplink, host DNAT rules, a running daemon; with a scope, also PID files,
 * records and switch ports. For sweeping after a crash: remove each VLAN that
 * should not have one.
 */
export async function listNetworkVpns(scope: VpnSweepScope = {}): Promise<number[]> {
  const found = new Set<number>();
  const add = (vlans: number[]) => vlans.forEach((v) => found.add(v));
  add(vlansMatching(await links.listNamespaces(), names.NAMESPACE_RE));
  add(vlansMatching(await links.listLinks(undefined), names.UPLINK_RE));
  add(await hostForwardVlans());
  add(socketVlans());
  const switches = [...(scope.switches ?? [])];
  if (scope.stateDir) {
    add(pidFileVlans(scope.stateDir));
    for (const r of listRecords(scope.stateDir)) {
      found.add(r.vlan);
      switches.push(r.switch);
    }
  }
  for (const where of switches) add(vlansMatching(await listPorts(where), names.SWITCH_PORT_RE));
  return [...found].sort((a, b) => a - b);
}

/** VLANs with a control socket in /var/run/wireguard: a running daemon, or one killed -9 (which leaves its socket). */
function socketVlans(): number[] {
  let files: string[];
  try {
    files = readdirSync(WG_SOCKET_DIR);
  } catch {
    return [];
  }
  return vlansMatching(files.map((f) => f.replace(/\.sock$/, '')), names.WG_INTERFACE_RE);
}
