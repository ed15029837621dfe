/**
 * What a chaos run must show, computed from what it recorded. Each check
 * returns its violations as sentences (empty: it holds) and the figures the
 * summary prints.
 */
import type { ChaosRun } from './run.ts';
import type { Fault } from './faults.ts';

const sameNetworks = (a: Record<string, string>, b: Record<string, string>) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** What the model (the DONE actions' net effect) says a nic carries: {vlan/native: network} or nothing. */
function expected(run: ChaosRun, node: string): Record<string, string> {
  const net = run.load.model.get(node);
  return net ? { 'vlan/native': net } : {};
}

/** 1. Every action ended once, and the attachments (database and both APIs) are the DONE actions' net effect. */
export function actionViolations(run: ChaosRun): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const a of run.load.actions) {
    if (seen.has(a.uuid)) out.push(`action ${a.uuid} was followed twice`);
    seen.add(a.uuid);
    if (!a.status) out.push(`action ${a.uuid} (${a.type} ${a.node} ${a.network}) never ended`);
  }
  if (run.final.pendingInDb > 0) out.push(`${run.final.pendingInDb} actions are still PENDING in the journal`);
  for (const n of run.world.netNodes) {
    const want = expected(run, n.node);
    const db = run.final.attachments.get(n.node) ?? {};
    if (!sameNetworks(want, db)) out.push(`${n.node}: the DONE actions leave ${JSON.stringify(want)}, the database has ${JSON.stringify(db)}`);
    for (const v of run.final.apiViews) {
      const seenByApi = v.nodes.get(n.node) ?? {};
      if (!sameNetworks(want, seenByApi)) out.push(`${n.node}: the DONE actions leave ${JSON.stringify(want)}, ${v.api} shows ${JSON.stringify(seenByApi)}`);
    }
  }
  out.push(...run.final.invariantViolations);
  return out;
}

/**
 * 2. The switch log: per switch, in log order, the claim generation never
 * goes down (a lower one after a higher = a fenced holder changed the
 * switch), one generation is one holder, and an action reaches a switch
 * more than once only as the idempotent repeat by a later generation after
 * its earlier holder was killed or paused before recording it. The mock
 * switch's token refuses a late change of a fenced holder; the holder's own
 * fencing must stop it after that one call (the one it froze in): at most
 * one refusal per switch and holder, and only of a killed or paused one.
 */
export function switchLogCheck(run: ChaosRun): { violations: string[]; repeats: number; refused: number } {
  const out: string[] = [];
  const victims = new Set(run.faults.map((f) => f.pid));
  const pidOf = (holder: string | null) => Number(holder?.split(':').at(-2));
  const label = (id: number) => run.final.switchIds.get(id) ?? String(id);
  const highest = new Map<number, number>();
  const holderOf = new Map<string, string>();
  const byAction = new Map<string, typeof run.final.switchLog>();
  for (const c of run.final.switchLog) {
    if (c.action === null || c.generation === null || c.holder === null) {
      out.push(`switch ${label(c.switch_id)} call ${c.id} (${c.op} ${c.port}) came from no worker under a claim`);
      continue;
    }
    const gen = Number(c.generation);
    const top = highest.get(c.switch_id) ?? 0;
    if (gen < top) out.push(`switch ${label(c.switch_id)} call ${c.id} (${c.op} ${c.port}, action ${c.action}) by ${c.holder} under generation ${gen}, after generation ${top} had changed the switch: a fenced holder`);
    highest.set(c.switch_id, Math.max(top, gen));
    const key = `${c.switch_id}/${gen}`;
    if (holderOf.has(key) && holderOf.get(key) !== c.holder) out.push(`switch ${label(c.switch_id)} generation ${gen} was used by ${holderOf.get(key)} and ${c.holder}`);
    holderOf.set(key, c.holder);
    byAction.set(c.action, [...(byAction.get(c.action) ?? []), c]);
  }
  let repeats = 0;
  for (const [action, calls] of byAction) {
    for (let i = 1; i < calls.length; i++) {
      const [before, again] = [calls[i - 1], calls[i]];
      if (Number(again.generation) < Number(before.generation)) continue; // reported above: a fenced holder
      if (Number(again.generation) === Number(before.generation)) out.push(`action ${action} reached the switch twice under generation ${before.generation} (calls ${before.id}, ${again.id}): applied twice by one holder`);
      else if (!victims.has(pidOf(before.holder))) out.push(`action ${action} was repeated (calls ${before.id}, ${again.id}) though its first holder ${before.holder} was never killed or paused`);
      else repeats++;
    }
  }
  const done = new Set(run.load.actions.filter((a) => a.status === 'DONE').map((a) => a.uuid));
  for (const uuid of done) if (!byAction.has(uuid)) out.push(`action ${uuid} is DONE but never reached its switch`);
  const refusedPer = new Map<string, number>();
  for (const r of run.final.refusals) {
    const key = `switch ${label(r.switch_id)} holder ${r.holder}`;
    refusedPer.set(key, (refusedPer.get(key) ?? 0) + 1);
    if (!victims.has(pidOf(r.holder))) out.push(`${key} (never killed or paused) had a change refused: generation ${r.generation}, token ${r.token}`);
  }
  // One refusal per switch and pause at most: the call it froze in (a killed holder sends nothing more).
  const pausesOf = (holder: string) => run.faults.filter((f) => f.signal === 'SIGSTOP' && f.pid === pidOf(holder)).length;
  for (const [key, n] of refusedPer) {
    const allowed = pausesOf(key.slice(key.indexOf(' holder ') + ' holder '.length));
    if (n > allowed) out.push(`${key} kept calling after its claim passed on: ${n} changes refused by the switch's token (paused ${allowed} times)`);
  }
  return { violations: out, repeats, refused: run.final.refusals.length };
}

