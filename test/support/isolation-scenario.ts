/**
 * Isolation proven by traffic, through the public API only, for any switch
 * whose ports carry real packets: four namespace nodes on one Open vSwitch
 * bridge, two projects, three networks. Nodes on a network reach each
 * other; nodes on different networks, or on none, do not; detaching and
 * reverting stop the traffic; a trunk port carries its tagged VLAN (seen by
 * capturing 802.1Q frames on it); afterwards the switch and the database
 * agree. The switch is either the bridge itself (the ovs driver) or a vendor
 * emulator whose ports are backed by the bridge (switch-emulators/).
 */
import assert from 'node:assert/strict';
import { waitAction, withHil, type Caller } from './hil.ts';
import type { TestDatabase } from './databases.ts';
import { NetnsLab, type NsNode } from './netns.ts';
import { startOvs, type Ovs } from './ovs.ts';

export const ISOLATION_BRIDGE = 'hilbr0';

/** The switch under test, once the nodes are cabled to the bridge. */
export interface IsolationSwitch {
  /** PUT /v0/switch/<name> body. */
  registration: Record<string, unknown>;
  /** The switch's port names, node by node. */
  ports: string[];
  stop(): Promise<void>;
}

/** Makes the switch: `nodes[i]` is plugged into bridge port `nodes[i].hostIf`. */
export type SwitchUnderTest = (ovs: Ovs, nodes: NsNode[]) => Promise<IsolationSwitch>;

async function ok(api: Caller, method: string, path: string, body?: unknown) {
  const r = await api(method, path, body);
  assert.ok(r.status === 200 || r.status === 202, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

async function done(api: Caller, body: { status_id: string }) {
  const a = await waitAction(api, body.status_id, 20000);
  assert.equal(a.status, 'DONE', `action failed: ${a.error}`);
}

export async function isolationScenario(database: TestDatabase, makeSwitch: SwitchUnderTest): Promise<void> {
  const ovs = await startOvs();
  const lab = new NetnsLab();
  let sw: IsolationSwitch | undefined;
  try {
    ovs.addBridge(ISOLATION_BRIDGE);
    const n = [1, 2, 3, 4].map((i) => lab.addNode(`n${i}`, `10.77.0.${i}`));
    // Cabling is the operator's job: plug each node into a bridge port.
    for (const node of n) ovs.vsctl('add-port', ISOLATION_BRIDGE, node.hostIf);
    sw = await makeSwitch(ovs, n);
    const port = (i: number) => encodeURIComponent(sw!.ports[i]!);
    await withHil(database, { config: (c) => (c.worker.action_timeout_seconds = 15) }, async (t) => {
      const api = t.as();
      await ok(api, 'PUT', '/v0/switch/sw0', sw!.registration);
      for (const [i, node] of n.entries()) {
        await ok(api, 'PUT', `/v0/switch/sw0/port/${port(i)}`);
        await ok(api, 'PUT', `/v0/node/${node.name}`, { obm: { type: 'mock' } });
        await ok(api, 'PUT', `/v0/node/${node.name}/nic/eth0`, { macaddr: node.mac });
        await ok(api, 'POST', `/v0/switch/sw0/port/${port(i)}/connect_nic`, { node: node.name, nic: 'eth0' });
      }
      // Fresh ports carry the device's default (OVS: every VLAN; most vendors: VLAN 1); verify --fix isolates them first.
      const fixed = await ok(api, 'POST', '/v0/verify_networks', { fix: true });
      assert.deepEqual(fixed.unreachable, []);
      assert.equal(fixed.differences.filter((d: { fixed?: boolean }) => !d.fixed).length, 0, JSON.stringify(fixed.differences));
      assert.equal(lab.ping(n[0]!, n[1]!), false, 'no network: no traffic');

      for (const p of ['alpha', 'beta']) await ok(api, 'PUT', `/v0/project/${p}`);
      for (const [node, p] of [[n[0]!, 'alpha'], [n[1]!, 'alpha'], [n[2]!, 'alpha'], [n[3]!, 'beta']] as const) {
        await ok(api, 'POST', `/v0/project/${p}/connect_node`, { node: node.name });
      }
      await ok(api, 'PUT', '/v0/network/a1', { owner: 'alpha', access: 'alpha', net_id: '' });
      await ok(api, 'PUT', '/v0/network/a2', { owner: 'alpha', access: 'alpha', net_id: '' });
      await ok(api, 'PUT', '/v0/network/b1', { owner: 'beta', access: 'beta', net_id: '' });
      const connect = async (node: NsNode, network: string, channel?: string) =>
        done(api, await ok(api, 'POST', `/v0/node/${node.name}/nic/eth0/connect_network`, channel ? { network, channel } : { network }));
      await connect(n[0]!, 'a1');
      await connect(n[1]!, 'a1');
      await connect(n[2]!, 'a2');
      await connect(n[3]!, 'b1');

      assert.equal(lab.ping(n[0]!, n[1]!), true, 'same network');
      assert.equal(lab.ping(n[1]!, n[0]!), true, 'same network, both ways');
      assert.equal(lab.ping(n[0]!, n[2]!), false, 'other network of the same project');
      assert.equal(lab.ping(n[0]!, n[3]!), false, "another project's network");
      assert.equal(lab.ping(n[2]!, n[3]!), false, "another project's network");

      // A trunk: n3 also carries a1 tagged; a1's broadcasts reach it with a1's tag.
      const a1 = (await ok(api, 'GET', '/v0/network/a1')) as { channels: string[] };
      const tagged = a1.channels[1]!;
      const vlan = Number(tagged.split('/')[1]);
      await connect(n[2]!, 'a1', tagged);
      const frame = await lab.captureTagged(n[2]!, vlan, () => lab.ping(n[0]!, { ...n[1]!, ip: '10.77.0.99' }));
      assert.ok(frame, `no frame tagged ${vlan} reached the trunk port`);
      assert.match(frame, new RegExp(`vlan ${vlan}`));
      assert.equal(lab.ping(n[0]!, n[2]!), false, 'the trunk does not make n3 a native member of a1');

      // Detach stops the traffic.
      await done(api, await ok(api, 'POST', `/v0/node/${n[1]!.name}/nic/eth0/detach_network`, { network: 'a1' }));
      assert.equal(lab.ping(n[0]!, n[1]!), false, 'after detach');
      // So does a port revert (n2 back on a1 first, then revert n1's port).
      await connect(n[1]!, 'a1');
      assert.equal(lab.ping(n[0]!, n[1]!), true, 'back on the network');
      await done(api, await ok(api, 'POST', `/v0/switch/sw0/port/${port(0)}/revert`));
      assert.equal(lab.ping(n[0]!, n[1]!), false, 'after revert');
      assert.deepEqual((await ok(api, 'GET', `/v0/node/${n[0]!.name}`)).nics[0].networks, {});

      // The switch and the database agree.
      const report = await ok(api, 'GET', '/v0/verify_networks');
      assert.deepEqual(report.differences, []);
      assert.equal(report.checked, 4);
    });
  } finally {
    await sw?.stop();
    lab.cleanup();
    ovs.stop();
  }
}
