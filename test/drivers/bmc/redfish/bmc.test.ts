/**
 * The `redfish` OBM driver against the Redfish emulator (DMTF mockup
 * shapes): directly (session and Basic auth, system selection, Redfish
 * errors, self-signed TLS, per-request timeout, no console), and through the
 * public API on both databases (spec §5.2.9–10): a project member drives the
 * BMC, another project's user gets 401 and never reaches it, secrets stay out
 * of answers and logs, and a hung BMC fails within the OBM timeout.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redfishBmcDriver, type RedfishBmcOptions } from '../../../../src/drivers/bmc/redfish/bmc.ts';
import { mockBmcDriver } from '../../../../src/drivers/bmc/mock.ts';
import { BadArgumentError } from '../../../../src/errors.ts';
import { bmcCalls, type RawTarget } from '../../../support/bmc-calls.ts';
import { testDatabases } from '../../../support/databases.ts';
import { addUser, withHil, type Caller } from '../../../support/hil.ts';
import { startRedfishEmulator, type RedfishEmulator } from '../../../support/redfish-emulator.ts';

function target(bmc: RedfishEmulator, extra: Record<string, unknown> = {}): RawTarget {
  return { nodeLabel: 'n1', params: { url: bmc.url, user: bmc.user, password: bmc.password, ...extra } };
}

async function withBmc(o: Parameters<typeof startRedfishEmulator>[0], fn: (bmc: RedfishEmulator) => Promise<void>): Promise<void> {
  const bmc = await startRedfishEmulator(o);
  try {
    await fn(bmc);
  } finally {
    await bmc.close();
  }
}

/** The rejection of `p`, which must reject. */
async function rejection(p: Promise<unknown>): Promise<Error & { status?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected a rejection');
}

