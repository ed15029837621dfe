/**
 * The VPN data plane against the real thing: Open vSwitch, wireguard-go, nft,
 * namespaces (test/vpn/rig.ts). A laptop namespace dials the endpoint with
 * the configuration renderClientConfig wrote, and must reach exactly the
 * network's VLAN. Plus the keys, against `wg pubkey`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { applyNetworkVpn, listNetworkVpns, removeNetworkVpn, type NetworkVpnSpec } from '../../src/vpn/host.ts';
import { generateKeyPair, isWireguardKey, publicKeyOf } from '../../src/vpn/keys.ts';
import { renderClientConfig } from '../../src/vpn/client-config.ts';
import { findBinary } from '../../src/lab/system.ts';
import { skipUnless } from '../support/require.ts';
import { buildRig, echoes, LAPTOP_HOST_IP, vpnSkipReason, type Rig } from './rig.ts';

const VLAN_A = 3901;
const VLAN_B = 3902;
const SLOT = 4001;
const PORT = 51901;
const HOST_PROBE_PORT = 7411;

describe('WireGuard keys', () => {
  test('a generated pair is two WireGuard keys, and publicKeyOf agrees', () => {
    const k = generateKeyPair();
    assert.ok(isWireguardKey(k.privateKey) && isWireguardKey(k.publicKey));
    assert.equal(publicKeyOf(k.privateKey), k.publicKey);
    assert.notEqual(generateKeyPair().privateKey, k.privateKey);
  });
  test('isWireguardKey refuses what is not base64 of 32 bytes', () => {
    for (const bad of ['', 'abc', `${'A'.repeat(43)}`, `${'A'.repeat(42)}B=`, `${'A'.repeat(44)}=`, `${'A'.repeat(42)}_=`]) assert.equal(isWireguardKey(bad), false, bad);
    assert.throws(() => publicKeyOf('nope'));
  });
  test('the public key is what `wg pubkey` says (key on stdin, which wg pubkey reads as a stream)', { skip: skipUnless(findBinary('wg') ? undefined : 'wg is not installed (apt-get install wireguard-tools)') }, () => {
    for (let i = 0; i < 5; i++) {
      const k = generateKeyPair();
      assert.equal(execFileSync('wg', ['pubkey'], { input: `${k.privateKey}\n` }).toString().trim(), k.publicKey);
    }
    const fromWg = execFileSync('wg', ['genkey']).toString().trim();
    assert.equal(publicKeyOf(fromWg), execFileSync('wg', ['pubkey'], { input: `${fromWg}\n` }).toString().trim());
  });
});

describe('renderClientConfig', () => {
  test('with and without the private key', () => {
    const base = { address: '100.64.3.2/32', serverPublicKey: generateKeyPair().publicKey, endpoint: '192.0.2.1:51820', allowedIps: ['10.50.0.0/24'] };
    const k = generateKeyPair();
    const withKey = renderClientConfig({ ...base, privateKey: k.privateKey });
    assert.match(withKey, new RegExp(`^PrivateKey = ${k.privateKey.replace(/[+/]/g, '\\$&')}$`, 'm'));
    assert.match(withKey, /^\[Interface\]$[\s\S]*^Address = 100\.64\.3\.2\/32$[\s\S]*^\[Peer\]$[\s\S]*^Endpoint = 192\.0\.2\.1:51820$/m);
    const without = renderClientConfig(base);
    assert.doesNotMatch(without, /^PrivateKey/m);
    assert.match(without, /^# PrivateKey/m);
  });
});

const skip = skipUnless(vpnSkipReason());

describe('a network VPN endpoint on a real switch', { skip }, () => {
  let rig: Rig;
  let hostProbe: ChildProcess | undefined;
  const server = generateKeyPair();
  const laptop = generateKeyPair();
  const spec = (over: Partial<NetworkVpnSpec> = {}): NetworkVpnSpec => ({
    vlan: VLAN_A,
    bridge: rig.bridge,
    slot: SLOT,
    lanAddress: '10.50.0.254/24',
    tunnelAddress: '100.64.3.1/24',
    listenPort: PORT,
    privateKey: server.privateKey,
    peers: [{ publicKey: laptop.publicKey, address: '100.64.3.2/32' }],
    stateDir: rig.stateDir,
    switch: { ovsdb: rig.ovs.endpoint, netns: rig.switchNetns, netdevDatapath: true },
    ...over,
  });
  const laptopConfig = () =>
    renderClientConfig({
      privateKey: laptop.privateKey,
      address: '100.64.3.2/32',
      serverPublicKey: server.publicKey,
      endpoint: `${LAPTOP_HOST_IP}:${PORT}`,
      // The transit range too, so that the test can try to reach the host through the tunnel.
      allowedIps: ['10.50.0.0/24', '169.254.64.0/18'],
    });

  before(async () => {
    rig = await buildRig(VLAN_A, VLAN_B);
    // In a process of its own: the probes block this one's event loop.
    hostProbe = spawn(process.execPath, ['-e', `require('net').createServer((s) => s.pipe(s)).listen(${HOST_PROBE_PORT})`], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
  });
  after(async () => {
    hostProbe?.kill('SIGKILL');
    await removeNetworkVpn(VLAN_A, rig?.stateDir ?? '/nonexistent', rig && spec().switch).catch((e) => console.log(`# cleanup: ${e}`));
    rig?.cleanup();
  });

  /** Everything of the endpoint that must exist once, or not at all. */
  function footprint() {
    const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' });
    const nft = sh('nft', ['list', 'table', 'ip', 'hil_vpn']).stdout;
    const ports = rig.ovs.vsctl('--bare', '--columns=name', 'list', 'port').split('\n').filter((p) => p === `hvl${VLAN_A}`);
    const daemons = daemonPids(`hilwg${VLAN_A}`);
    return {
      netns: sh('ip', ['netns', 'list']).stdout.includes(`hilvpn-${VLAN_A}`),
      uplink: sh('ip', ['link', 'show', `hvu${VLAN_A}`]).status === 0,
      switchLink: sh('ip', ['-n', rig.switchNetns, 'link', 'show', `hvl${VLAN_A}`]).status === 0,
      ports: ports.length,
      dnatRules: (nft.match(new RegExp(`hilvpn-${VLAN_A} `, 'g')) ?? []).length,
      daemons,
      socket: existsSync(`/var/run/wireguard/hilwg${VLAN_A}.sock`),
    };
  }
  const gone = { netns: false, uplink: false, switchLink: false, ports: 0, dnatRules: 0, daemons: [], socket: false };

  // Node A has no route to the tunnel's addresses: its answers getting back shows the masquerade.
  test('the laptop reaches the VLAN A node through the tunnel', async () => {
    await applyNetworkVpn(spec());
    rig.configureLaptop(laptopConfig());
    assert.ok(echoes(rig.laptopNs, rig.nodeA.ip, 8000), 'no echo from the VLAN A node through the tunnel');
    assert.equal(cmdOut('wg', ['show', `hilwg${VLAN_A}`, 'peers']).trim(), laptop.publicKey);
  });

  test('but not the VLAN B node, nor the host or the namespace itself', () => {
    assert.ok(echoes(rig.nodeB.ns, '127.0.0.1'), 'node B serves');
    assert.ok(echoes(rig.laptopNs, LAPTOP_HOST_IP, 3000, HOST_PROBE_PORT), 'the host probe serves (directly)');
    assert.equal(echoes(rig.laptopNs, rig.nodeB.ip, 2000), false, 'reached VLAN B');
    assert.equal(echoes(rig.laptopNs, '169.254.64.1', 2000, HOST_PROBE_PORT), false, 'reached the host through the tunnel');
    assert.equal(echoes(rig.laptopNs, '10.50.0.254', 2000, HOST_PROBE_PORT), false, 'reached the namespace');
    // Nor does the tenant network get out through the namespace's uplink, even with a route there.
    execFileSync('ip', ['-n', rig.nodeA.ns, 'route', 'replace', '169.254.64.0/18', 'via', '10.50.0.254']);
    assert.equal(echoes(rig.nodeA.ns, '169.254.64.1', 2000, HOST_PROBE_PORT), false, 'VLAN A reached the host through the namespace');
  });

  test("the host's own packets to its endpoint are forwarded too (the output hook)", async () => {
    const packets = () => {
      const out = cmdOut('nft', ['-j', 'list', 'chain', 'ip', 'hil_vpn', 'output']);
      const rule = (JSON.parse(out) as { nftables: { rule?: { comment?: string; expr: { counter?: { packets: number } }[] } }[] }).nftables.find((i) => i.rule?.comment?.startsWith(`hilvpn-${VLAN_A} `));
      return rule?.rule?.expr.find((e) => e.counter)?.counter?.packets ?? -1;
    };
    const before = packets();
    const sock = createSocket('udp4');
    await new Promise<void>((resolve, reject) => sock.send('x', PORT, LAPTOP_HOST_IP, (err) => (err ? reject(err) : resolve())));
    sock.close();
    assert.ok(before >= 0 && packets() === before + 1, `output DNAT counter ${before} → ${packets()}`);
  });

  test('a second apply changes nothing: same daemon, one port, one rule per hook', async () => {
    const before = footprint();
    await applyNetworkVpn(spec());
    const again = footprint();
    assert.deepEqual(again, before);
    assert.equal(again.ports, 1);
    assert.equal(again.dnatRules, 2);
    assert.equal(again.daemons.length, 1);
    assert.ok(echoes(rig.laptopNs, rig.nodeA.ip, 4000));
  });

  test('the peers are replaced exactly: a removed peer is cut off', async () => {
    const other = generateKeyPair();
    await applyNetworkVpn(spec({ peers: [{ publicKey: other.publicKey, address: '100.64.3.3/32' }] }));
    assert.equal(cmdOut('wg', ['show', `hilwg${VLAN_A}`, 'peers']).trim(), other.publicKey);
    assert.equal(echoes(rig.laptopNs, rig.nodeA.ip, 2500), false, 'the removed laptop still gets through');
    await applyNetworkVpn(spec());
    // The laptop would notice in 15 s (WireGuard's keepalive and rekey timeouts) and shake hands again; a fresh daemon does at once.
    await rig.restartLaptopDaemon();
    rig.configureLaptop(laptopConfig());
    assert.ok(echoes(rig.laptopNs, rig.nodeA.ip, 8000), 'the laptop is back');
  });

  test('removeNetworkVpn leaves nothing behind, and is fine to repeat', async () => {
    await removeNetworkVpn(VLAN_A, rig.stateDir);
    assert.deepEqual(footprint(), gone);
    assert.ok(!(await listNetworkVpns({ stateDir: rig.stateDir })).includes(VLAN_A));
    await removeNetworkVpn(VLAN_A, rig.stateDir);
  });

  test('after a crash (wireguard-go killed -9, namespace left): listed, then removed', async () => {
    await applyNetworkVpn(spec());
    const [pid] = footprint().daemons;
    process.kill(Number(pid), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await listNetworkVpns()).includes(VLAN_A));
    assert.ok((await listNetworkVpns({ stateDir: rig.stateDir })).includes(VLAN_A));
    await removeNetworkVpn(VLAN_A, rig.stateDir);
    assert.deepEqual(footprint(), gone);
  });

  test('apply after a crash brings the endpoint back with a new daemon', async () => {
    await applyNetworkVpn(spec());
    const [pid] = footprint().daemons;
    process.kill(Number(pid), 'SIGKILL');
    await applyNetworkVpn(spec());
    const [fresh] = footprint().daemons;
    assert.ok(fresh && fresh !== pid);
    await rig.restartLaptopDaemon();
    rig.configureLaptop(laptopConfig());
    assert.ok(echoes(rig.laptopNs, rig.nodeA.ip, 8000));
  });
});

/** wireguard-go processes serving `ifname` (no pgrep: procps may be missing). */
function daemonPids(ifname: string): string[] {
  return readdirSync('/proc').filter((e) => {
    if (!/^\d+$/.test(e)) return false;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      return argv[0] === 'wireguard-go' && argv[1] === ifname;
    } catch {
      return false;
    }
  });
}

function cmdOut(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}
