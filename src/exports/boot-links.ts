/**
 * The storage host's side of the boot networks: one layer-3 link per boot
 * network, with the storage host's address of that network's /24 (and an
 * IPv6 ULA, which only serves router advertisements: iPXE waits ~15 s for
 * IPv6 autoconfiguration when nothing sends one). Two ways to make them
 * (`[exports.boot] links`), idempotent both ways:
 *
 * - "vlan": an 802.1Q interface `<interface>.<vlan>` on the NIC whose switch
 *   port carries the boot networks tagged. What a storage host normally does.
 * - "ovs": for kernels without 802.1Q (some VMs, this project's lab): a veth
 *   pair per network, `<interface>v<vlan>` here and `<interface>p<vlan>` an
 *   access port of VLAN <vlan> on the Open vSwitch bridge `ovs_bridge`,
 *   whose uplink is that NIC. The peer moves into `ovs_netns` when
 *   ovs-vswitchd runs in a namespace of its own.
 */
import { mkdir } from 'node:fs/promises';
import { runTool } from '../util/run-tool.ts';
import { applyFirewall } from './boot-firewall.ts';

/** `[exports.boot] links` and what goes with it (as src/config/settings.ts reads it). */
export type LinkSettings = { kind: 'vlan'; interface: string } | { kind: 'ovs'; interface: string; bridge: string; ovsdb: string; netns?: string };

/** One boot network's link: its VLAN, and the storage host's addresses on its /24 and /64 (no prefix lengths). */
export interface WantedLink {
  vlan: number;
  address: string;
  broadcast: string;
  ipv6: string;
}


/** "fd48:494c:b007:0::1/64" as ip shows it ("fd48:494c:b007::1/64"): the URL parser writes IPv6 canonically. */
function canonical(cidr: string): string {
  const [address, length] = cidr.split('/') as [string, string];
  return address.includes(':') ? `${new URL(`http://[${address}]/`).hostname.slice(1, -1)}/${length}` : cidr;
}

const ip = (args: string[], signal: AbortSignal) => runTool('ip', args, { signal, timeoutMs: 10_000 });

export class BootLinks {
  readonly #s: LinkSettings;
  /** The firewall last applied (its spec as JSON). */
  #firewall: string | undefined;

  constructor(s: LinkSettings) {
    this.#s = s;
  }

  /** The layer-3 link of VLAN `vlan`. */
  name(vlan: number): string {
    return this.#s.kind === 'vlan' ? `${this.#s.interface}.${vlan}` : `${this.#s.interface}v${vlan}`;
  }

  /** An nftables interface wildcard that matches every link of this kind, and nothing else of the host's. */
  get wildcard(): string {
    return this.#s.kind === 'vlan' ? `${this.#s.interface}.*` : `${this.#s.interface}v*`;
  }

  /**
   * Makes these links and no others of ours exist: the firewall first (for
   * all of them at once, so a link is never up unguarded), then each link.
   */
  async sync(wanted: WantedLink[], o: { httpPort: number; exportPorts: { first: number; last: number }; dir: string }, signal: AbortSignal): Promise<void> {
    const firewall = {
      table: this.#s.interface,
      wildcard: this.wildcard,
      httpPort: o.httpPort,
      exportPorts: o.exportPorts,
      links: wanted.map((l) => ({ ifname: this.name(l.vlan), address: l.address, broadcast: l.broadcast, ipv6: l.ipv6 })),
    };
    const spec = JSON.stringify(firewall);
    if (spec !== this.#firewall) {
      await mkdir(o.dir, { recursive: true, mode: 0o700 });
      await applyFirewall(firewall, o.dir, signal);
      this.#firewall = spec;
    }
    const have = await this.current(signal);
    for (const l of wanted) await this.ensure({ vlan: l.vlan, address: `${l.address}/24`, ipv6: `${l.ipv6}/64` }, have.has(l.vlan), signal);
    for (const vlan of have.keys()) if (!wanted.some((l) => l.vlan === vlan)) await this.remove(vlan, signal);
  }

