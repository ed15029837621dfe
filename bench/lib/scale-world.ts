/**
 * The scale benchmark's datacenter (bench/scale.bench.ts, bench/workers.bench.ts):
 * mock switches of 20 ms per change, projects, one public network, and N
 * nodes, all made through hil's own API (several requests at a time), so the
 * rows are exactly what the API writes. Node i has a mock OBM, two metadata
 * entries and one nic cabled to port gi1/0/<i ÷ switches> of switch
 * i mod switches; nine nodes in ten are in project i mod projects (the
 * tenth is free), and one in fifty is on the public network, so that a node
 * view has every part.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createDatabase, withClient } from './pg.ts';
import { NIC, ok, waitAction } from './populate.ts';
import { startHil, startWorker, type Server } from './servers.ts';

export { NIC };
export const NETWORK = 'scale-net';
export const MOCK_SWITCH = 'http://schema.massopencloud.org/haas/v0/switches/mock';

export interface World {
  switches: number;
  projects: number;
  latencyMs: number;
}

export const nodeLabel = (i: number) => `n${String(i).padStart(5, '0')}`;
export const projectLabel = (k: number) => `p${String(k).padStart(3, '0')}`;
export const switchLabel = (k: number) => `sw${String(k).padStart(2, '0')}`;
export const portOf = (w: World, i: number) => ({ switch: switchLabel(i % w.switches), port: `gi1/0/${Math.floor(i / w.switches)}` });
/**
 * Which of 50 kinds node i is; shifted by one every row of switches, so that
 * free and attached nodes are spread over every switch (i mod 10 alone
 * would make switches 9, 19, … all free).
 */
const kind = (w: World, i: number) => (i + Math.floor(i / w.switches)) % 50;
export const isFree = (w: World, i: number) => kind(w, i) % 10 === 9;
export const projectOf = (w: World, i: number) => (isFree(w, i) ? null : projectLabel(i % w.projects));
/** On the public network from the start. */
export const isAttached = (w: World, i: number) => kind(w, i) === 0;
/** Allocated and on no network: free to be connected by a drain run. */
export const isConnectable = (w: World, i: number) => !isFree(w, i) && !isAttached(w, i);

export async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await task(next++);
    }),
  );
}

/**
 * Switches, projects and the network, then nodes 0..n-1, `concurrency`
 * requests at a time. The attachments need a networking worker running
 * (the caller starts one); they are queued last and waited for.
 */
export async function populateWorld(server: Server, w: World, n: number, concurrency = 16): Promise<void> {
  await pool(w.switches, concurrency, (k) =>
    ok(server, 'PUT', `/v0/switch/${switchLabel(k)}`, { type: MOCK_SWITCH, hostname: 'switch.invalid', username: 'admin', password: 'secret', latency_ms: w.latencyMs }),
  );
  await pool(w.projects, concurrency, (k) => ok(server, 'PUT', `/v0/project/${projectLabel(k)}`));
  await ok(server, 'PUT', `/v0/network/${NETWORK}`, { owner: 'admin', access: '', net_id: '' });
  await pool(n, concurrency, async (i) => {
    const node = nodeLabel(i);
    const { switch: sw, port } = portOf(w, i);
    await ok(server, 'PUT', `/v0/node/${node}`, { obm: { type: 'mock' }, metadata: { rack: `r${i % 40}`, serial: `SN${100000 + i}` } });
    await ok(server, 'PUT', `/v0/node/${node}/nic/${NIC}`, { macaddr: `02:00:00:${hex(i >> 16)}:${hex((i >> 8) & 255)}:${hex(i & 255)}` });
    await ok(server, 'PUT', `/v0/switch/${sw}/port/${port}`);
    await ok(server, 'POST', `/v0/switch/${sw}/port/${port}/connect_nic`, { node, nic: NIC });
    const project = projectOf(w, i);
    if (project) await ok(server, 'POST', `/v0/project/${project}/connect_node`, { node });
  });
  const attached = Array.from({ length: n }, (_, i) => i).filter((i) => isAttached(w, i));
  const ids: string[] = [];
  await pool(attached.length, concurrency, async (k) => {
    ids.push((await ok(server, 'POST', `/v0/node/${nodeLabel(attached[k])}/nic/${NIC}/connect_network`, { network: NETWORK })).status_id);
  });
  for (const id of ids) {
    const { status } = await waitAction(server, id, 5);
    if (status !== 'DONE') throw new Error(`populate: an attachment ended ${status}`);
  }
}

const hex = (b: number) => b.toString(16).padStart(2, '0');

