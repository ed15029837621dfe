/**
 * The chaos test: several API servers (`[server] worker = false`) and
 * networking workers (`serve-networks`) as real OS processes on one
 * database, driven with networking actions and power operations through
 * every API over HTTP while random processes are SIGKILLed (and restarted)
 * and a worker is SIGSTOPped (then SIGCONTed) for longer than its claims' TTL. The BMC is a
 * server in this test process (./line-bmc.ts), so it outlives the processes
 * that drive it and sees what each of them did. Then: every action ended
 * once and the attachments are their net effect; no fenced holder changed
 * a switch and nothing was applied twice but the idempotent repeats of
 * actions whose holder died; network verify finds nothing; no BMC had two
 * operations or two console sessions at once, no node two power cycles; and
 * networking resumed after every fault within the takeover target.
 *
 * On SQLite (one writer) with fewer actions and kills; see PLANS.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases, type FreshDb } from '../support/databases.ts';
import { actionViolations, bmcViolations, consoleViolations, faultLines, summary, switchLogCheck, takeovers, verifyViolations } from './checks.ts';
import { runChaos, type ChaosPlan, type ChaosRun } from './run.ts';

const TTL_SECONDS = 2;
/** The targets: networking resumes ≤ 3 s after a SIGKILL, ≤ the TTL after a SIGSTOP (plus a second for a loaded machine). */
const KILL_TAKEOVER_MS = 3000;
const PAUSE_TAKEOVER_MS = TTL_SECONDS * 1000 + 1000;

const common = {
  world: { switches: 4, nodesPerSwitch: 6, networks: 4, powerNodes: 6, provisioningNodes: 3 },
  // Several times the actions the checks need, yet light enough that a loaded 2-core machine keeps its heartbeats on time.
  load: { thinkMs: [50, 400] as [number, number], powerThinkMs: [200, 600] as [number, number] },
  maxRunMs: 150_000,
  ttlSeconds: TTL_SECONDS,
  heartbeatMs: 250,
};

const PLANS: Record<'sqlite' | 'postgres', ChaosPlan> = {
  postgres: { ...common, apis: 2, workers: 2, faults: { kills: 10, pauses: 2, pauseMs: TTL_SECONDS * 1000 + 1500, gapMs: [800, 1600] }, minActions: 500, minPowerOps: 100 },
  sqlite: { ...common, apis: 2, workers: 2, faults: { kills: 5, pauses: 1, pauseMs: TTL_SECONDS * 1000 + 1500, gapMs: [800, 1600] }, minActions: 200, minPowerOps: 50 },
};

const report = (violations: string[]) => `${violations.length} violations:\n${violations.slice(0, 20).join('\n')}`;

for (const database of testDatabases()) {
  describe(`chaos on ${database.name}`, { skip: database.skip }, () => {
    const plan = PLANS[database.name];
    let db: FreshDb;
    let run: ChaosRun;

    before(
      async () => {
        db = await database.create();
        run = await runChaos(database, db.url, plan);
        for (const line of faultLines(run)) console.log(`# ${line}`);
        console.log(`# ${summary(run)}`);
      },
      { timeout: 240_000 },
    );
    after(() => db?.drop());

    it('ran what it was asked to', () => {
      assert.ok(run.load.actions.length >= plan.minActions, `${run.load.actions.length} networking actions`);
      assert.ok(run.load.power.length >= plan.minPowerOps, `${run.load.power.length} power operations`);
      assert.equal(run.faults.filter((f) => f.signal === 'SIGKILL').length, plan.faults.kills);
      assert.equal(run.faults.filter((f) => f.signal === 'SIGSTOP').length, plan.faults.pauses);
      assert.deepEqual(run.load.unexpected, [], 'answers no request should get');
    });

    it('every networking action ended DONE or ERROR once, and the attachments are their net effect', () => {
      const v = actionViolations(run);
      assert.deepEqual(v, [], report(v));
    });

    it('no switch was changed by a fenced holder, nor an action applied twice but by an idempotent repeat', () => {
      const { violations } = switchLogCheck(run);
      assert.deepEqual(violations, [], report(violations));
    });

    it('network verify finds no difference', () => {
      const v = verifyViolations(run);
      assert.deepEqual(v, [], report(v));
    });

    it('no BMC got two operations at once, and no node was power-cycled by two processes at once', () => {
      const v = bmcViolations(run);
      assert.deepEqual(v, [], report(v));
      assert.ok(run.load.reclaims > 0 && run.bmc.ops.some((o) => o.op === 'boot'), 'provisioning power-cycled some node');
    });

    it('no node had two console sessions at once, and each enabled node has one at the end', () => {
      assert.ok(run.bmc.consoles.length > 0, 'consoles were held');
      const v = consoleViolations(run);
      assert.deepEqual(v, [], report(v));
    });

    it('networking resumed after every fault within the takeover target', () => {
      const t = takeovers(run);
      const measured = t.filter((x) => x.networkMs !== null);
      assert.ok(measured.some((x) => x.fault.signal === 'SIGKILL'), 'some SIGKILL of a worker interrupted work');
      assert.ok(measured.some((x) => x.fault.signal === 'SIGSTOP'), 'a SIGSTOP interrupted work');
      for (const x of t) {
        const bound = x.fault.signal === 'SIGKILL' ? KILL_TAKEOVER_MS : PAUSE_TAKEOVER_MS;
        const what = `${x.fault.signal} of ${x.fault.slot} (pid ${x.fault.pid}, holding ${x.fault.claims.join(' ') || 'nothing'})`;
        if (x.networkMs !== null) assert.ok(x.networkMs <= bound, `${what}: networking resumed after ${x.networkMs} ms (target ${bound} ms)`);
        if (x.powerCycleMs !== null) assert.ok(x.powerCycleMs <= KILL_TAKEOVER_MS, `${what}: its power cycle resumed after ${x.powerCycleMs} ms`);
        if (x.consoleMs !== null) assert.ok(x.consoleMs <= KILL_TAKEOVER_MS, `${what}: its consoles were held again after ${x.consoleMs} ms`);
      }
    });
  });
}
