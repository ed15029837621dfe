/**
 * Fills a fresh hil through its own API: N nodes (mock OBM, one nic, two
 * metadata entries) cabled to ports gi1/0/<i> of one mock switch; every
 * tenth node in project "bench", every twentieth of those also on the
 * project's network, so the free list is not everything and a node's view
 * has every part (project, wiring, networks, metadata).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server } from './servers.ts';

export const PROJECT = 'bench';
export const NETWORK = 'bench-net';
export const SWITCH = 'sw0';
export const NIC = 'eth0';

export const nodeLabel = (i: number) => `node-${String(i).padStart(4, '0')}`;
/** In project "bench". */
export const isAllocated = (i: number) => i % 10 === 0;
/** In the project and attached to bench-net (its view shows a network). */
export const isAttached = (i: number) => i % 20 === 0;

export interface Reply {
  status: number;
  body: any;
}

export async function call(server: Server, method: string, path: string, body?: unknown): Promise<Reply> {
  const send = () =>
    fetch(server.url + path, {
      method,
      headers: { ...server.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  let res: Response;
  try {
    res = await send();
  } catch (err) {
    // A pooled keep-alive connection the server closed as idle just as the
    // request went out (after a long synchronous phase of a bench, whose
    // blocked event loop let the server's keep-alive timer lapse). The
    // request went nowhere, so it is sent again, once, on a new connection;
    // had it arrived after all, the repeat's refusal would fail ok() loudly.
    if ((err as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw err;
    res = await send();
  }
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : '' };
}

export async function ok(server: Server, method: string, path: string, body?: unknown): Promise<any> {
  const r = await call(server, method, path, body);
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Polls a networking action every `pollMs` until it is no longer PENDING. */
export async function waitAction(server: Server, statusId: string, pollMs = 1): Promise<{ status: string; polls: number }> {
  for (let polls = 1; ; polls++) {
    const r = await ok(server, 'GET', `/v0/networking_action/${statusId}`);
    if (r.status !== 'PENDING') return { status: r.status, polls };
    await sleep(pollMs);
  }
}

async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < n) await task(next++);
  });
  await Promise.all(workers);
}

export async function populate(server: Server, n: number, concurrency = 8): Promise<void> {
  await ok(server, 'PUT', `/v0/switch/${SWITCH}`, { type: 'mock', hostname: 'h', username: 'u', password: 'p' });
  await ok(server, 'PUT', `/v0/project/${PROJECT}`);
  await ok(server, 'PUT', `/v0/network/${NETWORK}`, { owner: PROJECT, access: PROJECT, net_id: '' });
  await pool(n, concurrency, async (i) => {
    const node = nodeLabel(i);
    const port = `gi1/0/${i}`;
    await ok(server, 'PUT', `/v0/node/${node}`, { obm: { type: 'mock' }, metadata: { rack: `r${i % 40}`, serial: `SN${100000 + i}` } });
    await ok(server, 'PUT', `/v0/node/${node}/nic/${NIC}`, { macaddr: `02:00:00:00:${hex(i >> 8)}:${hex(i & 255)}` });
    await ok(server, 'PUT', `/v0/switch/${SWITCH}/port/${port}`);
    await ok(server, 'POST', `/v0/switch/${SWITCH}/port/${port}/connect_nic`, { node, nic: NIC });
    if (isAllocated(i)) await ok(server, 'POST', `/v0/project/${PROJECT}/connect_node`, { node });
    if (isAttached(i)) {
      const { status_id } = await ok(server, 'POST', `/v0/node/${node}/nic/${NIC}/connect_network`, { network: NETWORK });
      const { status } = await waitAction(server, status_id, 5);
      if (status !== 'DONE') throw new Error(`connecting ${node} to ${NETWORK} ended ${status}`);
    }
  });
  const free = (await ok(server, 'GET', '/v0/nodes/free')) as string[];
  const expected = Array.from({ length: n }, (_, i) => i).filter((i) => !isAllocated(i)).length;
  if (free.length !== expected) throw new Error(`populate: ${free.length} free nodes, expected ${expected}`);
}

const hex = (b: number) => b.toString(16).padStart(2, '0');

/** Nodes whose views the GET /v0/node/<n> run rotates over: one attached, one allocated, eight free. */
export function showRotation(n: number): string[] {
  const picks = [0, 10];
  for (let k = 1; k <= 8; k++) picks.push(Math.floor((k * n) / 10) + 3);
  return picks.map(nodeLabel);
}

/** Nodes the connect/detach cycles rotate over: allocated, not attached. */
export function cycleNodes(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) if (isAllocated(i) && !isAttached(i)) out.push(nodeLabel(i));
  return out;
}