/** Checks a populated world through the API: the free list, one project's nodes, two node views. */
export async function verifyWorld(server: Server, w: World, n: number): Promise<void> {
  const all = Array.from({ length: n }, (_, i) => i);
  const free = (await ok(server, 'GET', '/v0/nodes/free')) as string[];
  const wantFree = all.filter((i) => isFree(w, i)).map(nodeLabel).sort();
  if (JSON.stringify(free) !== JSON.stringify(wantFree)) throw new Error(`populate: the free list has ${free.length} nodes, expected ${wantFree.length}`);
  const inP0 = all.filter((i) => projectOf(w, i) === projectLabel(0)).map(nodeLabel);
  // In the order the nodes were made (node id), which the concurrent populate shuffles a little.
  const got = ((await ok(server, 'GET', `/v0/project/${projectLabel(0)}/nodes`)) as string[]).sort();
  if (JSON.stringify(got) !== JSON.stringify(inP0)) throw new Error(`populate: ${projectLabel(0)} has ${got.length} nodes, expected ${inP0.length}`);
  for (const i of [0, n - 1]) {
    const v = await ok(server, 'GET', `/v0/node/${nodeLabel(i)}`);
    const nic = v.nics[0] ?? {};
    const want = { project: projectOf(w, i), ...portOf(w, i), networks: isAttached(w, i) ? [NETWORK] : [], metadata: 2 };
    const seen = { project: v.project, switch: nic.switch, port: nic.port, networks: Object.values(nic.networks ?? {}), metadata: Object.keys(v.metadata).length };
    if (JSON.stringify(seen) !== JSON.stringify(want)) throw new Error(`populate: node ${nodeLabel(i)} is ${JSON.stringify(seen)}, expected ${JSON.stringify(want)}`);
  }
}

/**
 * `count` connectable nodes of nodes 0..n-1, taken round-robin over the
 * switches (so each switch gets its share), skipping the first `skip` of
 * each switch's list (what earlier runs used).
 */
export function spreadNodes(w: World, n: number, count: number, skip = 0): string[] {
  const bySwitch: number[][] = Array.from({ length: w.switches }, () => []);
  for (let i = 0; i < n; i++) if (isConnectable(w, i)) bySwitch[i % w.switches].push(i);
  const per = skip / w.switches;
  const out: string[] = [];
  for (let round = 0; out.length < count; round++) {
    for (const list of bySwitch) {
      const i = list[per + round];
      if (i === undefined) throw new Error(`spreadNodes: too few connectable nodes for ${skip + count} actions`);
      if (out.length < count) out.push(nodeLabel(i));
    }
  }
  return out;
}

export interface LiveWorld {
  api: Server;
  databaseUrl: string;
  populateSeconds: number;
}

/**
 * A new database `name` in the cluster, the API server on it with
 * `[server] worker = false` (null auth), the world of n nodes populated
 * through it (one `serve-networks` worker runs for the attachments, then
 * stops) and checked, and the database VACUUMed into its steady state.
 */
export async function startWorld(o: { adminUrl: string; name: string; workDir: string; world: World; nodes: number }): Promise<LiveWorld> {
  const databaseUrl = await createDatabase(o.adminUrl, o.name);
  const configFile = join(o.workDir, `${o.name}-api.toml`);
  writeFileSync(configFile, '[server]\nworker = false\n');
  const api = await startHil({ name: `${o.name}-api`, databaseUrl, configFile, workDir: o.workDir, auth: 'null', adminPassword: 'unused' });
  try {
    const worker = await startWorker({ name: `${o.name}-populate-worker`, databaseUrl, workDir: o.workDir });
    const t0 = performance.now();
    try {
      await populateWorld(api, o.world, o.nodes);
    } finally {
      await worker.stop();
    }
    const populateSeconds = (performance.now() - t0) / 1000;
    await steadyState(databaseUrl);
    await verifyWorld(api, o.world, o.nodes);
    return { api, databaseUrl, populateSeconds };
  } catch (err) {
    await api.stop();
    throw err;
  }
}

/**
 * VACUUM ANALYZE until the node table is all-visible, as autovacuum leaves a
 * table between bursts of changes: PostgreSQL then reads the free list from
 * its index alone. The cluster commits asynchronously, and VACUUM cannot
 * mark pages whose last change is not flushed yet: one synchronous commit
 * first flushes everything before it. (Now and then a VACUUM still leaves
 * pages unmarked; the next one a second later marks them.)
 */
async function steadyState(databaseUrl: string): Promise<void> {
  await withClient(databaseUrl, async (c) => {
    await c.query('SET synchronous_commit = on');
    for (let attempt = 1; ; attempt++) {
      await c.query('SELECT txid_current()');
      await c.query('VACUUM ANALYZE');
      const { rows } = await c.query(`SELECT relpages, relallvisible FROM pg_class WHERE relname = 'node'`);
      if (rows[0].relallvisible >= rows[0].relpages) return;
      if (attempt === 10) {
        const who = await c.query(`SELECT pid, state, backend_xid, backend_xmin, left(query, 100) AS query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
        process.stderr.write(`warning: VACUUM left ${rows[0].relpages - rows[0].relallvisible} of ${rows[0].relpages} node pages not all-visible; sessions: ${JSON.stringify(who.rows)}\n`);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
}
