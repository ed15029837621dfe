/**
 * Races on networks and on nics joining and leaving them: one action per
 * nic at a time, one network per name and per VLAN, and no network deleted
 * or access revoked under a nic that is (or is about to be) on it.
 */
import assert from 'node:assert/strict';
import { attachments, mkNetwork, mkProject } from '../support/fixtures.ts';
import { BLOCKED, del, DUP, GONE, MISMATCH, post, put, raceSuite, times, winners, type RaceServer, type Scenario } from './harness.ts';
import { attached, cabledNodeAndNetwork, cabledNodes, exists, listed, networkAndOutsider, type Fresh } from './worlds.ts';

const connect = (n: { node: string; nic: string }, network: string) => post(`/v0/node/${n.node}/nic/${n.nic}/connect_network`, { network });
const detach = (n: { node: string; nic: string }, network: string) => post(`/v0/node/${n.node}/nic/${n.nic}/detach_network`, { network });

/** The nic's networks by channel, as the database records them. */
async function networksOf(s: RaceServer, node: string): Promise<Record<string, string>> {
  return Object.fromEntries((await attachments(s.t, node)).map((a) => [a.channel, a.network]));
}

/** A network the project can use but does not own (owned by a new project, access granted). */
async function sharedNetwork(s: RaceServer, fresh: Fresh, project: string): Promise<string> {
  const owner = fresh('owner');
  await mkProject(s.api, owner);
  const net = fresh('shared');
  await mkNetwork(s.api, net, owner);
  assert.equal((await s.api('PUT', `/v0/network/${net}/access/${project}`)).status, 200);
  return net;
}

/** The highest VLAN of the pool that is still free. */
async function freeVlan(s: RaceServer): Promise<string> {
  const row = await s.db.selectFrom('vlan').select('vlan_no').where('available', '=', true).orderBy('vlan_no', 'desc').limit(1).executeTakeFirstOrThrow();
  return String(row.vlan_no);
}

const nicsAndNetworks: Scenario<any>[] = [
  {
    name: 'twenty connects of one nic to one network: one 202, the rest 409',
    setup: cabledNodeAndNetwork,
    contenders: (w) => ({ connect: { requests: times(20, () => connect(w, w.net)), wins: 1, losers: [BLOCKED] } }),
    check: async (s, w) => assert.deepEqual(await networksOf(s, w.node), { 'vlan/native': w.net }),
  },
  {
    name: 'one nic connected to ten networks at once: one 202, the rest 409',
    setup: async (s, fresh) => {
      const w = await cabledNodeAndNetwork(s, fresh);
      const nets = times(10, (i) => fresh(`net${i}`));
      for (const net of nets) await mkNetwork(s.api, net, w.project);
      return { ...w, nets };
    },
    contenders: (w) => ({ connect: { requests: w.nets.map((net: string) => connect(w, net)), wins: 1, losers: [BLOCKED] } }),
    check: async (s, w, a) => assert.deepEqual(await networksOf(s, w.node), { 'vlan/native': winners(a.connect)[0]?.request.body.network }),
  },
  {
    name: 'ten nics connected to one network at once: all succeed',
    setup: async (s, fresh) => {
      const nodes = await cabledNodes(s, fresh, 10);
      const net = fresh('net');
      await mkNetwork(s.api, net, nodes[0].project);
      return { nodes, net };
    },
    contenders: (w) => ({ connect: { requests: w.nodes.map((n: { node: string; nic: string }) => connect(n, w.net)), wins: 10, losers: [] } }),
    check: async (s, w) => {
      const r = await s.api('GET', `/v0/network/${w.net}/attachments`);
      assert.deepEqual(Object.keys(r.body).sort(), w.nodes.map((n: { node: string }) => n.node).sort());
    },
  },
  {
    name: 'twenty detaches of one nic from its network: one 202, the rest refused',
    setup: async (s, fresh) => {
      const w = await cabledNodeAndNetwork(s, fresh);
      await attached(s, w, w.net);
      return w;
    },
    contenders: (w) => ({ detach: { requests: times(20, () => detach(w, w.net)), wins: 1, losers: [BLOCKED, '400 BadArgumentError'] } }),
    check: async (s, w) => assert.deepEqual(await networksOf(s, w.node), {}),
  },
  {
    name: 'connects, detaches and reverts of one nic at once (worker paused): exactly one is queued',
    pauseWorker: true,
    setup: async (s, fresh) => {
      const w = await cabledNodeAndNetwork(s, fresh);
      await attached(s, w, w.net);
      const other = fresh('other');
      await mkNetwork(s.api, other, w.project);
      return { ...w, other };
    },
    contenders: (w) => ({
      // The nic's only channel is taken, so a connect to another network is refused whatever else happens.
      connect: { requests: times(5, () => connect(w, w.other)), wins: 0, losers: [BLOCKED] },
      change: { requests: [...times(5, () => detach(w, w.net)), ...times(5, () => post(`/v0/switch/${w.sw}/port/${w.port}/revert`))], wins: 1, losers: [BLOCKED] },
    }),
    check: async (s, w) => assert.deepEqual(await networksOf(s, w.node), {}),
  },
];

