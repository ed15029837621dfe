/**
 * Small setup helpers for the functional API tests (test/api/*.test.ts).
 * Every helper goes through the HTTP API and asserts the server accepted the
 * request, so a broken setup step fails loudly where it happens.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitAction, type Caller, type Response, type TestHil } from './hil.ts';

export const MOCK_SWITCH = 'http://schema.massopencloud.org/haas/v0/switches/mock';

/** Asserts an upstream-style error answer: status, `{type, msg}` body, and optionally the message. */
export function assertError(r: Response, status: number, type: string, msg?: string | RegExp): void {
  assert.equal(r.status, status, `expected ${status} ${type}, got ${r.status} ${r.text}`);
  assert.equal(r.body?.type, type, `expected ${type}, got ${r.text}`);
  assert.equal(typeof r.body.msg, 'string');
  if (typeof msg === 'string') assert.equal(r.body.msg, msg);
  else if (msg) assert.match(r.body.msg, msg);
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

export const mkProject = (api: Caller, name: string) => ok(api('PUT', `/v0/project/${name}`), `create project ${name}`);

export const mkNode = (api: Caller, name: string, body: unknown = { obm: { type: 'mock' } }) =>
  ok(api('PUT', `/v0/node/${name}`, body), `register node ${name}`);

export const mkNic = (api: Caller, node: string, nic: string, macaddr = 'de:ad:be:ef:00:01') =>
  ok(api('PUT', `/v0/node/${node}/nic/${nic}`, { macaddr }), `add nic ${node}/${nic}`);

export const mkSwitch = (api: Caller, name: string, type = MOCK_SWITCH) =>
  ok(api('PUT', `/v0/switch/${name}`, { type, hostname: 'sw.example', username: 'admin', password: 'secret' }), `register switch ${name}`);

export const mkPort = (api: Caller, sw: string, port: string) => ok(api('PUT', `/v0/switch/${sw}/port/${port}`), `register port ${sw}/${port}`);

export const cable = (api: Caller, sw: string, port: string, node: string, nic: string) =>
  ok(api('POST', `/v0/switch/${sw}/port/${port}/connect_nic`, { node, nic }), `connect ${node}/${nic} to ${sw}/${port}`);

export const connectNode = (api: Caller, project: string, node: string) =>
  ok(api('POST', `/v0/project/${project}/connect_node`, { node }), `connect node ${node} to ${project}`);

/** A project network (VLAN from the pool). */
export const mkProjectNetwork = (api: Caller, name: string, project: string) =>
  ok(api('PUT', `/v0/network/${name}`, { owner: project, access: project, net_id: '' }), `create network ${name}`);

/** An admin-owned network; access "" makes it public. */
export const mkAdminNetwork = (api: Caller, name: string, access: string) =>
  ok(api('PUT', `/v0/network/${name}`, { owner: 'admin', access, net_id: '' }), `create network ${name}`);

/**
 * A project with a node whose nic is cabled to a mock switch port:
 * project/node/eth0 on sw0/gi1/0/1 (names overridable).
 */
export async function wiredNode(api: Caller, o: { project?: string; node?: string; nic?: string; sw?: string; port?: string } = {}) {
  const w = { project: 'runway', node: 'node-1', nic: 'eth0', sw: 'sw0', port: 'gi1/0/1', ...o };
  if ((await api('GET', `/v0/project/${w.project}/nodes`)).status === 404) await mkProject(api, w.project);
  if ((await api('GET', `/v0/switch/${w.sw}`)).status === 404) await mkSwitch(api, w.sw);
  await mkNode(api, w.node);
  await mkNic(api, w.node, w.nic);
  await mkPort(api, w.sw, w.port);
  await cable(api, w.sw, w.port, w.node, w.nic);
  await connectNode(api, w.project, w.node);
  return w;
}

/** Queues connect_network and returns the status_id (202 expected). */
export async function queueConnect(api: Caller, node: string, nic: string, network: string): Promise<string> {
  const r = await ok(api('POST', `/v0/node/${node}/nic/${nic}/connect_network`, { network }), `connect ${node}/${nic} to ${network}`, 202);
  return r.body.status_id;
}

export async function queueDetach(api: Caller, node: string, nic: string, network: string): Promise<string> {
  const r = await ok(api('POST', `/v0/node/${node}/nic/${nic}/detach_network`, { network }), `detach ${node}/${nic} from ${network}`, 202);
  return r.body.status_id;
}

/** Connects and waits for the worker; asserts the action ended DONE. */
export async function attach(api: Caller, node: string, nic: string, network: string): Promise<void> {
  const action = await waitAction(api, await queueConnect(api, node, nic, network));
  assert.equal(action.status, 'DONE', JSON.stringify(action));
}

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

export interface FakeObmd {
  /** The obmd node URL to register: http://127.0.0.1:<port>/node/<node> */
  uri(node: string): string;
  /** Requests received: method, path and Authorization header. */
  calls: Array<{ method: string; path: string; auth: string | undefined }>;
  /** Answer every request with this status (default 200). */
  failWith: number;
  close(): Promise<void>;
}

/** A stand-in for obmd's admin token routes: POST/DELETE /node/<n>/token. Each POST issues a new token. */
export async function fakeObmd(): Promise<FakeObmd> {
  let n = 0;
  const fake: FakeObmd = {
    calls: [],
    failWith: 200,
    uri: () => '',
    close: async () => {},
  };
  const server = createServer((req, res) => {
    fake.calls.push({ method: req.method ?? '', path: req.url ?? '', auth: req.headers.authorization });
    if (fake.failWith !== 200) return res.writeHead(fake.failWith).end();
    if (req.method === 'POST' && req.url?.endsWith('/token')) {
      n += 1;
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${n}`.padStart(32, 'a') }));
    }
    if (req.method === 'DELETE' && req.url?.endsWith('/token')) return res.writeHead(200).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fake.uri = (node) => `http://127.0.0.1:${port}/node/${node}`;
  fake.close = () => new Promise((resolve) => server.close(() => resolve()));
  return fake;
}
