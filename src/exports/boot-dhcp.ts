/**
 * DHCP on one boot network: a dnsmasq of its own, bound to the storage
 * host's VLAN interface of that network and nothing else, that answers only
 * the MACs of the project's diskless nodes, each with its fixed address
 * (dnsmasq's `static` range: no lease for anyone else), and sends iPXE to
 * the network's boot script. No DNS, no router: the network reaches nothing
 * but the storage host. It runs under `setpriv --pdeathsig` (it dies with
 * this process) and reads its hosts file again on SIGHUP.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Daemon } from './storage-daemon.ts';

export interface DhcpSpec {
  /** The VLAN interface it serves. */
  ifname: string;
  /** The storage host's address there, and the /24's network address. */
  server: string;
  network: string;
  netmask: string;
  /** Where the boot scripts are: http://<server>:<port>/boot.ipxe. */
  httpPort: number;
  /** Its own directory (config, hosts file, leases, log). */
  dir: string;
}

/** A diskless node's NIC and the address it gets. */
export interface DhcpHost {
  mac: string;
  address: string;
}

function config(s: DhcpSpec): string {
  return [
    '# written by HIL: DHCP for one boot network (docs/images.md)',
    'port=0',
    'keep-in-foreground',
    `interface=${s.ifname}`,
    'bind-interfaces',
    `dhcp-leasefile=${join(s.dir, 'leases')}`,
    `dhcp-hostsfile=${join(s.dir, 'hosts')}`,
    `dhcp-range=${s.network},static,${s.netmask},1h`,
    // Router advertisements only, so that iPXE does not wait for IPv6.
    `dhcp-range=::,constructor:${s.ifname},ra-only`,
    'enable-ra',
    'dhcp-option=option:router',
    'log-dhcp',
    `log-facility=${join(s.dir, 'dnsmasq.log')}`,
    'user=root',
    'group=root',
    // iPXE (option 175) gets the script; other firmware gets iPXE itself over TFTP where the host has it.
    'dhcp-match=set:ipxe,175',
    `dhcp-boot=tag:ipxe,http://${s.server}:${s.httpPort}/boot.ipxe`,
    'enable-tftp',
    // One port for the whole transfer: the boot firewall (boot-firewall.ts) opens 69 and no other.
    'tftp-single-port',
    'tftp-root=/usr/lib/ipxe',
    'dhcp-boot=tag:!ipxe,undionly.kpxe',
    '',
  ].join('\n');
}

export class BootDhcp {
  readonly spec: DhcpSpec;
  readonly #daemon: Daemon;
  #hosts = '';

  private constructor(spec: DhcpSpec, daemon: Daemon, hosts: string) {
    this.spec = spec;
    this.#daemon = daemon;
    this.#hosts = hosts;
  }

  static async start(spec: DhcpSpec, hosts: DhcpHost[]): Promise<BootDhcp> {
    await rm(spec.dir, { recursive: true, force: true });
    await mkdir(spec.dir, { recursive: true, mode: 0o700 });
    const text = hostsFile(hosts);
    await writeFile(join(spec.dir, 'hosts'), text);
    await writeFile(join(spec.dir, 'dnsmasq.conf'), config(spec));
    const daemon = Daemon.spawn('dnsmasq', [`--conf-file=${join(spec.dir, 'dnsmasq.conf')}`]);
    return new BootDhcp(spec, daemon, text);
  }

  get running(): boolean {
    return this.#daemon.running;
  }

  get said(): string {
    return this.#daemon.stderr;
  }

  /** Writes the hosts file and has dnsmasq read it, when it changed. */
  async setHosts(hosts: DhcpHost[]): Promise<void> {
    const text = hostsFile(hosts);
    if (text === this.#hosts) return;
    await writeFile(join(this.spec.dir, 'hosts'), text);
    this.#hosts = text;
    if (this.#daemon.pid) process.kill(this.#daemon.pid, 'SIGHUP');
  }

  async stop(): Promise<void> {
    await this.#daemon.end(async () => (this.#daemon.pid ? process.kill(this.#daemon.pid, 'SIGTERM') : undefined), 2000);
  }
}

const hostsFile = (hosts: DhcpHost[]) => hosts.map((h) => `${h.mac},${h.address}\n`).join('');
