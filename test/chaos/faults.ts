/**
 * The chaos test's faults, one at a time: SIGKILL a random process and start
 * it again at once, and (once or twice, between the kills) SIGSTOP a worker
 * for longer than its claims' TTL, then SIGCONT it. One at a time keeps at least one API and one worker
 * alive at every moment (the other of each role is up while a victim
 * restarts), so what the takeover times measure is the claims passing on,
 * not a restart. Before each fault, what the victim holds is written down:
 * its claims, and the actions PENDING on the switches it holds, so that
 * the takeover (fault → next of those actions DONE) can be measured.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../../src/store/db.ts';
import type { Database } from '../../src/store/schema.ts';
import type { Cluster, Slot } from './cluster.ts';

export interface Fault {
  signal: 'SIGKILL' | 'SIGSTOP';
  slot: string;
  role: Slot['role'];
  pid: number;
  at: number;
  /** SIGSTOP: when SIGCONT was sent. */
  resumedAt?: number;
  /** Claims the victim held just before (resources). */
  claims: string[];
  /** Actions left PENDING on the switches it held, just after the fault. */
  pendingOnItsSwitches: string[];
  /** Nodes (ids) whose power cycle the victim held and left unfinished: their rows still in power-cycling just after. */
  cyclesLeft: number[];
  /** SIGSTOP on PostgreSQL: sessions left in a transaction, and sessions waiting on a lock, just before SIGCONT. */
  stuck?: string[];
}

export interface FaultPlan {
  kills: number;
  /** How many times a worker is paused (SIGSTOP), each time for `pauseMs`. */
  pauses: number;
  /** How long the paused worker stays paused (longer than the TTL). */
  pauseMs: number;
  /** Pause between faults, drawn from [min, max] ms. */
  gapMs: [number, number];
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** Claims held by the process with this pid (its holder id is host:pid:nonce). */
async function claimsOf(db: Kysely<Database>, pid: number): Promise<string[]> {
  const rows = await db.selectFrom('claim').select('resource').where('holder', 'like', `%:${pid}:%`).where('expires_at', '>', Date.now()).execute();
  return rows.map((r) => r.resource);
}

async function pendingOn(db: Kysely<Database>, switchIds: number[]): Promise<string[]> {
  if (switchIds.length === 0) return [];
  const rows = await db
    .selectFrom('networking_action')
    .innerJoin('nic', 'nic.id', 'networking_action.nic_id')
    .innerJoin('port', 'port.id', 'nic.port_id')
    .select('networking_action.uuid')
    .where('networking_action.status', '=', 'PENDING')
    .where('port.switch_id', 'in', switchIds)
    .execute();
  return rows.map((r) => r.uuid);
}

/**
 * Waits (a few seconds at most) until the victim holds work that its fault
 * will interrupt: a worker, a switch with at least two actions PENDING (one
 * may be on its way to the switch, the next is then left for the takeover);
 * an API, any claim (a BMC call, a power cycle).
 */
async function whenBusy(db: Kysely<Database>, pid: number, role: Slot['role']): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const held = await claimsOf(db, pid);
    if (role === 'api' && held.length > 0) return;
    if (role === 'worker' && (await pendingOn(db, switchesIn(held))).length >= 2) return;
    await sleep(5);
  }
}

const switchesIn = (claims: string[]) => claims.filter((c) => c.startsWith('switch:')).map((c) => Number(c.slice('switch:'.length)));

/** Signals the victim, noting what it held just before, and what it left PENDING on its switches just after. */
async function strike(db: Kysely<Database>, slot: Slot, signal: Fault['signal'], act: () => Promise<void>): Promise<Fault> {
  const pid = slot.child!.proc.pid!;
  await whenBusy(db, pid, slot.role);
  const claims = await claimsOf(db, pid);
  const at = Date.now();
  await act();
  const cycling = claims.filter((c) => c.startsWith('power-cycle:')).map((c) => Number(c.slice('power-cycle:'.length)));
  const cyclesLeft = cycling.length ? (await db.selectFrom('node_provisioning').select('node_id').where('node_id', 'in', cycling).where('phase', '=', 'power-cycling').execute()).map((r) => r.node_id) : [];
  return { signal, slot: slot.name, role: slot.role, pid, at, claims, pendingOnItsSwitches: await pendingOn(db, switchesIn(claims)), cyclesLeft };
}

/** What a paused process may leave behind on PostgreSQL: its transaction open, and others waiting on its locks. */
async function stuckSessions(db: Kysely<Database>): Promise<string[] | undefined> {
  if (dialectOf(db) !== 'postgres') return undefined;
  const rows = await sql<{ state: string; wait: string | null; ms: number; query: string }>`
    select state, wait_event_type as wait, (extract(epoch from now() - state_change) * 1000)::int as ms, left(query, 60) as query
    from pg_stat_activity
    where datname = current_database()
      and ((state = 'idle in transaction' and now() - state_change > interval '500 ms') or (wait_event_type = 'Lock' and now() - state_change > interval '100 ms'))`.execute(db);
  return rows.rows.map((r) => `${r.state}${r.wait ? ` waiting on a ${r.wait}` : ''} for ${r.ms} ms: ${r.query}`);
}

export async function runFaults(cluster: Cluster, db: Kysely<Database>, plan: FaultPlan): Promise<Fault[]> {
  const faults: Fault[] = [];
  // As many kills of workers as of APIs (give or take one), in a random order; the pauses spread between them.
  const roles = shuffle(Array.from({ length: plan.kills }, (_, i) => (i % 2 === 0 ? 'worker' : 'api') as Slot['role']));
  const pausesAfter = Array.from({ length: plan.pauses }, (_, k) => Math.floor(((k + 1) * plan.kills) / (plan.pauses + 1)));
  for (let i = 0; i < plan.kills; i++) {
    await sleep(plan.gapMs[0] + Math.random() * (plan.gapMs[1] - plan.gapMs[0]));
    const candidates = cluster.slots.filter((s) => s.role === roles[i]);
    const victim = candidates[Math.floor(Math.random() * candidates.length)];
    faults.push(await strike(db, victim, 'SIGKILL', () => cluster.kill(victim)));
    await cluster.start(victim);
    for (const after of pausesAfter) if (after === i + 1) faults.push(await pauseOne(cluster, db, plan));
  }
  return faults;
}

async function pauseOne(cluster: Cluster, db: Kysely<Database>, plan: FaultPlan): Promise<Fault> {
  await sleep(plan.gapMs[0]);
  const workers = cluster.slots.filter((s) => s.role === 'worker');
  const victim = workers[Math.floor(Math.random() * workers.length)];
  const fault = await strike(db, victim, 'SIGSTOP', async () => cluster.pause(victim));
  try {
    await sleep(plan.pauseMs);
    fault.stuck = await stuckSessions(db);
  } finally {
    cluster.resume(victim);
    fault.resumedAt = Date.now();
  }
  return fault;
}
