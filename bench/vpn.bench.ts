/**
 * The tenant VPN's data plane, in one run: TCP throughput from a "laptop"
 * namespace to a node through the WireGuard tunnel (wireguard-go, the
 * host's DNAT, the VPN namespace, the switch), and the same over a direct
 * veth between the laptop and the node, the path with no tunnel; their
 * ratio; and the round-trip time the tunnel adds (median of small
 * request/responses over each path). For reference, the VPN namespace to the
 * node over the switch alone (no tunnel) separates WireGuard's share from
 * the switch's (the rig's Open vSwitch is the userspace datapath).
 *
 *   node --disable-warning=ExperimentalWarning bench/vpn.bench.ts [-- --mib 256 --rtts 500]
 *
 * Needs root, Open vSwitch, wireguard-go, wireguard-tools, nftables, ethtool.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { applyNetworkVpn, removeNetworkVpn, type NetworkVpnSpec } from '../src/vpn/host.ts';
import { generateKeyPair } from '../src/vpn/keys.ts';
import { renderClientConfig } from '../src/vpn/client-config.ts';
import { buildRig, echoes, ECHO_PORT, LAPTOP_HOST_IP, SINK_PORT, vpnSkipReason, type Rig } from '../test/vpn/rig.ts';
import { machine } from './lib/report.ts';
import { ROOT } from './lib/servers.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '256' }, rtts: { type: 'string', default: '500' } } });
const MIB = Number(values.mib);
const RTTS = Number(values.rtts);
const VLAN = 3911;
const log = (m: string) => process.stderr.write(`[vpn bench] ${m}\n`);

/** Runs in a namespace: sends MIB MiB to the sink, then RTTS 64-byte echoes; prints {seconds, rttsMs}. */
const CLIENT = (host: string) => `
const net = require('net');
const chunk = Buffer.alloc(1 << 16, 7);
function throughput() { return new Promise((resolve, reject) => {
  const s = net.connect(${SINK_PORT}, '${host}'); let left = ${MIB} * 16; let t0; let reply = '';
  s.on('connect', () => { t0 = process.hrtime.bigint(); pump(); });
  s.on('drain', pump); s.on('error', reject); s.on('data', (d) => reply += d);
  s.on('end', () => resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes: Number(reply) }));
  function pump() { while (left > 0) { left--; if (!s.write(chunk)) return; } s.end(); }
}); }
function rtts() { return new Promise((resolve, reject) => {
  const s = net.connect(${ECHO_PORT}, '${host}'); s.setNoDelay(true); const msg = Buffer.alloc(64, 1);
  const out = []; let got = 0; let t0;
  const send = () => { got = 0; t0 = process.hrtime.bigint(); s.write(msg); };
  s.on('connect', send); s.on('error', reject);
  s.on('data', (d) => { got += d.length; if (got < 64) return; out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (out.length < ${RTTS}) send(); else { s.end(); resolve(out); } });
}); }
(async () => { const t = await throughput(); const r = await rtts(); process.stdout.write(JSON.stringify({ ...t, rttsMs: r })); })()
  .catch((e) => { console.error(String(e)); process.exit(1); });`;

interface PathResult {
  mibPerSecond: number;
  medianRttMs: number;
}

function measure(ns: string, host: string): PathResult {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', CLIENT(host)], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`client in ${ns} to ${host} failed: ${r.stderr}`);
  const o = JSON.parse(r.stdout) as { seconds: number; bytes: number; rttsMs: number[] };
  if (o.bytes !== MIB * 2 ** 20) throw new Error(`the sink counted ${o.bytes} bytes, not ${MIB} MiB`);
  const sorted = [...o.rttsMs].sort((a, b) => a - b);
  return { mibPerSecond: MIB / o.seconds, medianRttMs: sorted[Math.floor(sorted.length / 2)] };
}