describe('redfish driver against the emulator', () => {
  const driver = (o?: RedfishBmcOptions) => bmcCalls(redfishBmcDriver(o));

  it('session auth: power, cycle and boot change the system; every session is ended', () =>
    withBmc({}, async (bmc) => {
      const d = driver();
      const t = target(bmc);
      assert.equal(await d.powerStatus(t), 'off');
      await d.setPower(t, 'on');
      assert.equal(bmc.state().powerState, 'On');
      await d.setPower(t, 'on'); // idempotent: the BMC would refuse a second On
      assert.equal(await d.powerStatus(t), 'on');
      await d.powerCycle(t, false);
      await d.powerCycle(t, true);
      await d.setPower(t, 'off');
      await d.setPower(t, 'off');
      assert.equal(await d.powerStatus(t), 'off');
      await d.powerCycle(t, true); // a system that is off is turned on
      assert.deepEqual(bmc.state().resets, ['On', 'GracefulRestart', 'ForceRestart', 'ForceOff', 'On']);
      assert.equal(bmc.state().powerState, 'On');

      await d.setBootDevice(t, 'pxe', true);
      assert.deepEqual(bmc.state().boot, { BootSourceOverrideEnabled: 'Continuous', BootSourceOverrideTarget: 'Pxe' });
      await d.setBootDevice(t, 'disk', true);
      assert.deepEqual(bmc.state().boot, { BootSourceOverrideEnabled: 'Continuous', BootSourceOverrideTarget: 'Hdd' });
      await d.setBootDevice(t, 'none', true);
      assert.deepEqual(bmc.state().boot, { BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideTarget: 'None' });

      const s = bmc.state();
      assert.equal(s.tokens.length, 13, 'one session per operation');
      assert.equal(s.openSessions, 0, 'every session was deleted');
      for (const r of s.requests) assert.match(r, /^(GET \/redfish\/v1 none|POST \/redfish\/v1\/SessionService\/Sessions none|\S+ \S+ session)$/, r);
      assert.ok(s.requests.includes('PATCH /redfish/v1/Systems/437XR1138R2 session'), s.requests.join('\n'));
    }));

  it("bootOverride 'Once' makes pxe one-shot", () =>
    withBmc({}, async (bmc) => {
      await driver({ bootOverride: 'Once' }).setBootDevice(target(bmc), 'pxe', true);
      assert.deepEqual(bmc.state().boot, { BootSourceOverrideEnabled: 'Once', BootSourceOverrideTarget: 'Pxe' });
      // A caller asking for the next boot only gets 'Once' whatever the default.
      await driver().setBootDevice(target(bmc), 'disk', false);
      assert.deepEqual(bmc.state().boot, { BootSourceOverrideEnabled: 'Once', BootSourceOverrideTarget: 'Hdd' });
    }));

  it('basic auth: every request carries Basic credentials and no session is made', () =>
    withBmc({ powerState: 'On' }, async (bmc) => {
      const d = driver();
      const t = target(bmc, { auth: 'basic' });
      assert.equal(await d.powerStatus(t), 'on');
      await d.setPower(t, 'off');
      await d.setBootDevice(t, 'pxe', true);
      const s = bmc.state();
      assert.deepEqual([s.powerState, s.resets, s.boot.BootSourceOverrideTarget, s.tokens], ['Off', ['ForceOff'], 'Pxe', []]);
      for (const r of s.requests) assert.match(r, / basic$/, r);
    }));

  it('the system field takes an Id or a path; an unknown one fails with the BMC status and message', () =>
    withBmc({}, async (bmc) => {
      const d = driver();
      await d.setPower(target(bmc, { system: bmc.systemId }), 'on');
      assert.equal(await d.powerStatus(target(bmc, { system: `/redfish/v1/Systems/${bmc.systemId}` })), 'on');
      assert.ok(!bmc.state().requests.some((r) => r.startsWith('GET /redfish/v1/Systems ')), 'no collection lookup when the system is named');
      const err = await rejection(d.powerStatus(target(bmc, { system: 'nope' })));
      assert.equal(err.status, 404);
      assert.match(err.message, /GET \/redfish\/v1\/Systems\/nope answered 404: The requested resource of type Resource named '\/redfish\/v1\/Systems\/nope' was not found\./);
      assert.equal(bmc.state().openSessions, 0, 'the session is ended after a failure too');
    }));

  it('a wrong password fails with 401 and the BMC message, for session and basic auth, without the password', () =>
    withBmc({}, async (bmc) => {
      const d = driver();
      const wrong = `wrong-${bmc.password}`;
      const login = await rejection(d.setPower(target(bmc, { password: wrong }), 'on'));
      assert.equal(login.status, 401);
      assert.match(login.message, /login \(POST \/redfish\/v1\/SessionService\/Sessions\) answered 401: .*invalid user name or password/);
      const basic = await rejection(d.setPower(target(bmc, { password: wrong, auth: 'basic' }), 'on'));
      assert.equal(basic.status, 401);
      assert.match(basic.message, /answered 401: There is no valid session established with the implementation\./);
      for (const e of [login, basic]) assert.ok(!e.message.includes(wrong) && !JSON.stringify(e).includes(wrong), e.message);
      assert.deepEqual(bmc.state().resets, []);
    }));

  it('a self-signed certificate is refused unless insecure_tls is true', () =>
    withBmc({ tls: true }, async (bmc) => {
      const d = driver();
      assert.ok(bmc.url.startsWith('https://'));
      const err = await rejection(d.setPower(target(bmc), 'on'));
      assert.match(err.message, /certificate|SELF_SIGNED/i);
      assert.match(err.message, /insecure_tls/);
      assert.equal(bmc.state().requests.length, 0);
      await d.setPower(target(bmc, { insecure_tls: true }), 'on');
      assert.deepEqual(bmc.state().resets, ['On']);
      await assert.rejects(d.powerStatus(target(bmc, { insecure_tls: false })), /certificate|SELF_SIGNED/i);
    }));

  it('a BMC that stops answering fails the request within the request timeout', () =>
    withBmc({}, async (bmc) => {
      bmc.hang(true);
      const started = performance.now();
      const err = await rejection(driver({ requestTimeoutMs: 300 }).powerStatus(target(bmc)));
      const took = performance.now() - started;
      assert.match(err.message, /got no answer within 300 ms/);
      assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
    }));

  it('validates the registration fields', () => {
    const d = driver();
    const ok = { url: 'https://bmc.example', user: 'root', password: 'pw' };
    d.validateParams(ok);
    d.validateParams({ ...ok, system: '1', insecure_tls: true, auth: 'basic' });
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ user: 'root', password: 'pw' }, /"url" is required/],
      [{ url: 'https://bmc.example', user: 'root' }, /"password" is required/],
      [{ ...ok, url: 'ftp://bmc.example' }, /"url" must be an http or https URL/],
      [{ ...ok, url: 'not a url' }, /"url" must be an http or https URL/],
      [{ ...ok, url: 'https://root:pw@bmc.example' }, /without credentials/],
      [{ ...ok, password: 7 }, /"password" must be a string/],
      [{ ...ok, insecure_tls: 'yes' }, /"insecure_tls" must be a boolean/],
      [{ ...ok, auth: 'digest' }, /"auth" must be "basic" or "session"/],
      [{ ...ok, system: '' }, /"system" must be a non-empty string/],
      [{ ...ok, host: 'x' }, /unknown field "host"/],
    ];
    for (const [params, msg] of bad) assert.throws(() => d.validateParams(params), (e: Error) => e instanceof BadArgumentError && msg.test(e.message), JSON.stringify(params));
  });

  it('has no console interface (Redfish defines no serial console stream)', () => {
    const d = redfishBmcDriver();
    assert.equal(d.console, undefined);
    assert.ok(d.power && d.boot);
  });
});

