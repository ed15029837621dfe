/**
 * Shared fixtures for the API and networking tests: answer assertions,
 * builders that create projects, nodes, switches and networks through the
 * HTTP API (every step asserted, so a broken setup step fails loudly where it
 * happens), node-networking calls, readers of the state the server and the
 * mock switch wrote, and helpers for streaming responses.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { mockSwitchDb, waitAction, type Caller, type Response, type TestHil } from './hil.ts';

export const MOCK_SWITCH = 'http://schema.massopencloud.org/haas/v0/switches/mock';
/** The mock switch's connection fields (any strings will do). */
export const SWITCH_FIELDS = { hostname: 'sw.example', username: 'admin', password: 'secret' };
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// ---------------------------------------------------------------- answers

/** Asserts an upstream-style error answer: status, `{type, msg}` body, and optionally the message; returns the message. */
export function assertError(r: Response, status: number, type: string, msg?: string | RegExp): string {
  assert.equal(r.status, status, `expected ${status} ${type}, got ${r.status} ${r.text}`);
  assert.equal(r.body?.type, type, `expected ${type}, got ${r.text}`);
  assert.equal(typeof r.body.msg, 'string');
  if (typeof msg === 'string') assert.equal(r.body.msg, msg);
  else if (msg) assert.match(r.body.msg, msg);
  return r.body.msg;
}

/** Asserts a 200 with an empty body (upstream's answer for calls that return nothing). */
export function assertEmptyOk(r: Response): void {
  assert.equal(r.status, 200, `expected 200, got ${r.status} ${r.text}`);
  assert.equal(r.text, '');
}

async function ok(p: Promise<Response>, what: string, status = 200): Promise<Response> {
  const r = await p;
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  return r;
}

// ---------------------------------------------------------------- builders

export const mkProject = (api: Caller, name: string) => ok(api('PUT', `/v0/project/${name}`), `create project ${name}`);

export async function mkProjects(api: Caller, ...names: string[]): Promise<void> {
  for (const name of names) await mkProject(api, name);
}

export const mkNode = (api: Caller, name: string, body: unknown = { obm: { type: 'mock' } }) =>
  ok(api('PUT', `/v0/node/${name}`, body), `register node ${name}`);

export const mkNic = (api: Caller, node: string, nic: string, macaddr = 'de:ad:be:ef:00:01') =>
  ok(api('PUT', `/v0/node/${node}/nic/${nic}`, { macaddr }), `add nic ${node}/${nic}`);

/** A mock switch. */
export const mkSwitch = (api: Caller, name: string) =>
  ok(api('PUT', `/v0/switch/${name}`, { type: MOCK_SWITCH, ...SWITCH_FIELDS }), `register switch ${name}`);

export const mkPort = (api: Caller, sw: string, port: string) => ok(api('PUT', `/v0/switch/${sw}/port/${port}`), `register port ${sw}/${port}`);

export const cable = (api: Caller, sw: string, port: string, node: string, nic: string) =>
  ok(api('POST', `/v0/switch/${sw}/port/${port}/connect_nic`, { node, nic }), `connect ${node}/${nic} to ${sw}/${port}`);

export const connectNode = (api: Caller, project: string, node: string) =>
  ok(api('POST', `/v0/project/${project}/connect_node`, { node }), `connect node ${node} to ${project}`);

/** A network: owner "admin" for an admin network, access "" for a public one, net_id "" for a VLAN from the pool. */
export const mkNetwork = (api: Caller, name: string, owner: string, access = owner, netId = '') =>
  ok(api('PUT', `/v0/network/${name}`, { owner, access, net_id: netId }), `create network ${name}`);

export interface NodeSpec {
  node: string;
  /** Default eth0. */
  nic?: string;
  /** Default de:ad:be:ef:00:01. */
  macaddr?: string;
  /** Put the node in this (existing) project; omit for a free node. */
  project?: string;
  /** Cable the nic to this port of `sw` (registered here); omit for a port-less nic. */
  port?: string;
  /** An existing switch; default sw0. */
  sw?: string;
}

/** Registers a node with one nic, optionally cabled to a new port and put in a project. */
export async function mkNodeWithNic(api: Caller, s: NodeSpec): Promise<void> {
  const nic = s.nic ?? 'eth0';
  await mkNode(api, s.node);
  await mkNic(api, s.node, nic, s.macaddr);
  if (s.port) {
    const sw = s.sw ?? 'sw0';
    await mkPort(api, sw, s.port);
    await cable(api, sw, s.port, s.node, nic);
  }
  if (s.project) await connectNode(api, s.project, s.node);
}

/**
 * A project with a node whose nic is cabled to a mock switch port:
 * project/node/eth0 on sw0/gi1/0/1 (names overridable). The project and the
 * switch are created unless they exist.
 */
