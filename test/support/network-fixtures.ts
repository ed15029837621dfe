/**
 * Fixtures for the network, node-networking and maintenance tests: projects,
 * cabled nodes and networks created through the API (every step asserted),
 * plus readers of the state the server and the mock switch wrote.
 */
import assert from 'node:assert/strict';
import type { Caller, TestHil } from './hil.ts';

export const MOCK_SWITCH = 'http://schema.massopencloud.org/haas/v0/switches/mock';
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function ok(call: Promise<{ status: number; text: string }>, what: string, expected = 200): Promise<void> {
  const r = await call;
  assert.equal(r.status, expected, `${what}: ${r.status} ${r.text}`);
}

export async function mkProjects(api: Caller, ...labels: string[]): Promise<void> {
  for (const p of labels) await ok(api('PUT', `/v0/project/${p}`), `create project ${p}`);
}

export async function mkSwitch(api: Caller, sw: string): Promise<void> {
  await ok(api('PUT', `/v0/switch/${sw}`, { type: MOCK_SWITCH, hostname: 'h', username: 'u', password: 'p' }), `register switch ${sw}`);
}

export async function mkPort(api: Caller, sw: string, port: string): Promise<void> {
  await ok(api('PUT', `/v0/switch/${sw}/port/${port}`), `register port ${port}`);
}

export interface NodeSpec {
  node: string;
  nic?: string;
  /** Put the node in this project (omit for a free node). */
  project?: string;
  /** Cable the nic to this port of `sw` (registered here); omit for a port-less nic. */
  port?: string;
  sw?: string;
}

/** Registers a node with one nic, optionally cabled to a (new) port and put in a project. */
export async function mkNode(api: Caller, s: NodeSpec): Promise<void> {
  const nic = s.nic ?? 'eth0';
  await ok(api('PUT', `/v0/node/${s.node}`, { obm: { type: 'mock' } }), `register node ${s.node}`);
  await ok(api('PUT', `/v0/node/${s.node}/nic/${nic}`, { macaddr: 'de:ad:be:ef:00:01' }), `add nic ${nic}`);
  if (s.port) {
    const sw = s.sw ?? 'sw0';
    await mkPort(api, sw, s.port);
    await ok(api('POST', `/v0/switch/${sw}/port/${s.port}/connect_nic`, { node: s.node, nic }), `cable ${s.node}/${nic}`);
  }
  if (s.project) await ok(api('POST', `/v0/project/${s.project}/connect_node`, { node: s.node }), `connect ${s.node} to ${s.project}`);
}

export async function mkNetwork(api: Caller, label: string, owner: string, access = owner, netId = ''): Promise<void> {
  await ok(api('PUT', `/v0/network/${label}`, { owner, access, net_id: netId }), `create network ${label}`);
}

/** Queues connect_network; asserts 202 and a uuid status_id; returns it. */
export async function connect(api: Caller, node: string, nic: string, network: string, channel?: string): Promise<string> {
  const body: Record<string, unknown> = { network };
  if (channel !== undefined) body.channel = channel;
  const r = await api('POST', `/v0/node/${node}/nic/${nic}/connect_network`, body);
  assert.equal(r.status, 202, `connect ${node}/${nic} to ${network}: ${r.status} ${r.text}`);
  assert.match(r.body.status_id, UUID);
  return r.body.status_id;
}

export async function detach(api: Caller, node: string, nic: string, network: string): Promise<string> {
  const r = await api('POST', `/v0/node/${node}/nic/${nic}/detach_network`, { network });
  assert.equal(r.status, 202, `detach ${node}/${nic} from ${network}: ${r.status} ${r.text}`);
  assert.match(r.body.status_id, UUID);
  return r.body.status_id;
}

/** Asserts the answer is an error of the given status and wire type; returns the message. */
export function assertError(r: { status: number; body: any; text: string }, status: number, type: string): string {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body.type, type, r.text);
  assert.equal(typeof r.body.msg, 'string');
  return r.body.msg;
}

/** The mock switch's VLAN state for one port, as the switch recorded it. */
export async function switchPort(t: TestHil, port: string): Promise<Array<{ channel: string; network_id: string }>> {
  const rows = await t.hil.store.db.selectFrom('mock_switch_port').select(['channel', 'network_id']).where('port', '=', port).orderBy('channel').execute();
  return rows.map((r) => ({ channel: r.channel, network_id: r.network_id }));
}

/** network_attachment rows of one node's nics, as (nic, network label, channel). */
export async function attachments(t: TestHil, node: string): Promise<Array<{ nic: string; network: string; channel: string }>> {
  const rows = await t.hil.store.db
    .selectFrom('network_attachment')
    .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
    .innerJoin('node', 'node.id', 'nic.node_id')
    .innerJoin('network', 'network.id', 'network_attachment.network_id')
    .select(['nic.label as nic', 'network.label as network', 'network_attachment.channel'])
    .where('node.label', '=', node)
    .orderBy('network_attachment.channel')
    .execute();
  return rows.map((r) => ({ nic: r.nic, network: r.network, channel: r.channel }));
}

/** The network row as stored (owner label or null, allocated as a boolean). */
export async function networkRow(t: TestHil, label: string) {
  const row = await t.hil.store.db
    .selectFrom('network')
    .leftJoin('project', 'project.id', 'network.owner_id')
    .select(['network.network_id', 'network.allocated', 'project.label as owner'])
    .where('network.label', '=', label)
    .executeTakeFirst();
  return row && { network_id: row.network_id, allocated: Boolean(row.allocated), owner: row.owner };
}

export async function vlanAvailable(t: TestHil, vlan: number): Promise<boolean | undefined> {
  const row = await t.hil.store.db.selectFrom('vlan').select('available').where('vlan_no', '=', vlan).executeTakeFirst();
  return row && Boolean(row.available);
}
