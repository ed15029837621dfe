/**
 * Stopping a real server by signal (docs/operations.md, Shutdown): SIGTERM
 * to `npm start`'s own pid reaches the server (npm passes it to its child,
 * which `exec` makes the server itself), a request in flight finishes
 * first, then the port closes and no process of the group is left; a
 * second signal exits at once; and a worker-only process serves its probes
 * and metrics on metrics.listen and stops the same way.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HIL_ADMIN, REPO, start, until, type Child } from '../support/processes.ts';
import { startRedfishEmulator, type RedfishEmulator } from '../support/redfish-emulator.ts';
import { freePort } from '../../src/lab/system.ts';

/** Whether something accepts connections on the port. */
function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** The processes of the group, zombies (exited, waiting to be reaped) aside, as "pid args". */
function groupMembers(pgid: number): string[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,stat=,args=', '-g', String(pgid)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when it lists nothing
  }
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^\d+\s+Z/.test(l));
}

interface Server {
  child: Child;
  port: number;
  base: string;
}

async function withServer(how: 'npm' | 'hil-admin', fn: (s: Server) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hil-signals-'));
  const port = await freePort();
  const env = { HIL_AUTH: 'null', HIL_LISTEN: `127.0.0.1:${port}`, HIL_DATA_DIR: join(dir, 'data') };
  const child = how === 'npm' ? start('npm', ['--prefix', REPO, 'start'], env) : start(HIL_ADMIN, ['serve', '--migrate'], env);
  try {
    await child.waitFor('hil API server listening', 30000);
    await fn({ child, port, base: `http://127.0.0.1:${port}` });
  } finally {
    await child.kill('SIGKILL');
    // npm may have exited and left the server behind (what the first test looks for): kill what is left of its group.
    if (groupMembers(child.proc.pid!).length) process.kill(-child.proc.pid!, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Node n1 on a Redfish BMC whose resets take `delayMs`, its OBM enabled. */
async function slowNode(base: string, bmc: RedfishEmulator): Promise<void> {
  const put = (path: string, body: unknown) => fetch(`${base}${path}`, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const node = await put('/v0/node/n1', { obm: { type: 'redfish', url: bmc.url, user: bmc.user, password: bmc.password } });
  assert.equal(node.status, 200, await node.text());
  assert.equal((await put('/v0/node/n1/obm', { enabled: true })).status, 200);
}

async function assertAllGone(s: Server): Promise<void> {
  const pgid = s.child.proc.pid!;
  await until('the port to stop accepting connections', async () => !(await accepting(s.port)), 5000);
  await until('every process of the group to exit', async () => groupMembers(pgid).length === 0, 5000).catch(() => {
    assert.fail(`left running: ${groupMembers(pgid).join('; ')}`);
  });
}

describe('signals', () => {
  it('SIGTERM to `npm start` (npm\'s pid only) stops the server: the port closes and no process is left', () =>
    withServer('npm', async (s) => {
      assert.equal((await fetch(`${s.base}/healthz`)).status, 200);
      process.kill(s.child.proc.pid!, 'SIGTERM');
      await assertAllGone(s);
      await s.child.waitFor('"msg":"stopped"', 5000);
    }));

  it('SIGTERM to `npm start` during a slow BMC call lets the call finish (200) before the server exits', async () => {
    const bmc = await startRedfishEmulator({ powerState: 'On', resetDelayMs: 4000 });
    try {
      await withServer('npm', async (s) => {
        await slowNode(s.base, bmc);
        const inFlight = fetch(`${s.base}/v0/node/n1/power_cycle`, { method: 'POST', body: '{}' });
        await until('the reset to reach the BMC', async () => bmc.state().requests.some((r) => r.includes('ComputerSystem.Reset')), 10000);
        process.kill(s.child.proc.pid!, 'SIGTERM');
        await s.child.waitFor('stopping: the API server waiting for 1 request: POST /v0/node/n1/power_cycle', 5000);
        const answer = await inFlight;
        assert.equal(answer.status, 200, await answer.text());
        assert.deepEqual(bmc.state().resets, ['GracefulRestart']);
        await assertAllGone(s);
        assert.doesNotMatch(s.child.output(), /grace of \d+ ms is over/);
      });
    } finally {
      await bmc.close();
    }
  });

  it('a second signal exits at once, without waiting for the request in flight', async () => {
    const bmc = await startRedfishEmulator({ powerState: 'On', resetDelayMs: 8000 });
    try {
      await withServer('hil-admin', async (s) => {
        await slowNode(s.base, bmc);
        const inFlight = fetch(`${s.base}/v0/node/n1/power_cycle`, { method: 'POST', body: '{}' }).then(
          (r) => `answered ${r.status}`,
          () => 'cut',
        );
        await until('the reset to reach the BMC', async () => bmc.state().requests.some((r) => r.includes('ComputerSystem.Reset')), 10000);
        const pid = s.child.proc.pid!; // bin/hil-admin execs node: this is the server
        process.kill(pid, 'SIGTERM');
        await s.child.waitFor('"msg":"stopping"', 5000);
        const started = Date.now();
        process.kill(pid, 'SIGTERM');
        const code = s.child.proc.exitCode ?? (await new Promise((resolve) => s.child.proc.once('exit', resolve)));
        assert.equal(code, 1);
        assert.ok(Date.now() - started < 3000, 'well before the BMC answers');
        assert.equal(await inFlight, 'cut');
        assert.match(s.child.output(), /second signal: exiting now, without waiting/);
      });
    } finally {
      await bmc.close();
    }
  });
  it('serve-networks answers /readyz and /metrics on metrics.listen (and nothing else there), and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-signals-'));
    const port = await freePort();
    const env = { HIL_DATA_DIR: join(dir, 'data'), HIL_METRICS_LISTEN: `127.0.0.1:${port}` };
    try {
      execFileSync(HIL_ADMIN, ['db', 'migrate'], { env: { ...process.env, ...env } });
      const child = start(HIL_ADMIN, ['serve-networks'], env);
      try {
        await child.waitFor('hil metrics and probes listening', 30000);
        const base = `http://127.0.0.1:${port}`;
        const ready = await fetch(`${base}/readyz`);
        assert.deepEqual([ready.status, await ready.json()], [200, { status: 'ready', checks: { process: 'ok', database: 'ok', schema: 'ok', worker: 'ok', claims: 'ok' } }]);
        assert.match(await (await fetch(`${base}/metrics`)).text(), /^# TYPE hil_networking_actions gauge$/m);
        assert.equal((await fetch(`${base}/v0/projects`)).status, 404);
        process.kill(child.proc.pid!, 'SIGTERM');
        await until('the metrics port to close', async () => !(await accepting(port)), 5000);
        await child.waitFor('"msg":"stopped"', 5000);
      } finally {
        await child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
