/**
 * One chaos run: the line BMC, the HIL processes on a fresh database, the
 * world, the traffic and the faults; then, with the traffic stopped and
 * every action ended (or the wait given up), what the checks need read from
 * the database, the switch log and both APIs. Every process is killed
 * before this returns or throws.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config/config.ts';
import { migrateDatabase } from '../../src/assembly/hil.ts';
import { openStore, type Store } from '../../src/store/db.ts';
import type { MockSwitchCallTable, MockSwitchRefusalTable, MockSwitchTables } from '../../src/drivers/switch/mock-schema.ts';
import type { Selectable } from 'kysely';
import { violations } from '../support/invariants.ts';
import type { TestDatabase } from '../support/databases.ts';
import { Cluster } from './cluster.ts';
import { runFaults, type Fault, type FaultPlan } from './faults.ts';
import { call } from './http.ts';
import { LineBmc } from './line-bmc.ts';
import { Load, type LoadOptions } from './load.ts';
import { buildWorld, PROVISIONING_NETWORK, type World, type WorldPlan } from './world.ts';

export interface ChaosPlan {
  apis: number;
  workers: number;
  world: WorldPlan;
  load: LoadOptions;
  faults: FaultPlan;
  minActions: number;
  minPowerOps: number;
  /** Give up adding traffic after this long (the faults are done by then). */
  maxRunMs: number;
  ttlSeconds: number;
  heartbeatMs: number;
}

export interface FinalState {
  /** Actions still PENDING in the journal after the wait. */
  pendingInDb: number;
  invariantViolations: string[];
  /** Node label → the networks its nic is on, per the database (channel → network label). */
  attachments: Map<string, Record<string, string>>;
  /** Per API: node label → its nic's networks, as GET /v0/node/<n> says. */
  apiViews: Array<{ api: string; nodes: Map<string, Record<string, string>> }>;
  verify: Array<{ api: string; report: any }>;
  switchLog: Array<Selectable<MockSwitchCallTable>>;
  /** Changes the mock switches refused as older than their fencing token. */
  refusals: Array<Selectable<MockSwitchRefusalTable>>;
  switchIds: Map<number, string>;
  nodeLabels: Map<number, string>;
  /** Console sessions open at the BMC at the end, by node. */
  openConsoles: Map<string, number>;
  /** The claim rows at the end (for the messages of failed checks). */
  claimRows: Array<{ resource: string; holder: string | null; generation: number; expires_at: number }>;
}

export interface ChaosRun {
  database: string;
  plan: ChaosPlan;
  world: World;
  load: Load;
  bmc: LineBmc;
  faults: Fault[];
  final: FinalState;
  /** Every pid a HIL process had. */
  pids: number[];
  logDir: string;
  elapsedMs: number;
}

function configText(plan: ChaosPlan, dir: string): string {
  return `
[server]
worker = false
[auth]
backend = "null"
[network]
vlans = "100-199"
[worker]
action_timeout_seconds = 5
max_attempts = 2
retry_backoff_ms = 50
poll_ms = 500
[claims]
ttl_seconds = ${plan.ttlSeconds}
heartbeat_ms = ${plan.heartbeatMs}
[obm]
timeout_seconds = 10
[provisioning]
enabled = true
url = "http://127.0.0.1:9"
network = "${PROVISIONING_NETWORK}"
fpbl_dir = "${join(dir, 'fpbl')}"
boot_timeout_seconds = 3
tick_ms = 100
[log]
level = "info"
`;
}

export async function runChaos(database: TestDatabase, url: string, plan: ChaosPlan): Promise<ChaosRun> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), `hil-chaos-${database.name}-`));
  const bmc = new LineBmc({ latencyMs: [10, 40] });
  await bmc.listen();
  const config = configText(plan, dir);
  const cluster = await Cluster.create({ databaseUrl: url, dir, apis: plan.apis, workers: plan.workers, config });
  await migrateDatabase(loadConfig({ file: join(cluster.dir, 'hil.toml'), env: { HIL_DATABASE_URL: url } }));
  const store = openStore(url);
  try {
    await cluster.startAll();
    const world = await buildWorld(cluster.apiUrls(), plan.world, bmc.port);
    const load = new Load(store.db, () => cluster.apiUrls(), world, plan.load);
    load.start();
    const faults = await runFaults(cluster, store.db, plan.faults);
    const deadline = started + plan.maxRunMs;
    while ((load.actions.length < plan.minActions || load.power.length < plan.minPowerOps) && Date.now() < deadline) await sleep(100);
    await load.stop(30_000);
    await sleep(500); // the last consoles and cycles settle
    const final = await finalState(store, cluster.apiUrls(), world, bmc);
    return { database: database.name, plan, world, load, bmc, faults, final, pids: cluster.allPids(), logDir: dir, elapsedMs: Date.now() - started };
  } finally {
    await cluster.shutdown();
    await bmc.close();
    await store.close();
  }
}

async function finalState(store: Store, apis: string[], world: World, bmc: LineBmc): Promise<FinalState> {
  const db = store.db;
  const pendingInDb = (await db.selectFrom('networking_action').select('id').where('status', '=', 'PENDING').execute()).length;
  const rows = await db
    .selectFrom('network_attachment')
    .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
    .innerJoin('node', 'node.id', 'nic.node_id')
    .innerJoin('network', 'network.id', 'network_attachment.network_id')
    .select(['node.label as node', 'network_attachment.channel', 'network.label as network'])
    .execute();
  const attachments = new Map<string, Record<string, string>>(world.netNodes.map((n) => [n.node, {}]));
  for (const r of rows) {
    if (!attachments.has(r.node)) attachments.set(r.node, {});
    attachments.get(r.node)![r.channel] = r.network;
  }
  const apiViews: FinalState['apiViews'] = [];
  const verify: FinalState['verify'] = [];
  for (const api of apis) {
    const nodes = new Map<string, Record<string, string>>();
    for (const n of world.netNodes) {
      const r = await call(api, 'GET', `/v0/node/${n.node}`);
      nodes.set(n.node, r.body.nics.find((x: { label: string }) => x.label === n.nic).networks);
    }
    apiViews.push({ api, nodes });
    verify.push({ api, report: (await call(api, 'GET', '/v0/verify_networks')).body });
  }
  const mock = db.withTables<MockSwitchTables>();
  const switchLog = await mock.selectFrom('mock_switch_call').selectAll().orderBy('id').execute();
  const refusals = await mock.selectFrom('mock_switch_refusal').selectAll().orderBy('id').execute();
  const switchIds = new Map((await db.selectFrom('switch').select(['id', 'label']).execute()).map((s) => [s.id, s.label]));
  const claimRows = await db.selectFrom('claim').select(['resource', 'holder', 'generation', 'expires_at']).execute();
  const nodeLabels = new Map((await db.selectFrom('node').select(['id', 'label']).execute()).map((n) => [n.id, n.label]));
  return { pendingInDb, invariantViolations: await violations(db), attachments, apiViews, verify, switchLog, refusals, switchIds, nodeLabels, openConsoles: bmc.openConsoles(), claimRows };
}
