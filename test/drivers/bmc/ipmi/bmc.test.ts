/**
 * The `ipmi` OBM driver through the public API, against OpenIPMI's ipmi_sim
 * (one per node, test/support/ipmi-sim.ts). The chassis state is read from
 * the files the simulator's chassis_control script writes, never from HIL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ipmiBmcDriver } from '../../../../src/drivers/bmc/ipmi/bmc.ts';
import { mockBmcDriver } from '../../../../src/drivers/bmc/mock.ts';
import { bmcCalls } from '../../../support/bmc-calls.ts';
import { testDatabases } from '../../../support/databases.ts';
import { addUser, withHil, type Caller, type TestHil, type TestHilOptions } from '../../../support/hil.ts';
import { recordingIpmitool, skipReason, startBmc, type Bmc } from '../../../support/ipmi-sim.ts';
import { until } from '../../../support/processes.ts';
import { skipUnless } from '../../../support/require.ts';

const skip = skipUnless(skipReason);
let ipmitool: ReturnType<typeof recordingIpmitool>;
before(() => {
  if (!skip) ipmitool = recordingIpmitool();
});
after(() => ipmitool?.remove());

function options(timeoutSeconds = 15): TestHilOptions {
  return {
    auth: 'database',
    bmcDrivers: [mockBmcDriver(), ipmiBmcDriver({ ipmitool: ipmitool.path, timeoutMs: 5000 })],
    config: (c) => (c.obm.timeout_seconds = timeoutSeconds),
  };
}

interface Setup {
  admin: Caller;
  tenant: Caller;
  other: Caller;
  creds: { username: string; password: string };
}

/** Admin registers `node` on `bmc`; alice (project p) enables its OBM; bob is in project q. */
async function setup(t: TestHil, bmc: Bmc, node = 'n1'): Promise<Setup> {
  const admin = t.as(await addUser(t, 'root', 'rootpw', true));
  await admin('PUT', '/v0/project/p');
  await admin('PUT', '/v0/project/q');
  const creds = await addUser(t, 'alice', 'alicepw', false, ['p']);
  const tenant = t.as(creds);
  const other = t.as(await addUser(t, 'bob', 'bobpw', false, ['q']));
  await register(admin, tenant, node, bmc);
  return { admin, tenant, other, creds };
}

/** Registers `node` on `bmc` and gives it to project p, whose member `tenant` enables the OBM. */
async function register(admin: Caller, tenant: Caller, node: string, bmc: Pick<Bmc, 'host' | 'port' | 'user' | 'password'>): Promise<void> {
  const reg = await admin('PUT', `/v0/node/${node}`, { obm: { type: 'ipmi', host: bmc.host, port: String(bmc.port), user: bmc.user, password: bmc.password } });
  assert.equal(reg.status, 200, reg.text);
  assert.equal((await admin('POST', '/v0/project/p/connect_node', { node })).status, 200);
  assert.equal((await tenant('PUT', `/v0/node/${node}/obm`, { enabled: true })).status, 200);
}

async function status(call: Caller, node = 'n1'): Promise<string> {
  const r = await call('GET', `/v0/node/${node}/power_status`);
  assert.equal(r.status, 200, r.text);
  return r.body.power_status;
}

async function ok(call: Caller, method: string, path: string, body?: unknown): Promise<void> {
  const r = await call(method, path, body);
  assert.equal(r.status, 200, `${method} ${path}: ${r.text}`);
}

/**
 * Reads the console until `marker` shows up, then aborts. The marker is written
 * to the serial line all along: the response headers only leave with the first
 * console bytes.
 */
async function readConsole(url: string, creds: Setup['creds'], bmc: Bmc, marker: string): Promise<{ status: number; text: string }> {
  const ctl = new AbortController();
  const timeout = setTimeout(() => ctl.abort(), 10_000);
  const writer = setInterval(() => bmc.serialWrite(`${marker}\r\n`), 100);
  const auth = 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
  let text = '';
  try {
    const res = await fetch(`${url}/v0/node/n1/console`, { headers: { authorization: auth }, signal: ctl.signal });
    if (res.status !== 200) return { status: res.status, text: await res.text() };
    const reader = res.body!.getReader();
    while (!text.includes(marker)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('latin1');
    }
    return { status: res.status, text };
  } catch (err) {
    return { status: 0, text: `${(err as Error).message}; seen: ${text}` };
  } finally {
    clearInterval(writer);
    clearTimeout(timeout);
    ctl.abort();
  }
}

