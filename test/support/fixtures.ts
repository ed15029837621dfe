/** Small worlds to test against: a project whose nodes are cabled to a mock switch. */
import assert from 'node:assert/strict';
import type { Caller } from './hil.ts';

export const MOCK_SWITCH = { type: 'http://schema.massopencloud.org/haas/v0/switches/mock', hostname: 'sw.example', username: 'admin', password: 'switch-secret' };

/** Project `p`, network `net` owned by it, mock switch `sw0`, nodes n1..nN each with eth0 on gi1/0/<i>, all in `p`. */
export async function cabledProject(api: Caller, count: number): Promise<void> {
  const ok = async (method: string, path: string, body?: unknown) => {
    const r = await api(method, path, body);
    assert.equal(r.status, 200, `${method} ${path}: ${r.status} ${r.text}`);
  };
  await ok('PUT', '/v0/project/p');
  await ok('PUT', '/v0/switch/sw0', MOCK_SWITCH);
  for (let i = 1; i <= count; i++) {
    await ok('PUT', `/v0/node/n${i}`, { obm: { type: 'mock' } });
    await ok('PUT', `/v0/node/n${i}/nic/eth0`, { macaddr: `52:54:00:00:00:${i.toString(16).padStart(2, '0')}` });
    await ok('PUT', `/v0/switch/sw0/port/gi1/0/${i}`);
    await ok('POST', `/v0/switch/sw0/port/gi1/0/${i}/connect_nic`, { node: `n${i}`, nic: 'eth0' });
    await ok('POST', '/v0/project/p/connect_node', { node: `n${i}` });
  }
  await ok('PUT', '/v0/network/net', { owner: 'p', access: 'p', net_id: '' });
}

/** Queues connecting n<i>/eth0 to `net`; returns the status_id. */
export async function queueConnect(api: Caller, i: number, network = 'net'): Promise<string> {
  const r = await api('POST', `/v0/node/n${i}/nic/eth0/connect_network`, { network });
  assert.equal(r.status, 202, r.text);
  return r.body.status_id;
}
