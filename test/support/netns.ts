/**
 * "Nodes" for switch tests: a network namespace per node with one veth pair,
 * the namespace end as eth0 with an address, the host end left for the test
 * to plug into a switch. Everything created is recorded and removed by
 * cleanup(), which also runs at process exit if a test failed.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface NsNode {
  name: string;
  ns: string;
  /** The host end of the veth pair: the switch port. At most 15 characters. */
  hostIf: string;
  ip: string;
  mac: string;
}

const live = new Set<NetnsLab>();
process.once('exit', () => {
  for (const lab of live) lab.cleanup();
});

export function netnsSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const tool of ['ip', 'ping', 'ethtool', 'tcpdump']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (apt-get install iproute2 iputils-ping ethtool tcpdump)`;
  }
  return undefined;
}

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

export class NetnsLab {
  readonly #tag = randomBytes(3).toString('hex');
  readonly nodes: NsNode[] = [];

  constructor() {
    live.add(this);
  }

  /** A namespace node with eth0 at `ip` (a /24). */
  addNode(name: string, ip: string): NsNode {
    const i = this.nodes.length;
    const ns = `hil-${this.#tag}-${name}`;
    const hostIf = `h${this.#tag}${i}`; // 8 characters
    const peer = `p${this.#tag}${i}`;
    run('ip', ['netns', 'add', ns]);
    const node: NsNode = { name, ns, hostIf, ip, mac: '' };
    this.nodes.push(node);
    run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peer]);
    run('ip', ['link', 'set', peer, 'netns', ns]);
    const inNs = (...args: string[]) => run('ip', ['netns', 'exec', ns, ...args]);
    inNs('ip', 'link', 'set', peer, 'name', 'eth0');
    inNs('ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
    inNs('ip', 'link', 'set', 'eth0', 'up');
    inNs('ip', 'link', 'set', 'lo', 'up');
    run('ip', ['link', 'set', hostIf, 'up']);
    // The userspace datapath does not fill in checksums a veth left to offload.
    inNs('ethtool', '-K', 'eth0', 'tx', 'off');
    run('ethtool', ['-K', hostIf, 'tx', 'off']);
    node.mac = inNs('cat', '/sys/class/net/eth0/address').trim();
    return node;
  }

  /** True when `from` gets an ICMP echo reply from `to` (two tries, 1 s each). */
  ping(from: NsNode, to: NsNode): boolean {
    return spawnSync('ip', ['netns', 'exec', from.ns, 'ping', '-c', '2', '-i', '0.2', '-W', '1', '-q', to.ip], { stdio: 'ignore' }).status === 0;
  }

  /**
   * Captures one 802.1Q frame tagged `vlan` arriving on `node`'s eth0 while
   * `traffic` runs; resolves to the frame summary, or null after timeoutMs.
   */
  async captureTagged(node: NsNode, vlan: number, traffic: () => void, timeoutMs = 4000): Promise<string | null> {
    const proc = spawn('ip', ['netns', 'exec', node.ns, 'tcpdump', '-i', 'eth0', '-e', '-nn', '-l', '-c', '1', 'vlan', String(vlan)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    // tcpdump says "listening on" once its filter is in place.
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      proc.stderr.on('data', () => {
        if (stderr.includes('listening on')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    traffic();
    const done = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      proc.once('exit', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (!done) proc.kill('SIGKILL');
    return done && out.includes(`vlan ${vlan}`) ? out.trim() : null;
  }

  cleanup(): void {
    for (const n of this.nodes.splice(0)) {
      spawnSync('ip', ['netns', 'del', n.ns], { stdio: 'ignore' }); // takes the veth pair with it
      spawnSync('ip', ['link', 'del', n.hostIf], { stdio: 'ignore' });
    }
    live.delete(this);
  }
}