const OBM_ROUTES: Array<[string, string, unknown?]> = [
  ['PUT', '/v0/node/n1/obm', { enabled: true }],
  ['POST', '/v0/node/n1/power_on'],
  ['POST', '/v0/node/n1/power_off'],
  ['POST', '/v0/node/n1/power_cycle', { force: true }],
  ['PUT', '/v0/node/n1/boot_device', { bootdev: 'pxe' }],
  ['GET', '/v0/node/n1/power_status'],
  ['GET', '/v0/node/n1/console'],
  ['PUT', '/v0/node/n1/obm', { enabled: false }],
];

for (const database of testDatabases()) {
  describe(`redfish OBM through the API on ${database.name}`, { skip: database.skip }, () => {
    let bmc: RedfishEmulator;
    before(async () => {
      bmc = await startRedfishEmulator({ tls: true });
    });
    after(() => bmc.close());

    const opts = { auth: 'database' as const, bmcDrivers: [mockBmcDriver(), redfishBmcDriver()], config: (c: { obm: { timeout_seconds: number } }) => (c.obm.timeout_seconds = 2) };

    /** Projects runway (alice) and manhattan (bob); n1 (redfish, in runway), m1 (mock, in runway). */
    async function setup(t: Parameters<Parameters<typeof withHil>[2]>[0], extra: Record<string, unknown> = {}) {
      const admin = t.as(await addUser(t, 'root', 'root-pw', true));
      for (const p of ['runway', 'manhattan']) assert.equal((await admin('PUT', `/v0/project/${p}`)).status, 200);
      const alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['runway']));
      const bob = t.as(await addUser(t, 'bob', 'bob-pw', false, ['manhattan']));
      const reg = await admin('PUT', '/v0/node/n1', { obm: { type: 'redfish', url: bmc.url, user: bmc.user, password: bmc.password, insecure_tls: true, ...extra } });
      assert.equal(reg.status, 200, reg.text);
      assert.equal((await admin('PUT', '/v0/node/m1', { obm: { type: 'mock' } })).status, 200);
      for (const node of ['n1', 'm1']) assert.equal((await admin('POST', '/v0/project/runway/connect_node', { node })).status, 200);
      return { admin, alice, bob };
    }

    async function ok(call: Caller, method: string, path: string, body?: unknown) {
      const res = await call(method, path, body);
      assert.equal(res.status, 200, `${method} ${path}: ${res.text}`);
      return res;
    }

    it('a project member powers, cycles, sets pxe and reads the power status; secrets never leak', () =>
      withHil(database, opts, async (t) => {
        const { admin, alice } = await setup(t);
        const before = bmc.state();
        const texts: string[] = [];
        const call: Caller = async (...a) => {
          const res = await alice(...a);
          texts.push(res.text, JSON.stringify(res.headers));
          return res;
        };
        const blocked = await call('POST', '/v0/node/n1/power_on');
        assert.deepEqual([blocked.status, blocked.body.type], [409, 'BlockedError']);
        await ok(call, 'PUT', '/v0/node/n1/obm', { enabled: true });

        const status = async () => (await ok(call, 'GET', '/v0/node/n1/power_status')).body;
        await ok(call, 'POST', '/v0/node/n1/power_off');
        assert.deepEqual(await status(), { power_status: 'off' });
        await ok(call, 'POST', '/v0/node/n1/power_on');
        assert.equal(bmc.state().powerState, 'On');
        assert.deepEqual(await status(), { power_status: 'on' });
        await ok(call, 'POST', '/v0/node/n1/power_cycle', {});
        await ok(call, 'POST', '/v0/node/n1/power_cycle', { force: true });
        await ok(call, 'POST', '/v0/node/n1/power_off');
        assert.equal(bmc.state().powerState, 'Off');
        assert.deepEqual(await status(), { power_status: 'off' });
        assert.deepEqual(bmc.state().resets.slice(before.resets.length).slice(-4), ['On', 'GracefulRestart', 'ForceRestart', 'ForceOff']);

        await ok(call, 'PUT', '/v0/node/n1/boot_device', { bootdev: 'disk' });
        assert.equal(bmc.state().boot.BootSourceOverrideTarget, 'Hdd');
        await ok(call, 'PUT', '/v0/node/n1/boot_device', { bootdev: 'pxe' });
        assert.deepEqual(bmc.state().boot, { BootSourceOverrideEnabled: 'Continuous', BootSourceOverrideTarget: 'Pxe' });
        const badDev = await call('PUT', '/v0/node/n1/boot_device', { bootdev: 'floppy' });
        assert.deepEqual([badDev.status, badDev.body.type], [400, 'BadArgumentError']);

        // Redfish has no serial console: the console routes say so, and none is held in the background.
        const noConsole = await call('GET', '/v0/node/n1/console');
        assert.deepEqual([noConsole.status, noConsole.body.type], [501, 'NotImplementedError']);
        assert.match(noConsole.body.msg, /redfish BMC driver offers no serial console/);
        assert.equal((await call('GET', '/v0/node/n1/console_log')).text, '');
        assert.ok(!t.logs.some((l) => /console: reading failed/.test(String(l.msg))), 'the console was not retried as failing');

        texts.push((await ok(admin, 'GET', '/v0/node/n1')).text);
        const after = bmc.state();
        assert.ok(after.tokens.length > before.tokens.length, 'the driver used sessions');
        assert.equal(after.openSessions, 0);
        const everything = texts.join('\n') + JSON.stringify(t.logs);
        for (const secret of [bmc.password, ...after.tokens]) assert.ok(!everything.includes(secret), 'a BMC secret leaked into an answer or the log');
      }));

    it('registration refuses bad redfish fields', () =>
      withHil(database, opts, async (t) => {
        const admin = t.as(await addUser(t, 'root', 'root-pw', true));
        for (const obm of [
          { type: 'redfish', url: bmc.url, user: bmc.user },
          { type: 'redfish', url: bmc.url, user: bmc.user, password: 'x', insecure_tls: 'yes' },
          { type: 'redfish', url: 'bmc.example', user: bmc.user, password: 'x' },
        ]) {
          const res = await admin('PUT', '/v0/node/bad', { obm });
          assert.deepEqual([res.status, res.body.type], [400, 'BadArgumentError'], JSON.stringify(obm));
        }
        assert.equal((await admin('GET', '/v0/node/bad')).status, 404);
      }));

    it("another project's user gets 401 on every OBM route and never reaches the BMC", () =>
      withHil(database, opts, async (t) => {
        const { alice, bob } = await setup(t);
        await ok(alice, 'PUT', '/v0/node/n1/obm', { enabled: true });
        const before = bmc.state();
        for (const [method, path, body] of OBM_ROUTES) {
          const res = await bob(method, path, body);
          assert.deepEqual([res.status, res.body.type], [401, 'AuthorizationError'], `${method} ${path}: ${res.text}`);
        }
        const now = bmc.state();
        assert.deepEqual([now.requests.length, now.resets, now.boot, now.powerState], [before.requests.length, before.resets, before.boot, before.powerState]);
        const row = await t.hil.store.db.selectFrom('node').select('obm_enabled').where('label', '=', 'n1').executeTakeFirstOrThrow();
        assert.equal(Boolean(row.obm_enabled), true, "bob did not disable alice's OBM");
      }));

    it('BMC errors reach the caller as OBMError with the status and Redfish message', () =>
      withHil(database, opts, async (t) => {
        const { alice } = await setup(t, { password: 'not-the-password', auth: 'basic' });
        await ok(alice, 'PUT', '/v0/node/n1/obm', { enabled: true });
        const res = await alice('POST', '/v0/node/n1/power_on');
        assert.deepEqual([res.status, res.body.type], [500, 'OBMError']);
        assert.match(res.body.msg, /power on failed on node n1: .*answered 401: There is no valid session established/);
        assert.ok(!res.text.includes('not-the-password') && !JSON.stringify(t.logs).includes('not-the-password'));
      }));

    it('a BMC that stops answering fails within the OBM timeout and the server stays healthy', () =>
      withHil(database, opts, async (t) => {
        const { alice } = await setup(t);
        for (const n of ['n1', 'm1']) await ok(alice, 'PUT', `/v0/node/${n}/obm`, { enabled: true });
        bmc.hang(true);
        try {
          const started = performance.now();
          const res = await alice('POST', '/v0/node/n1/power_on');
          const took = performance.now() - started;
          assert.deepEqual([res.status, res.body.type], [500, 'OBMError'], res.text);
          assert.match(res.body.msg, /power on failed on node n1: .*timed out after 2000 ms/);
          assert.ok(took >= 1900 && took < 4000, `took ${took} ms`);

          assert.deepEqual((await ok(alice, 'GET', '/v0/node/n1')).body.project, 'runway');
          await ok(alice, 'POST', '/v0/node/m1/power_on');
          assert.deepEqual((await ok(alice, 'GET', '/v0/node/m1/power_status')).body, { power_status: 'on' });
        } finally {
          bmc.hang(false);
        }
        const status = (await ok(alice, 'GET', '/v0/node/n1/power_status')).body.power_status;
        assert.equal(status, bmc.state().powerState.toLowerCase(), 'the BMC answers again');
      }));

    it('a BMC that echoes the credentials in its errors, encoded or as a Basic header, leaks them to nobody', () =>
      withHil(database, opts, async (t) => {
        const password = 'p@ss w/rd:ü!';
        const echo = await startRedfishEmulator({ echoCredentials: true, password });
        try {
          const admin = t.as(await addUser(t, 'root', 'root-pw', true));
          await admin('PUT', '/v0/project/runway');
          const alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['runway']));
          for (const [node, auth] of [['e1', 'basic'], ['e2', 'session']] as const) {
            // A system that does not exist: the BMC answers 404, with its echo.
            const reg = await admin('PUT', `/v0/node/${node}`, { obm: { type: 'redfish', url: echo.url, user: echo.user, password, auth, system: 'nope' } });
            assert.equal(reg.status, 200, reg.text);
            await admin('POST', '/v0/project/runway/connect_node', { node });
            await alice('PUT', `/v0/node/${node}/obm`, { enabled: true });
            const failed = await alice('GET', `/v0/node/${node}/power_status`);
            assert.deepEqual([failed.status, failed.body.type], [500, 'OBMError'], failed.text);
            assert.match(failed.body.msg, /request carried Authorization/, 'the echo is there, scrubbed');
            const seen = failed.text + JSON.stringify(t.logs);
            const basic = Buffer.from(`${echo.user}:${password}`).toString('base64');
            for (const form of [password, encodeURIComponent(password), JSON.stringify(password).slice(1, -1), basic]) {
              assert.ok(!seen.includes(form), `${auth}: "${form}" leaked: ${failed.body.msg}`);
            }
          }
        } finally {
          await echo.close();
        }
      }));
  });
}
