/**
 * The free list with migration 0006's indexes against the schema before it
 * (the project index over every node, no free-list index), on the same
 * PostgreSQL database and API server, in interleaved rounds. The API
 * server's queries are planned afresh on every execution (unnamed
 * statements), so switching the indexes between rounds switches its plan.
 */
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/store/db.ts';
import { up as migration0006 } from '../../src/store/migrations/0006-free-nodes-index.ts';
import { median } from './measure.ts';
import { medianSample, sample, type LoadOptions, type Sample } from './growth.ts';
import type { Server } from './servers.ts';

export type Variant = 'before' | 'after';

export interface FreeListResult {
  variants: Record<Variant, { plan: string; executionMs: number; median: Sample; rounds: Sample[] }>;
  /** Medians of per-round ratios: before's database CPU per request ÷ after's; after's req/s ÷ before's. */
  dbCpuRatio: number;
  rpsRatio: number;
}

async function use(store: Store, v: Variant): Promise<void> {
  const db = store.db;
  if (v === 'before') {
    await sql`drop index node_free_label_idx`.execute(db);
    await sql`drop index node_project_idx`.execute(db);
    await db.schema.createIndex('node_project_idx').on('node').column('project_id').execute(); // as 0001-init made it
  } else {
    await migration0006(db, store.kind);
  }
  await sql`analyze node`.execute(db);
}

/** The plan's outer node and the median execution time of 9 EXPLAIN ANALYZE runs. */
async function explain(store: Store): Promise<{ plan: string; executionMs: number }> {
  const db = store.db;
  const q = db.selectFrom('node').select('label').where('project_id', 'is', null).orderBy('label').compile();
  const runs: Array<{ plan: string; ms: number }> = [];
  for (let k = 0; k < 9; k++) {
    const { rows } = await sql.raw<{ 'QUERY PLAN': Array<{ Plan: { 'Node Type': string; 'Index Name'?: string; Plans?: Array<{ 'Node Type': string; 'Index Name'?: string }> }; 'Execution Time': number }> }>(
      `explain (analyze, format json) ${q.sql}`,
    ).execute(db);
    const top = rows[0]['QUERY PLAN'][0];
    const name = (n: { 'Node Type': string; 'Index Name'?: string }) => `${n['Node Type']}${n['Index Name'] ? ` (${n['Index Name']})` : ''}`;
    runs.push({ plan: [top.Plan, ...(top.Plan.Plans ?? [])].map(name).join(' ← '), ms: top['Execution Time'] });
  }
  return { plan: runs[0].plan, executionMs: median(runs.map((r) => r.ms)) };
}

export async function freeListBeforeAfter(api: Server, databaseUrl: string, o: LoadOptions, dbCpu: () => number, log: (m: string) => void): Promise<FreeListResult> {
  const store = openStore(databaseUrl, { poolSize: 1 });
  const rounds: Record<Variant, Sample[]> = { before: [], after: [] };
  const plans = {} as Record<Variant, { plan: string; executionMs: number }>;
  let current: Variant = 'after';
  try {
    for (let r = 0; r < o.rounds; r++) {
      for (const v of r % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
        if (v !== current) await use(store, (current = v));
        plans[v] ??= await explain(store);
        rounds[v].push(await sample(api, ['/v0/nodes/free'], o, dbCpu));
        log(`free list ${v} migration 0006, round ${r + 1}: ${Math.round(rounds[v][r].rps)} req/s, database ${Math.round(rounds[v][r].dbCpuUs)} µs CPU/req`);
      }
    }
  } finally {
    if (current !== 'after') await use(store, 'after');
    await store.close();
  }
  const variants = Object.fromEntries((['before', 'after'] as const).map((v) => [v, { ...plans[v], median: medianSample(rounds[v]), rounds: rounds[v] }])) as FreeListResult['variants'];
  return {
    variants,
    dbCpuRatio: median(rounds.after.map((a, i) => rounds.before[i].dbCpuUs / a.dbCpuUs)),
    rpsRatio: median(rounds.after.map((a, i) => a.rps / rounds.before[i].rps)),
  };
}