/** 3. Network verify, through every API. */
export function verifyViolations(run: ChaosRun): string[] {
  const out: string[] = [];
  for (const { api, report } of run.final.verify) {
    if (!Array.isArray(report?.differences)) out.push(`${api}: verify answered ${JSON.stringify(report)}`);
    else if (report.differences.length || report.pending.length || report.unreachable.length) out.push(`${api}: verify reports ${JSON.stringify(report)}`);
  }
  return out;
}

/**
 * 4. The BMC: no two operations on one node at once; no node power-cycled
 * by two processes at once (one cycle is boot device, off, on from one
 * process: another process's step in the middle of it is an overlap).
 */
export function bmcViolations(run: ChaosRun): string[] {
  const out = [...run.bmc.opOverlaps];
  for (const node of run.world.provisioningNodes) {
    let cycling: number | null = null;
    for (const op of run.bmc.ops.filter((o) => o.node === node).sort((a, b) => a.start - b.start)) {
      if (op.op === 'boot') cycling = op.pid;
      else if (cycling !== null && op.pid !== cycling) out.push(`node ${node}: pid ${op.pid} did ${op.op} at ${op.start} while pid ${cycling} was power-cycling it`);
    }
  }
  return out;
}

/** No node had two console sessions at once; at the end, each node with its OBM enabled has one. */
export function consoleViolations(run: ChaosRun): string[] {
  const out = [...run.bmc.consoleOverlaps];
  for (const node of run.world.powerNodes) {
    const open = run.final.openConsoles.get(node) ?? 0;
    if (open === 1) continue;
    const id = [...run.final.nodeLabels].find(([, label]) => label === node)?.[0];
    const claim = run.final.claimRows.find((c) => c.resource === `console:${id}`);
    const sessions = run.bmc.consoles.filter((c) => c.node === node).slice(-3).map((c) => `pid ${c.pid} ${c.start}..${c.end ?? 'open'}`);
    out.push(`node ${node} (OBM enabled) has ${open} console sessions open at the end (claim ${JSON.stringify(claim)}; last sessions ${sessions.join(', ')}; at ${Date.now()})`);
  }
  return out;
}

export interface Takeover {
  fault: Fault;
  /** Fault → the next DONE of an action that was PENDING on a switch the victim held (null: nothing to measure). */
  networkMs: number | null;
  /** Fault → the next BMC operation, by another process, on a node whose power cycle the victim held. */
  powerCycleMs: number | null;
  /** Fault → every console the victim held open again, by another process (null: it held none). */
  consoleMs: number | null;
}

/** Nodes (labels) whose `kind:` claims (kind:<node id>) the fault's victim held. */
function nodesClaimed(run: ChaosRun, f: Fault, kind: string): Set<string> {
  return new Set(f.claims.filter((c) => c.startsWith(`${kind}:`)).map((c) => run.final.nodeLabels.get(Number(c.slice(kind.length + 1)))!));
}

/** How long after `at` the slowest of `nodes` had a console session opened by another process (null: one never had). */
function consolesBack(run: ChaosRun, f: Fault, nodes: Set<string>): number | null {
  let slowest = 0;
  for (const node of nodes) {
    const next = run.bmc.consoles.filter((c) => c.node === node && c.pid !== f.pid && c.start > f.at).map((c) => c.start - f.at);
    if (next.length === 0) return null;
    slowest = Math.max(slowest, Math.min(...next));
  }
  return slowest;
}

