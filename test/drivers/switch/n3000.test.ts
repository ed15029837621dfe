/**
 * The Dell N3000 driver (src/drivers/switch/n3000.ts) against its emulator
 * (test/support/switch-emulators/n3000.ts): every change leaves the
 * emulated switch's configuration and what its ports forward as wanted, and
 * reads back the same; the dummy VLAN stands in for "no native VLAN"
 * (upstream #870) and is created; the switch's refusals fail with its
 * words; enable, paging, save and `save: false`; a hung switch. Then the
 * shared switch contract over the emulator (driver only, no database).
 * The pure parts are in dell-cli.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadArgumentError, SwitchError } from '../../../src/errors.ts';
import { cliSwitchDriver } from '../../../src/drivers/switch/cli/cli-driver.ts';

import { N3000_TYPE, n3000Dialect, n3000DriverSpec, n3000SwitchDriver } from '../../../src/drivers/switch/n3000.ts';
import { NO_VLANS, portVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { N3000_DUMMY_VLAN as DUMMY, n3000Fixture as fixture, startN3000, type N3000Port } from '../../support/switch-emulators/n3000.ts';
import { context, harness, itBatches, itFailsWhenLocked, itHangsSafely, itNeverCarriesOtherVlans, itRefusesAnInvalidVlan, itRefusesMissingPorts, itSavesUnlessToldNot, itTimesOutWhenHung } from './dell-harness.ts';

const fresh: N3000Port = { mode: 'access', access: 1, native: 1, allowed: '1-4093', pvid: 1, generalUntagged: [1], generalTagged: [], shutdown: false };

/** A driver like the N3000's with its dialect changed. */
const variant = (change: Partial<ReturnType<typeof n3000Dialect>>) =>
  cliSwitchDriver({ ...n3000DriverSpec(), dialect: (p) => ({ ...n3000Dialect(p.dummy_vlan), ...change }) }, context()) as never;

describe('n3000: registration fields', () => {
  const driver = n3000SwitchDriver(context());
  const base = { hostname: 'n3000.example.com', username: 'admin', password: 'secret' };
  it('takes upstream\'s body unchanged, dummy_vlan as an integer or a numeric string', () => {
    assert.equal(driver.type, N3000_TYPE);
    assert.equal(fixture.type, N3000_TYPE);
    assert.equal(driver.extensionName, 'hil.ext.switches.n3000');
    assert.deepEqual(driver.capabilities(), ['nativeless-trunk-mode']);
    assert.equal(driver.params.parse(structuredClone(fixture.upstreamBody)).dummy_vlan, 4000);
    assert.equal(driver.params.parse({ ...base, dummy_vlan: 42 }).dummy_vlan, 42);
    assert.equal(driver.params.parse({ ...base, dummy_vlan: '4093' }).dummy_vlan, 4093);
  });
  it('refuses a dummy_vlan outside 1..4093, or none', () => {
    for (const bad of [0, 4094, 4095, '0', '4094', 'abc', '', -1, 1.5, null]) {
      assert.throws(() => driver.params.parse({ ...base, dummy_vlan: bad }), (e: unknown) => e instanceof BadArgumentError && e.message.includes('"dummy_vlan"'), JSON.stringify(bad));
    }
    assert.throws(() => driver.params.parse(base), /dummy_vlan/);
  });
  it('port names as upstream', () => {
    for (const p of [...fixture.ports, ...fixture.missingPorts]) assert.doesNotThrow(() => driver.validatePortName(p), p);
    for (const p of fixture.badPortNames) assert.throws(() => driver.validatePortName(p), BadArgumentError, JSON.stringify(p));
  });
});