const networks: Scenario<any>[] = [
  {
    name: 'twenty creations of one network name: one 200, the rest 409, one VLAN taken',
    setup: async (s, fresh) => {
      const project = fresh('p');
      await mkProject(s.api, project);
      return { project, net: fresh('net') };
    },
    contenders: (w) => ({ create: { requests: times(20, () => put(`/v0/network/${w.net}`, { owner: w.project, access: w.project, net_id: '' })), wins: 1, losers: [DUP] } }),
    check: async (s, w) => {
      assert.ok(await exists(s, `/v0/network/${w.net}`));
      assert.deepEqual(await listed(s, `/v0/project/${w.project}/networks`), [w.net]);
    },
  },
  {
    name: 'twenty admin networks claiming one VLAN by net_id: one 200, the rest 409',
    setup: async (s, fresh) => ({ vlan: await freeVlan(s), nets: times(20, (i) => fresh(`net${i}`)) }),
    contenders: (w) => ({ create: { requests: w.nets.map((net: string) => put(`/v0/network/${net}`, { owner: 'admin', access: '', net_id: w.vlan })), wins: 1, losers: [BLOCKED] } }),
    check: async (s, w) => {
      const holders = await s.db.selectFrom('network').select('label').where('network_id', '=', w.vlan).execute();
      assert.equal(holders.length, 1, `networks on VLAN ${w.vlan}: ${holders.map((h) => h.label).join(', ')}`);
    },
  },
  {
    name: 'twenty deletions of one network: one 200, the rest 404, its VLAN freed',
    setup: async (s, fresh) => {
      const project = fresh('p');
      await mkProject(s.api, project);
      const net = fresh('net');
      await mkNetwork(s.api, net, project);
      return { project, net };
    },
    contenders: (w) => ({ delete: { requests: times(20, () => del(`/v0/network/${w.net}`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.equal(await exists(s, `/v0/network/${w.net}`), false),
  },
  {
    name: 'deleting a network while a nic connects to it: exactly one succeeds',
    rounds: 10,
    setup: cabledNodeAndNetwork,
    contenders: (w) => ({ either: { requests: [del(`/v0/network/${w.net}`), connect(w, w.net)], wins: 1, losers: [GONE, BLOCKED] } }),
    check: async (s, w, a) => {
      const deleted = winners(a.either).some((x) => x.request.method === 'DELETE');
      assert.equal(await exists(s, `/v0/network/${w.net}`), !deleted);
      assert.deepEqual(await networksOf(s, w.node), deleted ? {} : { 'vlan/native': w.net });
    },
  },
  {
    name: 'deleting a network while access to it is granted: the delete succeeds, no access is left',
    rounds: 10,
    setup: networkAndOutsider,
    contenders: (w) => ({
      delete: { requests: [del(`/v0/network/${w.net}`)], wins: 1, losers: [] },
      grant: { requests: [put(`/v0/network/${w.net}/access/${w.other}`)], wins: [0, 1], losers: [GONE] },
    }),
    check: async (s, w) => {
      assert.equal(await exists(s, `/v0/network/${w.net}`), false);
      assert.deepEqual(await listed(s, `/v0/project/${w.other}/networks`), []);
    },
  },
  {
    name: 'twenty grants of one project’s access to a network: one 200, the rest 409',
    setup: networkAndOutsider,
    contenders: (w) => ({ grant: { requests: times(20, () => put(`/v0/network/${w.net}/access/${w.other}`)), wins: 1, losers: [DUP] } }),
    check: async (s, w) => assert.deepEqual(await listed(s, `/v0/project/${w.other}/networks`), [w.net]),
  },
  {
    name: 'twenty revocations of one project’s access: one 200, the rest 404',
    setup: async (s, fresh) => {
      const other = fresh('q');
      await mkProject(s.api, other);
      return { net: await sharedNetwork(s, fresh, other), other };
    },
    contenders: (w) => ({ revoke: { requests: times(20, () => del(`/v0/network/${w.net}/access/${w.other}`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.deepEqual(await listed(s, `/v0/project/${w.other}/networks`), []),
  },
  {
    name: 'revoking a project’s access while its node connects to the network (worker paused): exactly one succeeds',
    rounds: 10,
    // Paused, the connect stays queued while the revoke runs, whichever comes first.
    pauseWorker: true,
    setup: async (s, fresh) => {
      const [n] = await cabledNodes(s, fresh, 1);
      return { ...n, net: await sharedNetwork(s, fresh, n.project) };
    },
    contenders: (w) => ({ either: { requests: [del(`/v0/network/${w.net}/access/${w.project}`), connect(w, w.net)], wins: 1, losers: [BLOCKED, MISMATCH] } }),
    check: async (s, w, a) => {
      const revoked = winners(a.either).some((x) => x.request.method === 'DELETE');
      assert.deepEqual(await networksOf(s, w.node), revoked ? {} : { 'vlan/native': w.net });
    },
  },
  {
    name: 'deleting a project while a network it owns is created: exactly one succeeds',
    rounds: 10,
    setup: async (s, fresh) => {
      const project = fresh('p');
      await mkProject(s.api, project);
      return { project, net: fresh('net') };
    },
    contenders: (w) => ({
      either: { requests: [del(`/v0/project/${w.project}`), put(`/v0/network/${w.net}`, { owner: w.project, access: w.project, net_id: '' })], wins: 1, losers: [GONE, BLOCKED] },
    }),
    check: async (s, w, a) => {
      const deleted = winners(a.either).some((x) => x.request.method === 'DELETE');
      assert.equal(await exists(s, `/v0/network/${w.net}`), !deleted);
    },
  },
  {
    name: 'deleting a project while it is granted access to a network: exactly one succeeds',
    rounds: 10,
    setup: networkAndOutsider,
    contenders: (w) => ({ either: { requests: [del(`/v0/project/${w.other}`), put(`/v0/network/${w.net}/access/${w.other}`)], wins: 1, losers: [GONE, BLOCKED] } }),
    check: async (s, w, a) => {
      const deleted = winners(a.either).some((x) => x.request.method === 'DELETE');
      assert.deepEqual((await s.api('GET', `/v0/network/${w.net}`)).body.access.length, deleted ? 1 : 2);
    },
  },
];

raceSuite('networking races', [...nicsAndNetworks, ...networks]);