export function takeovers(run: ChaosRun): Takeover[] {
  const byUuid = new Map(run.load.actions.map((a) => [a.uuid, a]));
  return run.faults.map((f) => {
    const ends = f.pendingOnItsSwitches.map((u) => byUuid.get(u)).filter((a) => a?.status === 'DONE' && a.finishedAt! > f.at).map((a) => a!.finishedAt! - f.at);
    // Only the cycles it left unfinished (the row still asking for one) are taken over.
    const cycled = new Set(f.cyclesLeft.map((id) => run.final.nodeLabels.get(id)!));
    let powerCycleMs: number | null = null;
    if (cycled.size > 0) {
      const next = run.bmc.ops.filter((o) => cycled.has(o.node) && o.pid !== f.pid && o.start > f.at).map((o) => o.start - f.at);
      powerCycleMs = next.length ? Math.min(...next) : null;
    }
    // The power nodes' OBMs stay enabled (a cycling node's is disabled again); only kills: a paused API is not one.
    const consoles = new Set(f.signal === 'SIGKILL' ? [...nodesClaimed(run, f, 'console')].filter((n) => run.world.powerNodes.includes(n)) : []);
    const consoleMs = consoles.size > 0 ? consolesBack(run, f, consoles) : null;
    return { fault: f, networkMs: ends.length ? Math.min(...ends) : null, powerCycleMs, consoleMs };
  });
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function summary(run: ChaosRun): string {
  const a = run.load.actions;
  const done = a.filter((x) => x.status === 'DONE');
  const latency = done.map((x) => x.finishedAt! - x.sentAt);
  const t = takeovers(run);
  const max = (xs: Array<number | null>) => Math.max(...xs.filter((x): x is number => x !== null), 0);
  const kills = run.faults.filter((f) => f.signal === 'SIGKILL');
  const measured = t.filter((x) => x.networkMs !== null).length;
  return [
    `chaos ${run.database}: ${a.length} actions (${done.length} DONE, ${a.filter((x) => x.status === 'ERROR').length} ERROR, ${a.filter((x) => x.adopted).length} adopted after their API died)`,
    `${kills.length} SIGKILLs (${kills.filter((f) => f.role === 'api').length} API, ${kills.filter((f) => f.role === 'worker').length} worker), ${run.faults.length - kills.length} SIGSTOP`,
    `${switchLogCheck(run).repeats} idempotent repeats, ${switchLogCheck(run).refused} late changes of a fenced holder refused by the switch`,
    `takeover max ${max(t.filter((x) => x.fault.signal === 'SIGKILL').map((x) => x.networkMs))} ms after SIGKILL, ${max(t.filter((x) => x.fault.signal === 'SIGSTOP').map((x) => x.networkMs))} ms after SIGSTOP (${measured} measured), power-cycle takeover max ${max(t.map((x) => x.powerCycleMs))} ms, console takeover max ${max(t.map((x) => x.consoleMs))} ms`,
    `latency p50 ${percentile(latency, 50)} ms, p99 ${percentile(latency, 99)} ms`,
    `${run.load.power.length} power ops (${run.load.power.filter((p) => p.status === 200).length} ok, ${run.load.power.filter((p) => p.status === 'cut').length} cut by a kill), ${run.bmc.ops.length} BMC ops, ${run.load.reclaims} enrolments`,
    `${run.bmc.consoles.length} console sessions, max at once per node ${Math.max(0, ...run.bmc.maxConsoles.values())}`,
    `${Math.round(run.elapsedMs / 1000)} s; logs in ${run.logDir}`,
  ].join('; ');
}

/** One line per fault: who, what it held, and how long until its work went on elsewhere. */
export function faultLines(run: ChaosRun): string[] {
  return takeovers(run).map(({ fault: f, networkMs, powerCycleMs, consoleMs }) => {
    const held = f.claims.length ? f.claims.join(' ') : 'no claims';
    const resumed = [
      networkMs !== null && `networking resumed after ${networkMs} ms`,
      powerCycleMs !== null && `its power cycle after ${powerCycleMs} ms`,
      consoleMs !== null && `its consoles after ${consoleMs} ms`,
    ]
      .filter(Boolean)
      .join(', ');
    const stuck = f.stuck?.length ? `; before SIGCONT: ${f.stuck.join(' | ')}` : '';
    return `${f.signal} ${f.slot} pid ${f.pid} holding ${held}; ${f.pendingOnItsSwitches.length} actions left pending on its switches${resumed ? `; ${resumed}` : ''}${stuck}`;
  });
}