/** The path with no tunnel: a veth straight from the laptop to the node. */
function cableDirect(rig: Rig): string {
  const sh = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  sh('link', 'add', 'direct0', 'netns', rig.laptopNs, 'type', 'veth', 'peer', 'name', 'direct0', 'netns', rig.nodeA.ns);
  sh('-n', rig.laptopNs, 'addr', 'add', '10.205.0.2/30', 'dev', 'direct0');
  sh('-n', rig.nodeA.ns, 'addr', 'add', '10.205.0.1/30', 'dev', 'direct0');
  sh('-n', rig.laptopNs, 'link', 'set', 'direct0', 'up');
  sh('-n', rig.nodeA.ns, 'link', 'set', 'direct0', 'up');
  return '10.205.0.1';
}

async function main(): Promise<void> {
  const why = vpnSkipReason();
  if (why) throw new Error(`cannot run: ${why}`);
  const rig = await buildRig(VLAN, VLAN + 1);
  const server = generateKeyPair();
  const laptop = generateKeyPair();
  const spec: NetworkVpnSpec = {
    vlan: VLAN, bridge: rig.bridge, slot: 4011, lanAddress: '10.50.0.254/24', tunnelAddress: '100.64.9.1/24', listenPort: 51911,
    privateKey: server.privateKey, peers: [{ publicKey: laptop.publicKey, address: '100.64.9.2/32' }], stateDir: rig.stateDir,
    switch: { ovsdb: rig.ovs.endpoint, netns: rig.switchNetns, netdevDatapath: true },
  };
  try {
    const t0 = performance.now();
    await applyNetworkVpn(spec);
    const applyMs = performance.now() - t0;
    rig.configureLaptop(renderClientConfig({ privateKey: laptop.privateKey, address: '100.64.9.2/32', serverPublicKey: server.publicKey, endpoint: `${LAPTOP_HOST_IP}:51911`, allowedIps: ['10.50.0.0/24'] }));
    if (!echoes(rig.laptopNs, rig.nodeA.ip, 8000)) throw new Error('the laptop does not reach the node through the tunnel');
    const direct = cableDirect(rig);
    log(`apply took ${applyMs.toFixed(0)} ms; measuring ${MIB} MiB and ${RTTS} round trips per path`);
    const tunnel = measure(rig.laptopNs, rig.nodeA.ip);
    const veth = measure(rig.laptopNs, direct);
    const switchOnly = measure(`hilvpn-${VLAN}`, rig.nodeA.ip);
    report({ applyMs, tunnel, veth, switchOnly });
  } finally {
    await removeNetworkVpn(VLAN, rig.stateDir).catch((e) => log(`cleanup: ${e}`));
    rig.cleanup();
  }
}

function report(r: { applyMs: number; tunnel: PathResult; veth: PathResult; switchOnly: PathResult }): void {
  const m = machine();
  const row = (name: string, p: PathResult) => `| ${name} | ${p.mibPerSecond.toFixed(1)} | ${(p.medianRttMs * 1000).toFixed(0)} |`;
  console.log(`machine: ${m.cpus} CPUs, ${m.cpuModel}, ${m.kernel}, Node ${m.node}`);
  console.log('| path | MiB/s | median RTT (µs) |\n|---|---|---|');
  console.log(row('laptop → node through the tunnel', r.tunnel));
  console.log(row('laptop → node over a direct veth (no tunnel)', r.veth));
  console.log(row('VPN namespace → node over the switch (no tunnel)', r.switchOnly));
  console.log(`tunnel / direct throughput: ${(r.tunnel.mibPerSecond / r.veth.mibPerSecond).toFixed(3)}`);
  console.log(`round trip added by the tunnel: ${((r.tunnel.medianRttMs - r.veth.medianRttMs) * 1000).toFixed(0)} µs (median)`);
  console.log(`applyNetworkVpn from nothing: ${r.applyMs.toFixed(0)} ms`);
  const stamp = new Date().toISOString();
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  const file = join(ROOT, 'bench', 'results', `vpn-${stamp.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ stamp, machine: m, mib: MIB, rtts: RTTS, ...r }, null, 2));
  log(`results: ${file}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