/** The recorded ipmitool runs against one BMC (tests on both databases run at once). */
const callsTo = (bmc: Pick<Bmc, 'port'>) => ipmitool.calls().filter((c) => c.includes(` -p ${bmc.port} `));

for (const database of testDatabases()) {
  describe(`ipmi OBM driver against ipmi_sim on ${database.name}`, { skip: database.skip || skip }, () => {
    it('power on/off/cycle, boot device and power status drive the simulated chassis; the password stays secret', (tc) =>
      withHil(database, options(), async (t) => {
        const bmc = await startBmc('n1');
        try {
          const { admin, tenant } = await setup(t, bmc);
          const calls0 = callsTo(bmc).length;
          assert.equal(await status(tenant), 'off');

          await ok(tenant, 'POST', '/v0/node/n1/power_on');
          assert.equal(bmc.state().power, 'on');
          assert.deepEqual(bmc.state().events, ['power 1']);
          assert.equal(await status(tenant), 'on');

          await ok(tenant, 'PUT', '/v0/node/n1/boot_device', { bootdev: 'pxe' });
          assert.equal(bmc.state().boot, 'pxe');
          await ok(tenant, 'PUT', '/v0/node/n1/boot_device', { bootdev: 'disk' });
          assert.equal(bmc.state().boot, 'default', 'ipmi_sim calls the disk device "default"');
          await ok(tenant, 'PUT', '/v0/node/n1/boot_device', { bootdev: 'none' });
          assert.equal(bmc.state().boot, 'none');
          await ok(tenant, 'PUT', '/v0/node/n1/boot_device', { bootdev: 'pxe' });
          const bad = await tenant('PUT', '/v0/node/n1/boot_device', { bootdev: 'floppy' });
          assert.deepEqual([bad.status, bad.body.type], [400, 'BadArgumentError']);
          assert.equal(bmc.state().boot, 'pxe');

          await ok(tenant, 'POST', '/v0/node/n1/power_cycle', { force: true });
          assert.equal(bmc.state().events.at(-1), 'reset 1');
          const n = bmc.state().events.length;
          await ok(tenant, 'POST', '/v0/node/n1/power_cycle', {});
          // A soft cycle: ipmi_sim powers off, then on again about a second later.
          await until('the cycle to power on again', async () => bmc.state().events.length >= n + 2, 5000);
          assert.deepEqual(bmc.state().events.slice(n), ['power 0', 'power 1']);
          assert.equal(await status(tenant), 'on');

          await ok(tenant, 'POST', '/v0/node/n1/power_off');
          assert.equal(bmc.state().power, 'off');
          assert.equal(await status(tenant), 'off');
          // Cycling a node that is off powers it on (obmd's fallback).
          await ok(tenant, 'POST', '/v0/node/n1/power_cycle', { force: true });
          assert.equal(bmc.state().power, 'on');
          assert.equal(bmc.state().events.at(-1), 'power 1');

          const latencies: number[] = [];
          for (let i = 0; i < 11; i++) {
            const t0 = performance.now();
            assert.equal(await status(tenant), 'on');
            latencies.push(performance.now() - t0);
          }
          tc.diagnostic(`power_status median latency ${latencies.sort((a, b) => a - b)[5]!.toFixed(1)} ms`);

          // ipmitool ran with -E, the default cipher suite, and never saw the password in argv.
          // (The console, held since the OBM was enabled, runs `sol activate` alongside.)
          const calls = callsTo(bmc).slice(calls0);
          const chassis = calls.filter((c) => / -E chassis /.test(c));
          assert.ok(chassis.length >= 20, calls.join('\n'));
          for (const c of chassis) assert.match(c, /^argv: -I lanplus -C 3 -H 127\.0\.0\.1 -p \d+ -U admin -E chassis /);
          for (const c of calls) {
            assert.match(c, /\| env: set \|/);
            assert.ok(!c.includes(bmc.password), c);
          }
          assert.ok(calls.some((c) => c.includes('chassis bootdev pxe options=persistent')));

          const shown = await admin('GET', '/v0/node/n1');
          assert.equal(shown.status, 200);
          assert.ok(!shown.text.includes(bmc.password));
          assert.ok(!JSON.stringify(t.logs).includes(bmc.password));
        } finally {
          await bmc.stop();
        }
      }));

    it('the console carries the serial line to each reader in turn; disabling the OBM frees the SOL session', () =>
      withHil(database, options(), async (t) => {
        const bmc = await startBmc('n1');
        try {
          const { creds, tenant } = await setup(t, bmc);
          const url = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
          const first = await readConsole(url, creds, bmc, 'SERIAL-ONE');
          assert.equal(first.status, 200, first.text);
          assert.match(first.text, /SERIAL-ONE\r\n/);
          assert.doesNotMatch(first.text, /SOL Session operational/, 'the ipmitool banner is not console output');
          const second = await readConsole(url, creds, bmc, 'SERIAL-TWO');
          assert.equal(second.status, 200, second.text);
          assert.match(second.text, /SERIAL-TWO/);
          assert.equal(bmc.solActive(), true);

          // Disabling the OBM ends the session (`~.`, then `sol deactivate`): the BMC's SOL is free again.
          await ok(tenant, 'PUT', '/v0/node/n1/obm', { enabled: false });
          await until('the SOL session to be released', async () => !bmc.solActive(), 8000);
          await until('sol deactivate', async () => callsTo(bmc).some((c) => / -E sol deactivate /.test(c)), 8000);
          await ok(tenant, 'PUT', '/v0/node/n1/obm', { enabled: true });
          const third = await readConsole(url, creds, bmc, 'SERIAL-THREE');
          assert.match(third.text, /SERIAL-THREE/);

          const sol = callsTo(bmc).filter((c) => / -E sol activate /.test(c));
          assert.ok(sol.length >= 2, sol.join('\n'));
          for (const c of sol) {
            assert.ok(!c.includes(bmc.password), c);
            assert.match(c, / -E sol activate \| env: set \| parent: /);
          }
          assert.ok(!JSON.stringify(t.logs).includes(bmc.password));
        } finally {
          await bmc.stop();
        }
      }));

    it("a user of another project gets 401 on every OBM route, and the chassis is untouched", () =>
      withHil(database, options(), async (t) => {
        const bmc = await startBmc('n1');
        try {
          const { other, tenant } = await setup(t, bmc);
          const url = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
          const routes: [string, string, unknown?][] = [
            ['PUT', '/v0/node/n1/obm', { enabled: false }],
            ['PUT', '/v0/node/n1/obm', { enabled: true }],
            ['POST', '/v0/node/n1/power_on'],
            ['POST', '/v0/node/n1/power_off'],
            ['POST', '/v0/node/n1/power_cycle', { force: true }],
            ['POST', '/v0/node/n1/power_cycle', {}],
            ['GET', '/v0/node/n1/power_status'],
            ['PUT', '/v0/node/n1/boot_device', { bootdev: 'pxe' }],
            ['GET', '/v0/node/n1/console'],
          ];
          const calls0 = callsTo(bmc).length;
          for (const [method, path, body] of routes) {
            const r = await other(method, path, body);
            assert.deepEqual([r.status, r.body.type], [401, 'AuthorizationError'], `${method} ${path}: ${r.text}`);
          }
          const bob = await readConsole(url, { username: 'bob', password: 'bobpw' }, bmc, 'NEVER');
          assert.equal(bob.status, 401);
          assert.deepEqual(bmc.state(), { power: 'off', boot: 'default', events: [] });
          assert.deepEqual(callsTo(bmc).slice(calls0).filter((c) => !/ -E sol (de)?activate /.test(c)), [], 'the chassis was never called');
          const row = await t.hil.store.db.selectFrom('node').select('obm_enabled').where('label', '=', 'n1').executeTakeFirstOrThrow();
          assert.equal(Boolean(row.obm_enabled), true);
          assert.equal(await status(tenant), 'off', 'the owner still can');
        } finally {
          await bmc.stop();
        }
      }));

    it('a BMC that stops answering fails within the OBM timeout with OBMError; the server stays healthy', () =>
      withHil(database, options(2), async (t) => {
        const bmc = await startBmc('n1');
        try {
          const { admin, tenant } = await setup(t, bmc);
          // A second node whose BMC port has nothing behind it.
          await register(admin, tenant, 'n2', { host: '127.0.0.1', port: 9, user: 'admin', password: 'whatever' });
          assert.equal(await status(tenant), 'off');
          process.kill(bmc.pid, 'SIGSTOP');
          try {
            for (const [method, path, body] of [
              ['GET', '/v0/node/n1/power_status'],
              ['POST', '/v0/node/n1/power_on'],
              ['PUT', '/v0/node/n1/boot_device', { bootdev: 'pxe' }],
              ['GET', '/v0/node/n2/power_status'],
            ] as [string, string, unknown?][]) {
              const t0 = Date.now();
              const r = await tenant(method, path, body);
              const took = Date.now() - t0;
              assert.equal(r.status, 500, `${method} ${path}: ${r.text}`);
              assert.equal(r.body.type, 'OBMError');
              assert.match(r.body.msg, /failed on node n[12]: .*(timed out after 2000 ms|no answer|Unable to establish)/, r.body.msg);
              assert.ok(took < 3000, `${method} ${path} took ${took} ms`);
              // The server still answers while the BMC hangs.
              assert.equal((await admin('GET', '/v0/node/n1')).status, 200);
            }
            assert.equal(bmc.state().power, 'off');
          } finally {
            process.kill(bmc.pid, 'SIGCONT');
          }
          // ipmi_sim may need a moment to drain what piled up while it was stopped.
          await until('the BMC to answer again', async () => (await tenant('GET', '/v0/node/n1/power_status')).status === 200, 10_000);
          await ok(tenant, 'POST', '/v0/node/n1/power_on');
          assert.equal(bmc.state().power, 'on');
          assert.ok(!JSON.stringify(t.logs).includes(bmc.password));
          assert.ok(t.logs.some((l) => l.msg === 'OBM call failed' && l.node === 'n1'));
        } finally {
          await bmc.stop();
        }
      }));

    it('registration checks the ipmi fields', () =>
      withHil(database, options(), async (t) => {
        const admin = t.as(await addUser(t, 'root', 'rootpw', true));
        const base = { type: 'ipmi', host: '10.0.0.1', user: 'admin', password: 'pw' };
        const bad: [Record<string, unknown>, RegExp][] = [
          [{ ...base, host: undefined }, /host.*required/],
          [{ ...base, user: undefined }, /user.*required/],
          [{ ...base, password: undefined }, /password.*required/],
          [{ ...base, host: '-oProxyCommand' }, /host/],
          [{ ...base, port: 70000 }, /port/],
          [{ ...base, port: 'abc' }, /port/],
          [{ ...base, cipher_suite: 99 }, /cipher_suite/],
          [{ ...base, user: 7 }, /user.*string/],
          [{ ...base, addr: 'x' }, /unknown field "addr"/],
        ];
        for (const [obm, msg] of bad) {
          const r = await admin('PUT', '/v0/node/bad', { obm });
          assert.deepEqual([r.status, r.body.type], [400, 'BadArgumentError'], JSON.stringify(obm) + r.text);
          assert.match(r.body.msg, msg);
        }
        assert.equal((await admin('GET', '/v0/node/bad')).status, 404);
        assert.equal((await admin('PUT', '/v0/node/good', { obm: { ...base, port: 6230, cipher_suite: '3' } })).status, 200);
        const shown = await admin('GET', '/v0/node/good');
        assert.ok(!shown.text.includes('"pw"'), shown.text);
      }));
  });
}

