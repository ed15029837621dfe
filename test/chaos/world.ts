/**
 * What the chaos test runs on, built through one API over HTTP: a project
 * with a few networks; mock switches of different latencies, each with its
 * nodes (one cabled nic each) for networking; nodes on the line BMC with
 * their OBM enabled (power operations, held consoles); and free nodes on the
 * line BMC for fast provisioning to power-cycle.
 */
import { MOCK_SWITCH, SWITCH_FIELDS } from '../support/fixtures.ts';
import { must } from './http.ts';
import { LINE_BMC } from './line-bmc-driver.ts';

export const PROJECT = 'chaos';
export const PROVISIONING_NETWORK = 'provnet';

export interface WorldPlan {
  switches: number;
  nodesPerSwitch: number;
  networks: number;
  powerNodes: number;
  provisioningNodes: number;
}

export interface NetNode {
  node: string;
  nic: string;
  switch: string;
}

export interface World {
  networks: string[];
  /** Switch label → its latency (ms). */
  switches: Map<string, number>;
  netNodes: NetNode[];
  powerNodes: string[];
  provisioningNodes: string[];
}

/** Built through the first API; the power nodes' OBMs are enabled through each API in turn, so each holds some consoles. */
export async function buildWorld(apis: string[], plan: WorldPlan, bmcPort: number): Promise<World> {
  const api = apis[0];
  const obm = { type: LINE_BMC, host: '127.0.0.1', port: bmcPort };
  await must(api, 'PUT', `/v0/project/${PROJECT}`);
  const networks: string[] = [];
  for (let i = 0; i < plan.networks; i++) {
    networks.push(`net-${i}`);
    await must(api, 'PUT', `/v0/network/net-${i}`, { owner: PROJECT, access: PROJECT, net_id: '' });
  }
  await must(api, 'PUT', `/v0/network/${PROVISIONING_NETWORK}`, { owner: 'admin', access: '', net_id: '' });

  const switches = new Map<string, number>();
  const netNodes: NetNode[] = [];
  for (let s = 0; s < plan.switches; s++) {
    const sw = `sw-${s}`;
    const latency = 5 + Math.round((15 * s) / Math.max(1, plan.switches - 1)); // 5 … 20 ms
    switches.set(sw, latency);
    await must(api, 'PUT', `/v0/switch/${sw}`, { type: MOCK_SWITCH, ...SWITCH_FIELDS, latency_ms: latency });
    for (let k = 1; k <= plan.nodesPerSwitch; k++) {
      const node = `nn-${s}-${k}`;
      const port = `gi1/0/${k}`;
      await must(api, 'PUT', `/v0/node/${node}`, { obm: { type: 'mock' } });
      await must(api, 'PUT', `/v0/node/${node}/nic/eth0`, { macaddr: `52:54:00:00:${s.toString(16).padStart(2, '0')}:${k.toString(16).padStart(2, '0')}` });
      await must(api, 'PUT', `/v0/switch/${sw}/port/${port}`);
      await must(api, 'POST', `/v0/switch/${sw}/port/${port}/connect_nic`, { node, nic: 'eth0' });
      await must(api, 'POST', `/v0/project/${PROJECT}/connect_node`, { node });
      netNodes.push({ node, nic: 'eth0', switch: sw });
    }
  }

  const powerNodes: string[] = [];
  for (let i = 0; i < plan.powerNodes; i++) {
    const node = `pn-${i}`;
    powerNodes.push(node);
    await must(api, 'PUT', `/v0/node/${node}`, { obm });
    await must(api, 'POST', `/v0/project/${PROJECT}/connect_node`, { node });
    await must(apis[i % apis.length], 'PUT', `/v0/node/${node}/obm`, { enabled: true });
  }
  const provisioningNodes: string[] = [];
  for (let i = 0; i < plan.provisioningNodes; i++) {
    const node = `vn-${i}`;
    provisioningNodes.push(node);
    await must(api, 'PUT', `/v0/node/${node}`, { obm });
  }
  return { networks, switches, netNodes, powerNodes, provisioningNodes };
}