describe('n3000: the driver against the emulator', () => {
  const h = harness<N3000Port>(fixture, startN3000, n3000SwitchDriver(context()) as never);
  const port = (name: string) => h.emulator.state.port(name)!;

  it('an untouched port is an access port on VLAN 1, and reads so; the driver types enable at "console>"', async () => {
    const mark = h.emulator.log.length;
    await h.withSession(async (s) => {
      assert.deepEqual(port('te1/0/4'), fresh);
      assert.deepEqual(h.emulator.effective('te1/0/4'), portVlans(1, []));
      assert.deepEqual(await h.reads(s, 'te1/0/4'), fixture.untouched!.reads);
    });
    assert.deepEqual(h.logSince(mark).slice(0, 3), ['enable', 'terminal length 0', 'show interfaces switchport te1/0/4']);
  });

  it('a native network: the VLAN and the dummy VLAN are created; the trunk allows only it', () =>
    h.withSession(async (s) => {
      assert.ok(!h.emulator.state.vlans.has(101) && !h.emulator.state.vlans.has(DUMMY));
      await s.modifyPort('gi1/0/1', 'vlan/native', '101');
      assert.ok(h.emulator.state.vlans.has(101) && h.emulator.state.vlans.has(DUMMY), 'VLAN 101 and the dummy VLAN were created');
      assert.deepEqual(port('gi1/0/1'), { ...fresh, mode: 'trunk', native: 101, allowed: '101' });
      assert.deepEqual(h.emulator.effective('gi1/0/1'), portVlans(101, []));
      assert.deepEqual(await h.reads(s, 'gi1/0/1'), [{ channel: 'vlan/native', networkId: '101' }]);
    }));

  it('refuses a network on the dummy VLAN (every nativeless port would carry it untagged), leaving the port as it was', () =>
    h.withSession(async (s) => {
      const before = structuredClone(port('te1/0/3'));
      await assert.rejects(s.modifyPort('te1/0/3', 'vlan/native', String(DUMMY)), (e: unknown) => e instanceof SwitchError && /is this switch's dummy_vlan, which must not carry a network/.test(e.message));
      await assert.rejects(s.modifyPort('te1/0/3', `vlan/${DUMMY}`, String(DUMMY)), SwitchError);
      assert.deepEqual(port('te1/0/3'), before);
    }));

  it('removing the native VLAN beside tagged ones makes the dummy VLAN native, out of the allowed list', () =>
    h.withSession(async (s) => {
      await s.modifyPort('gi1/0/2', 'vlan/native', '101');
      await s.modifyPort('gi1/0/2', 'vlan/102', '102');
      await s.modifyPort('gi1/0/2', 'vlan/103', '103');
      assert.deepEqual(h.emulator.effective('gi1/0/2'), portVlans(101, [102, 103]));
      await s.modifyPort('gi1/0/2', 'vlan/native', null);
      assert.deepEqual(port('gi1/0/2'), { ...fresh, mode: 'trunk', native: DUMMY, allowed: '102-103' });
      assert.deepEqual(h.emulator.effective('gi1/0/2'), portVlans(null, [102, 103]));
      assert.deepEqual(await h.reads(s, 'gi1/0/2'), [
        { channel: 'vlan/102', networkId: '102' },
        { channel: 'vlan/103', networkId: '103' },
      ]);
    }));

  it('revert leaves a port carrying nothing, not VLAN 1: a configured one, and an untouched one', () =>
    h.withSession(async (s) => {
      await s.modifyPort('gi1/0/3', 'vlan/native', '101');
      await s.modifyPort('gi1/0/3', 'vlan/102', '102');
      await s.revertPort('gi1/0/3');
      assert.deepEqual(port('gi1/0/3'), { ...fresh, mode: 'trunk', native: DUMMY, allowed: '' });
      assert.deepEqual(h.emulator.effective('gi1/0/3'), NO_VLANS);
      assert.deepEqual(await h.reads(s, 'gi1/0/3'), []);
      await s.revertPort('gi1/0/12');
      assert.deepEqual(h.emulator.effective('gi1/0/12'), NO_VLANS);
    }));

  it('reads what the switch says: a trunk left allowing every VLAN carries every VLAN that exists', () =>
    h.withSession(async (s) => {
      h.emulator.state.vlans.add(101).add(102);
      Object.assign(port('gi1/0/4'), { mode: 'trunk', native: 102, allowed: '1-4093' });
      const others = [...h.emulator.state.vlans].filter((v) => v !== 102).sort((a, b) => a - b);
      assert.deepEqual(await h.reads(s, 'gi1/0/4'), [{ channel: 'vlan/native', networkId: '102' }, ...others.map((v) => ({ channel: `vlan/${v}`, networkId: String(v) }))]);
      await s.modifyPort('gi1/0/4', 'vlan/101', null);
      assert.deepEqual(h.emulator.effective('gi1/0/4'), portVlans(102, others.filter((v) => v !== 101)));
      await s.revertPort('gi1/0/4');
      assert.deepEqual(h.emulator.effective('gi1/0/4'), NO_VLANS);
      assert.equal(port('gi1/0/4').allowed, '');
    }));

  itBatches(h, ['gi1/0/5', 'gi1/0/6'], `vlan 201-202,${DUMMY}`);
  itSavesUnlessToldNot(h, 'gi1/0/7', 'question');
  itRefusesAnInvalidVlan(h, 'gi1/0/8');

  it('a native VLAN that does not exist is refused ("VLAN ID not found."), so the dummy VLAN must be created', async () => {
    const s = await h.session({ dummy_vlan: 3999 }, variant({ prepare: undefined }));
    try {
      await assert.rejects(s.revertPort('gi1/0/9'), (e: unknown) => e instanceof SwitchError && /VLAN ID not found\./.test(e.message));
      assert.ok(!h.emulator.state.vlans.has(3999));
    } finally {
      await s.close();
    }
  });

  itRefusesMissingPorts(h);
  itFailsWhenLocked(h, 'gi1/0/10');

  // DNOS writes "--More-- or (q)uit" (FASTPATH's pager): the session layer must answer it too.
  it('paging: left on, a long show vlan still reads whole through the "--More-- or (q)uit" prompt', async () => {
    for (let v = 500; v < 540; v++) h.emulator.state.vlans.add(v);
    Object.assign(port('gi1/0/11'), { mode: 'trunk', native: 539, allowed: '500-539' });
    const mark = h.emulator.log.length;
    const s = await h.session({}, variant({ sessionSetup: [] }));
    try {
      const got = (await s.getPortNetworks(['gi1/0/11'])).get('gi1/0/11')!;
      assert.equal(got.length, 40);
      assert.deepEqual(got[0], { channel: 'vlan/native', networkId: '539' });
    } finally {
      await s.close();
      for (let v = 500; v < 540; v++) h.emulator.state.vlans.delete(v);
    }
    assert.ok(!h.logSince(mark).includes('terminal length 0'));
  });

  itTimesOutWhenHung(h, (c) => n3000SwitchDriver(c) as never, 'gi1/0/11');

  // A fresh N3000 trunk allows every VLAN (1-4093): the port becomes one only once its list is trimmed.
  // The dummy VLAN is carried for the two commands that make it native (upstream: only an allowed VLAN can be); no network is on it.
  itNeverCarriesOtherVlans(h, 'te1/0/1', fresh, { mode: 'access', access: 200, native: 300, allowed: '300' }, DUMMY);
  itHangsSafely(h, (c) => n3000SwitchDriver(c) as never, 'te1/0/2', fresh);
});