describe('ipmi OBM driver: console input', { skip }, () => {
  it('typed bytes reach the serial line, a `~` at a line start included (not taken as the ipmitool escape)', async () => {
    const bmc = await startBmc('in1');
    const ctl = new AbortController();
    try {
      const driver = ipmiBmcDriver({ ipmitool: ipmitool.path, timeoutMs: 5000 });
      const session = bmcCalls(driver).openConsole({ nodeLabel: 'in1', params: { host: bmc.host, port: bmc.port, user: bmc.user, password: bmc.password } }, ctl.signal);
      const writer = setInterval(() => bmc.serialWrite('READY\r\n'), 100);
      const it = session.output[Symbol.asyncIterator]();
      let seen = '';
      try {
        while (!seen.includes('READY')) seen += Buffer.from((await it.next()).value!).toString('latin1');
      } finally {
        clearInterval(writer);
      }
      session.write!(Buffer.from('ls\r~.still-here\r'));
      await until('the typed bytes on the serial line', async () => bmc.serialReceived().toString('latin1').includes('~.still-here'), 5000);
      assert.ok(bmc.solActive(), 'the session survived the typed `~.`');
      ctl.abort();
      await it.return?.();
      assert.equal(bmc.solActive(), false, 'ending the reader deactivated SOL');
    } finally {
      ctl.abort();
      await bmc.stop();
    }
  });
});
