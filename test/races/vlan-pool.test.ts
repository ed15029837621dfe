/**
 * Races on the VLAN pool, on a server of its own with a small pool: every
 * round first fills the pool through the API until exactly the number of
 * VLANs it wants is left, so "more requests than VLANs" is exact. No VLAN
 * is ever handed out twice, and running out is a clean refusal, not a 500.
 */
import assert from 'node:assert/strict';
import { mkNetwork, mkProject } from '../support/fixtures.ts';
import { del, put, raceSuite, times, type RaceServer, type Scenario } from './harness.ts';
import { type Fresh } from './worlds.ts';

/** What a request for a VLAN from an empty pool may answer (issue 14, finding 6: a 409, not a 500). */
const EXHAUSTED = ['409 AllocationError', '409 BlockedError'];

/** Deletes every network (none is attached to anything here), then takes VLANs until exactly `left` are free. */
async function poolWith(s: RaceServer, fresh: Fresh, left: number): Promise<void> {
  for (const net of Object.keys((await s.api('GET', '/v0/networks')).body)) {
    const r = await s.api('DELETE', `/v0/network/${net}`);
    assert.equal(r.status, 200, `delete network ${net}: ${r.text}`);
  }
  const free = (await s.db.selectFrom('vlan').select('vlan_no').where('available', '=', true).execute()).length;
  assert.ok(free >= left, `the pool has ${free} VLANs, fewer than ${left}`);
  for (let i = 0; i < free - left; i++) await mkNetwork(s.api, fresh(`filler${i}`), 'admin', '');
}

async function projects(s: RaceServer, fresh: Fresh, n: number): Promise<string[]> {
  const out = times(n, (i) => fresh(`p${i}`));
  for (const p of out) await mkProject(s.api, p);
  return out;
}

const scenarios: Scenario<any>[] = [
  {
    name: 'twenty projects creating networks with ten VLANs left: exactly ten succeed, each on its own VLAN',
    setup: async (s, fresh) => {
      await poolWith(s, fresh, 10);
      return { projects: await projects(s, fresh, 20) };
    },
    contenders: (w) => ({
      create: { requests: w.projects.map((p: string) => put(`/v0/network/net-${p}`, { owner: p, access: p, net_id: '' })), wins: 10, losers: EXHAUSTED },
    }),
    check: async (s, w) => {
      const rows = await s.db.selectFrom('network').select(['label', 'network_id']).where('label', 'in', w.projects.map((p: string) => `net-${p}`)).execute();
      assert.equal(rows.length, 10, `networks made: ${rows.map((r) => r.label).join(', ')}`);
      assert.equal(new Set(rows.map((r) => r.network_id)).size, 10, 'on distinct VLANs');
      const free = await s.db.selectFrom('vlan').select('vlan_no').where('available', '=', true).execute();
      assert.deepEqual(free, [], 'the pool is empty');
    },
  },
  {
    name: 'deleting a network of a full pool while five networks are created: the delete succeeds, at most one create gets its VLAN',
    setup: async (s, fresh) => {
      await poolWith(s, fresh, 1);
      const [project] = await projects(s, fresh, 1);
      const victim = fresh('victim');
      await mkNetwork(s.api, victim, project);
      return { project, victim, nets: times(5, (i) => fresh(`net${i}`)) };
    },
    contenders: (w) => ({
      delete: { requests: [del(`/v0/network/${w.victim}`)], wins: 1, losers: [] },
      create: { requests: w.nets.map((net: string) => put(`/v0/network/${net}`, { owner: w.project, access: w.project, net_id: '' })), wins: [0, 1], losers: EXHAUSTED },
    }),
  },
];

raceSuite('VLAN pool races', scenarios, { config: (c) => (c.network.vlans = '100-139') });
