/**
 * A real rig for the VPN data plane (test/vpn/vpn-host.test.ts, bench/vpn.ts):
 * a throwaway Open vSwitch whose vswitchd namespace is given a name (the
 * library plugs its port there, as in the lab), two "nodes" on VLANs A and B
 * running a TCP echo and a byte-counting sink, and a "laptop" namespace
 * cabled to the host by a private /30 running its own wireguard-go.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOvs, skipReason as ovsSkip, type Ovs } from '../support/ovs.ts';
import { NetnsLab, netnsSkipReason, type NsNode } from '../support/netns.ts';
import { findBinary } from '../../src/lab/system.ts';
import { startTenantLaptop, type TenantLaptop } from '../support/tenant-laptop.ts';

export { splitWgQuick } from '../support/tenant-laptop.ts';

export const ECHO_PORT = 7007;
export const SINK_PORT = 7009;
export const LAPTOP_HOST_IP = '10.203.0.1';
export const LAPTOP_IP = '10.203.0.2';

export function vpnSkipReason(): string | undefined {
  const missing = ['wireguard-go', 'wg', 'nft', 'ovs-vsctl', 'ethtool'].filter((b) => !findBinary(b));
  if (missing.length) return `missing ${missing.join(', ')} (apt-get install wireguard-go wireguard-tools nftables openvswitch-switch ethtool)`;
  return ovsSkip ?? netnsSkipReason();
}

const sh = (cmd: string, args: string[], input?: string) => execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'], timeout: 20_000 }).toString();

const SERVER = `const net=require('net');
net.createServer(s=>{s.on('error',()=>{});s.pipe(s)}).listen(${ECHO_PORT});
net.createServer(s=>{let n=0;s.on('error',()=>{});s.on('data',d=>n+=d.length);s.on('end',()=>s.end(String(n)))}).listen(${SINK_PORT});`;

export interface Rig {
  tag: string;
  ovs: Ovs;
  bridge: string;
  /** The name given to ovs-vswitchd's namespace. */
  switchNetns: string;
  nodeA: NsNode;
  nodeB: NsNode;
  laptopNs: string;
  laptopWg: string;
  stateDir: string;
  /** Points the laptop's wireguard-go at a wg-quick config (Address and routes set as wg-quick would). */
  configureLaptop(config: string): void;
  /** A fresh laptop daemon (a laptop without state). */
  restartLaptopDaemon(): Promise<void>;
  cleanup(): void;
}

/** TCP connect from `ns`, send bytes, true when they come back within timeoutMs. */
export function echoes(ns: string, host: string, timeoutMs = 3000, port = ECHO_PORT): boolean {
  const js = `const s=require('net').connect(${port},'${host}',()=>s.write('hello'));let b='';s.on('data',d=>{b+=d;if(b==='hello')process.exit(0)});s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(2),${timeoutMs})`;
  return spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', js], { stdio: 'ignore', timeout: timeoutMs + 5000 }).status === 0;
}

function startServer(ns: string, children: ChildProcess[]): void {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER], { stdio: 'ignore' });
  children.push(child);
}

function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => (check() ? resolve() : Date.now() > deadline ? reject(new Error(`${what} did not happen within ${ms} ms`)) : setTimeout(tick, 50));
    tick();
  });
}

export async function buildRig(vlanA: number, vlanB: number): Promise<Rig> {
  const tag = randomBytes(2).toString('hex');
  const children: ChildProcess[] = [];
  const ovs = await startOvs();
  const lab = new NetnsLab();
  const bridge = `vbr${tag}`;
  const switchNetns = `hilvpnt-sw-${tag}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'hil-vpn-'));
  let laptop: TenantLaptop | undefined;
  const rig: Rig = {
    tag, ovs, bridge, switchNetns, stateDir,
    laptopNs: `hil-laptop-${tag}`,
    laptopWg: `hlw${tag}`,
    nodeA: undefined as unknown as NsNode,
    nodeB: undefined as unknown as NsNode,
    configureLaptop: (config) => laptop!.configure(config),
    restartLaptopDaemon: () => laptop!.restartDaemon(),
    cleanup() {
      laptop?.cleanup();
      for (const c of children) c.kill('SIGKILL');
      spawnSync('ip', ['netns', 'delete', switchNetns], { stdio: 'ignore' });
      lab.cleanup();
      ovs.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  try {
    ovs.addBridge(bridge);
    sh('ip', ['netns', 'attach', switchNetns, String(ovs.vswitchdPid())]);
    rig.nodeA = lab.addNode('a', '10.50.0.5');
    rig.nodeB = lab.addNode('b', '10.50.0.6'); // the same subnet on another VLAN: only the VLAN separates them
    ovs.vsctl('add-port', bridge, rig.nodeA.hostIf, '--', 'set', 'port', rig.nodeA.hostIf, `tag=${vlanA}`);
    ovs.vsctl('add-port', bridge, rig.nodeB.hostIf, '--', 'set', 'port', rig.nodeB.hostIf, `tag=${vlanB}`);
    for (const n of [rig.nodeA, rig.nodeB]) startServer(n.ns, children);
    laptop = await startTenantLaptop(tag, LAPTOP_HOST_IP, LAPTOP_IP);
    await waitFor(() => echoes(rig.nodeA.ns, '127.0.0.1', 500), 'node A echo server start');
    return rig;
  } catch (err) {
    rig.cleanup();
    throw err;
  }
}
