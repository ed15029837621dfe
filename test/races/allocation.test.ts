/**
 * Races on nodes entering and leaving projects, and on their OBM: a free
 * node goes to exactly one project, leaves it exactly once, and never leaves
 * while something (a queued network change, an enabled OBM) still holds it.
 */
import assert from 'node:assert/strict';
import { mkProject } from '../support/fixtures.ts';
import { BLOCKED, GONE, MISMATCH, post, put, raceSuite, times, winners, type RaceServer, type Scenario } from './harness.ts';
import { cabledNodeAndNetwork, cabledNodes, freeNode, projectOf, type Fresh } from './worlds.ts';

/** A free node put in a new project. */
async function nodeInProject(s: RaceServer, fresh: Fresh) {
  const project = fresh('p');
  await mkProject(s.api, project);
  const node = await freeNode(s, fresh);
  assert.equal((await s.api('POST', `/v0/project/${project}/connect_node`, { node })).status, 200);
  return { project, node };
}

/**
 * detach_node and connect_network on the node's nic at once: sequentially,
 * a detach first makes the connect a 409 (no project), a connect first makes
 * the detach a 409 (pending action, or attached once the worker applied it).
 * With the worker paused the connect is still pending when the detach runs.
 */
function detachWhileConnecting(o: { pauseWorker: boolean }): Scenario<any> {
  return {
    name: `detaching a node while one of its nics is connected to a network${o.pauseWorker ? ' (worker paused)' : ''}: exactly one succeeds`,
    rounds: 10,
    pauseWorker: o.pauseWorker,
    setup: async (s, fresh) => cabledNodeAndNetwork(s, fresh),
    contenders: (w) => ({
      either: {
        requests: [post(`/v0/project/${w.project}/detach_node`, { node: w.node }), post(`/v0/node/${w.node}/nic/${w.nic}/connect_network`, { network: w.net })],
        wins: 1,
        losers: [BLOCKED, MISMATCH],
      },
    }),
    check: async (s, w, a) => {
      const detached = winners(a.either).some((x) => x.request.path.endsWith('/detach_node'));
      assert.equal(await projectOf(s, w.node), detached ? null : w.project);
      const nic = (await s.api('GET', `/v0/node/${w.node}`)).body.nics[0];
      assert.deepEqual(nic.networks, detached ? {} : { 'vlan/native': w.net });
    },
  };
}

const scenarios: Scenario<any>[] = [
  {
    name: 'twenty requests of one project for one free node: one 200, the rest 409',
    setup: async (s, fresh) => {
      const project = fresh('p');
      await mkProject(s.api, project);
      return { project, node: await freeNode(s, fresh), member: await s.user({ projects: [project] }) };
    },
    contenders: (w) => ({ connect: { requests: times(20, () => post(`/v0/project/${w.project}/connect_node`, { node: w.node }, w.member)), wins: 1, losers: [BLOCKED] } }),
    check: async (s, w) => assert.equal(await projectOf(s, w.node), w.project),
  },
  {
    name: 'ten projects grabbing one free node: one gets it, the node is in that one',
    setup: async (s, fresh) => {
      const projects = times(10, (i) => fresh(`p${i}`));
      for (const p of projects) await mkProject(s.api, p);
      return { projects, node: await freeNode(s, fresh) };
    },
    contenders: (w) => ({ connect: { requests: w.projects.map((p: string) => post(`/v0/project/${p}/connect_node`, { node: w.node })), wins: 1, losers: [BLOCKED] } }),
    check: async (s, w, a) => {
      const won = winners(a.connect)[0]?.request.path.split('/')[3];
      assert.equal(await projectOf(s, w.node), won);
    },
  },
  {
    name: 'twenty detachments of one node by its project: one 200, the rest 404',
    setup: async (s, fresh) => {
      const w = await nodeInProject(s, fresh);
      return { ...w, member: await s.user({ projects: [w.project] }) };
    },
    contenders: (w) => ({ detach: { requests: times(20, () => post(`/v0/project/${w.project}/detach_node`, { node: w.node }, w.member)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.equal(await projectOf(s, w.node), null),
  },
  detachWhileConnecting({ pauseWorker: false }),
  detachWhileConnecting({ pauseWorker: true }),
  {
    name: "ten detachments by the node's project while ten requests of another project take it: one detach, at most one take, and a take sticks",
    setup: async (s, fresh) => {
      const w = await nodeInProject(s, fresh);
      const other = fresh('q');
      await mkProject(s.api, other);
      return { ...w, other };
    },
    contenders: (w) => ({
      detach: { requests: times(10, () => post(`/v0/project/${w.project}/detach_node`, { node: w.node })), wins: 1, losers: [GONE] },
      take: { requests: times(10, () => post(`/v0/project/${w.other}/connect_node`, { node: w.node })), wins: [0, 1], losers: [BLOCKED] },
    }),
    check: async (s, w, a) => {
      const taken = winners(a.take).length > 0;
      assert.equal(await projectOf(s, w.node), taken ? w.other : null, taken ? `project ${w.other} was told it has the node` : 'no take succeeded, the detach did');
    },
  },
  {
    name: 'a member enabling the OBM while the node is detached from the project: exactly one succeeds',
    rounds: 10,
    setup: async (s, fresh) => {
      const w = await nodeInProject(s, fresh);
      return { ...w, member: await s.user({ projects: [w.project] }) };
    },
    contenders: (w) => ({
      either: {
        requests: [put(`/v0/node/${w.node}/obm`, { enabled: true }, w.member), post(`/v0/project/${w.project}/detach_node`, { node: w.node }, w.member)],
        wins: 1,
        losers: [BLOCKED, '401 AuthorizationError'],
      },
    }),
    check: async (s, w, a) => {
      const detached = winners(a.either).some((x) => x.request.path.endsWith('/detach_node'));
      const row = await s.db.selectFrom('node').select(['project_id', 'obm_enabled']).where('label', '=', w.node).executeTakeFirstOrThrow();
      assert.equal(row.project_id === null, detached, 'node free exactly when the detach won');
      assert.equal(Boolean(row.obm_enabled), !detached, 'OBM enabled exactly when the enable won');
    },
  },
  {
    name: 'twenty OBM enables and disables of one node: all succeed, and the console follows the flag',
    setup: async (s, fresh) => nodeInProject(s, fresh),
    contenders: (w) => ({ toggle: { requests: times(20, (i) => put(`/v0/node/${w.node}/obm`, { enabled: i % 2 === 0 })), wins: 20, losers: [] } }),
    check: async (s, w) => {
      const row = await s.db.selectFrom('node').select(['id', 'obm_enabled']).where('label', '=', w.node).executeTakeFirstOrThrow();
      assert.equal(s.t.hil.deps.consoles.running(row.id), Boolean(row.obm_enabled), 'console held exactly when the OBM is enabled');
      // Leave the node as it was found, so a later round starts clean.
      await s.api('PUT', `/v0/node/${w.node}/obm`, { enabled: false });
    },
  },
  {
    name: 'detaching ten nodes of one project at once: all succeed',
    setup: async (s, fresh) => ({ nodes: await cabledNodes(s, fresh, 10) }),
    contenders: (w) => ({ detach: { requests: w.nodes.map((n: { project: string; node: string }) => post(`/v0/project/${n.project}/detach_node`, { node: n.node })), wins: 10, losers: [] } }),
    check: async (s, w) => {
      for (const n of w.nodes) assert.equal(await projectOf(s, n.node), null);
    },
  },
];

raceSuite('node allocation races', scenarios);