  /** The links that exist now, by VLAN. */
  async current(signal: AbortSignal): Promise<Map<number, string>> {
    const out = await ip(['-j', 'link', 'show'], signal);
    const links = JSON.parse(out || '[]') as { ifname: string }[];
    const prefix = this.wildcard.slice(0, -1);
    const found = new Map<number, string>();
    for (const { ifname } of links) {
      const m = ifname.startsWith(prefix) ? /^(\d{1,4})$/.exec(ifname.slice(prefix.length)) : null;
      if (m) found.set(Number(m[1]), ifname);
    }
    return found;
  }

  /** Makes the link if it is missing, gives it its addresses if it lacks them, and brings it up. */
  async ensure(link: { vlan: number; address: string; ipv6: string }, exists: boolean, signal: AbortSignal): Promise<void> {
    const name = this.name(link.vlan);
    if (!exists) await this.#make(link.vlan, signal);
    const shown = JSON.parse((await ip(['-j', 'addr', 'show', 'dev', name], signal)) || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[];
    const has = new Set((shown[0]?.addr_info ?? []).map((a) => canonical(`${a.local}/${a.prefixlen}`)));
    if (!has.has(canonical(link.address))) await ip(['addr', 'add', link.address, 'dev', name], signal);
    if (!has.has(canonical(link.ipv6))) await ip(['-6', 'addr', 'add', link.ipv6, 'dev', name, 'nodad'], signal);
    if (this.#s.kind === 'vlan') await ip(['link', 'set', this.#s.interface, 'up'], signal);
    await ip(['link', 'set', name, 'up'], signal);
  }

  async remove(vlan: number, signal: AbortSignal): Promise<void> {
    await ip(['link', 'del', this.name(vlan)], signal); // a veth takes its peer along
    if (this.#s.kind === 'ovs') await this.#vsctl(['--if-exists', 'del-port', this.#s.bridge, this.#peer(vlan)], signal);
  }

  async #make(vlan: number, signal: AbortSignal): Promise<void> {
    const s = this.#s;
    if (s.kind === 'vlan') return void (await ip(['link', 'add', 'link', s.interface, 'name', this.name(vlan), 'type', 'vlan', 'id', String(vlan)], signal));
    const peer = this.#peer(vlan);
    await ip(['link', 'add', this.name(vlan), 'type', 'veth', 'peer', 'name', peer, ...(s.netns ? ['netns', s.netns] : [])], signal);
    // The userspace datapath does not fill in checksums a veth leaves to offload.
    await runTool('ethtool', ['-K', this.name(vlan), 'tx', 'off'], { signal, timeoutMs: 10_000 });
    const ethtool = ['ethtool', '-K', peer, 'tx', 'off'];
    await (s.netns ? runTool('ip', ['netns', 'exec', s.netns, ...ethtool], { signal, timeoutMs: 10_000 }) : runTool(ethtool[0]!, ethtool.slice(1), { signal, timeoutMs: 10_000 }));
    const inOvsNs = (args: string[]) => (s.netns ? ['-n', s.netns, ...args] : args);
    await ip(inOvsNs(['link', 'set', peer, 'up']), signal);
    await this.#vsctl(['--may-exist', 'add-port', s.bridge, peer, '--', 'set', 'port', peer, `tag=${vlan}`], signal);
  }

  #peer(vlan: number): string {
    return `${this.#s.interface}p${vlan}`;
  }

  #vsctl(args: string[], signal: AbortSignal): Promise<string> {
    const s = this.#s as Extract<LinkSettings, { kind: 'ovs' }>;
    return runTool('ovs-vsctl', [`--db=${s.ovsdb}`, '--timeout=20', ...args], { signal, timeoutMs: 30_000 });
  }
}