export async function wiredNode(api: Caller, o: { project?: string; node?: string; nic?: string; sw?: string; port?: string } = {}) {
  const w = { project: 'runway', node: 'node-1', nic: 'eth0', sw: 'sw0', port: 'gi1/0/1', ...o };
  if ((await api('GET', `/v0/project/${w.project}/nodes`)).status === 404) await mkProject(api, w.project);
  if ((await api('GET', `/v0/switch/${w.sw}`)).status === 404) await mkSwitch(api, w.sw);
  await mkNodeWithNic(api, w);
  return w;
}

/** Project `p`, network `net` owned by it, mock switch `sw0`, nodes n1..nN each with eth0 on gi1/0/<i>, all in `p`. */
export async function cabledProject(api: Caller, count: number): Promise<void> {
  await mkProject(api, 'p');
  await mkSwitch(api, 'sw0');
  for (let i = 1; i <= count; i++) {
    await mkNodeWithNic(api, { node: `n${i}`, project: 'p', port: `gi1/0/${i}`, macaddr: `52:54:00:00:00:${i.toString(16).padStart(2, '0')}` });
  }
  await mkNetwork(api, 'net', 'p');
}

// ---------------------------------------------------------------- node networking

/** Queues connect_network; asserts 202 and a uuid status_id; returns it. */
export async function queueConnect(api: Caller, node: string, nic: string, network: string, channel?: string): Promise<string> {
  const body: Record<string, unknown> = { network };
  if (channel !== undefined) body.channel = channel;
  const r = await ok(api('POST', `/v0/node/${node}/nic/${nic}/connect_network`, body), `connect ${node}/${nic} to ${network}`, 202);
  assert.match(r.body.status_id, UUID);
  return r.body.status_id;
}

/** Queues detach_network; asserts 202 and a uuid status_id; returns it. */
export async function queueDetach(api: Caller, node: string, nic: string, network: string): Promise<string> {
  const r = await ok(api('POST', `/v0/node/${node}/nic/${nic}/detach_network`, { network }), `detach ${node}/${nic} from ${network}`, 202);
  assert.match(r.body.status_id, UUID);
  return r.body.status_id;
}

/** Connects and waits for the worker; asserts the action ended DONE. */
export async function attach(api: Caller, node: string, nic: string, network: string): Promise<void> {
  const action = await waitAction(api, await queueConnect(api, node, nic, network));
  assert.equal(action.status, 'DONE', JSON.stringify(action));
}

/** Detaches and waits for the worker; asserts the action ended DONE. */
export async function detach(api: Caller, node: string, nic: string, network: string): Promise<void> {
  const action = await waitAction(api, await queueDetach(api, node, nic, network));
  assert.equal(action.status, 'DONE', JSON.stringify(action));
}

/** Runs `fn` with the in-process networking worker stopped, so queued actions stay PENDING. */
export async function withWorkerPaused(t: TestHil, fn: () => Promise<void>): Promise<void> {
  const worker = t.hil.worker;
  assert.ok(worker, 'this test needs the in-process networking worker');
  await worker.stop();
  try {
    await fn();
  } finally {
    await worker.start();
  }
}

// ---------------------------------------------------------------- stored state

/** The mock switch's VLAN state for one port, as the switch recorded it. */
export async function switchPort(t: TestHil, port: string): Promise<Array<{ channel: string; network_id: string }>> {
  const rows = await mockSwitchDb(t).selectFrom('mock_switch_port').select(['channel', 'network_id']).where('port', '=', port).orderBy('channel').execute();
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

// ---------------------------------------------------------------- streams

/** Races a promise against a timer (cleared afterwards so it never keeps the process alive). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  const ctl = new AbortController();
  try {
    return await Promise.race([p, sleep(Math.max(ms, 0), 'timeout' as const, { signal: ctl.signal })]);
  } finally {
    ctl.abort();
  }
}

/** Reads a streaming response until `want` bytes arrived (or the stream ended); returns the text. */
export async function readAtLeast(reader: ReadableStreamDefaultReader<Uint8Array>, want: number, timeoutMs = 3000): Promise<string> {
  const chunks: Buffer[] = [];
  let got = 0;
  const deadline = Date.now() + timeoutMs;
  while (got < want) {
    const r = await within(reader.read(), deadline - Date.now());
    if (r === 'timeout') throw new Error(`stream gave only ${got} of ${want} bytes in ${timeoutMs} ms`);
    if (r.done) break;
    chunks.push(Buffer.from(r.value));
    got += r.value.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Resolves true once the stream ends (draining what is left), false if it is still open after `timeoutMs`. */
export async function streamEnds(reader: ReadableStreamDefaultReader<Uint8Array>, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await within(
      reader.read().catch(() => ({ done: true as const, value: undefined })),
      deadline - Date.now(),
    );
    if (r === 'timeout') return false;
    if (r.done) return true;
  }
}

/** Starts the test HIL's HTTP server on a free loopback port; returns its base URL. */
export async function listen(t: TestHil): Promise<string> {
  return t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
}

/** What GET /v0/image/<i> answers for the disk fields of a kexec image (no disk, not a snapshot). */
export const NO_DISK = { disk: null, virtual_size: null, state: 'ready', error: null, parent: null, snapshot_of: null, progress: null } as const;
