/**
 * The Dell PowerConnect 55xx driver (src/drivers/switch/powerconnect.ts)
 * against its emulator (test/support/switch-emulators/powerconnect.ts):
 * every change leaves the emulated switch's configuration and what its
 * ports forward as wanted, and reads back the same; the switch's refusals
 * fail with its words; its login dialog, paging, save and `save: false`; a
 * hung switch. Then the shared switch contract over the emulator (driver
 * only, no database). The pure parts are in dell-cli.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadArgumentError, SwitchError } from '../../../src/errors.ts';
import { cliSwitchDriver } from '../../../src/drivers/switch/cli/cli-driver.ts';
import { NO_VLANS, portVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { DELL_PORT_NAME, POWERCONNECT_TYPE, powerconnectDialect, powerconnectDriverSpec, powerconnectSwitchDriver } from '../../../src/drivers/switch/powerconnect.ts';
import { powerconnectFixture as fixture, startPowerconnect, type PowerconnectPort } from '../../support/switch-emulators/powerconnect.ts';
import { context, CREDS, harness, itBatches, itFailsWhenLocked, itHangsSafely, itNeverCarriesOtherVlans, itRefusesAnInvalidVlan, itRefusesMissingPorts, itSavesUnlessToldNot, itTimesOutWhenHung } from './dell-harness.ts';

const fresh: PowerconnectPort = { mode: 'access', access: 1, native: 1, allowed: [], pvid: 1, generalUntagged: [], generalTagged: [], shutdown: false };

describe('powerconnect: registration fields', () => {
  const driver = powerconnectSwitchDriver(context());
  it('takes upstream\'s body unchanged; type, extension and capabilities as upstream', () => {
    assert.equal(driver.type, POWERCONNECT_TYPE);
    assert.equal(fixture.type, POWERCONNECT_TYPE);
    assert.equal(driver.extensionName, 'hil.ext.switches.dell');
    assert.deepEqual(driver.capabilities(), ['nativeless-trunk-mode']);
    assert.deepEqual(driver.params.parse(structuredClone(fixture.upstreamBody)), fixture.upstreamBody);
    assert.throws(() => driver.params.parse({ ...fixture.upstreamBody, dummy_vlan: 5 }), (e: unknown) => e instanceof BadArgumentError && /dummy_vlan/.test(e.message));
    assert.ok(driver.params.secretFields.includes('password'));
  });
  it('port names as upstream', () => {
    for (const p of [...fixture.ports, ...fixture.missingPorts, 'te1/0/12', 'gi1/12', 'te1/3']) assert.doesNotThrow(() => driver.validatePortName(p), p);
    for (const p of fixture.badPortNames) assert.throws(() => driver.validatePortName(p), BadArgumentError, JSON.stringify(p));
    assert.equal(DELL_PORT_NAME.source, '^(gi|te)\\d+\\/\\d+(\\/\\d+)?$');
  });
});

describe('powerconnect: the driver against the emulator', () => {
  const driver = powerconnectSwitchDriver(context());
  const h = harness<PowerconnectPort>(fixture, startPowerconnect, driver as never);
  const port = (name: string) => h.emulator.state.port(name)!;

  it('an untouched port is an access port on VLAN 1, and reads so', () =>
    h.withSession(async (s) => {
      assert.deepEqual(port('gi1/0/16'), fresh);
      assert.deepEqual(h.emulator.effective('gi1/0/16'), portVlans(1, []));
      assert.deepEqual(await h.reads(s, 'gi1/0/16'), fixture.untouched!.reads);
    }));

  it('logs in through the switch\'s own "User Name:" dialog and turns paging off first', async () => {
    const mark = h.emulator.log.length;
    await h.withSession((s) => s.getPortNetworks(['gi1/0/16']));
    // The dialog's answers are not commands: what the log has first is the session setup.
    assert.deepEqual(h.logSince(mark).slice(0, 2), ['terminal datadump', 'show interfaces switchport gi1/0/16']);
    assert.ok(!h.emulator.log.includes(CREDS.password), 'the password is never logged as a command');
  });

  it('a wrong password is refused at the switch\'s login dialog, without the password in the error', async () => {
    await assert.rejects(h.session({ password: 'not-the-password' }), (e: unknown) => e instanceof SwitchError && /refused the login/.test(e.message) && !e.message.includes('not-the-password'));
  });

  it('a native network: the VLAN is created, the port becomes a trunk with it untagged and nothing else', () =>
    h.withSession(async (s) => {
      const mark = h.emulator.log.length;
      assert.ok(!h.emulator.state.vlans.has(101));
      await s.modifyPort('gi1/0/1', 'vlan/native', '101');
      assert.ok(h.emulator.state.vlans.has(101), 'VLAN 101 was created');
      assert.deepEqual(port('gi1/0/1'), { ...fresh, mode: 'trunk', native: 101, allowed: [101] });
      assert.deepEqual(h.emulator.effective('gi1/0/1'), portVlans(101, []));
      assert.deepEqual(await h.reads(s, 'gi1/0/1'), [{ channel: 'vlan/native', networkId: '101' }]);
      const typed = h.logSince(mark);
      assert.deepEqual(typed.slice(typed.indexOf('vlan database'), typed.indexOf('vlan database') + 3), ['vlan database', 'vlan 101', 'exit']);
      assert.ok(typed.indexOf('switchport trunk allowed vlan add 101') < typed.indexOf('switchport trunk native vlan 101'));
    }));

  it('tagged networks beside the native one; removing the native sets "none", the tagged ones stay', () =>
    h.withSession(async (s) => {
      await s.modifyPort('gi1/0/2', 'vlan/native', '101');
      await s.modifyPort('gi1/0/2', 'vlan/102', '102');
      await s.modifyPort('gi1/0/2', 'vlan/103', '103');
      assert.deepEqual(h.emulator.effective('gi1/0/2'), portVlans(101, [102, 103]));
      await s.modifyPort('gi1/0/2', 'vlan/native', null);
      assert.deepEqual(port('gi1/0/2'), { ...fresh, mode: 'trunk', native: null, allowed: [102, 103] });
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
      assert.deepEqual(port('gi1/0/3'), { ...fresh, mode: 'trunk', native: null, allowed: [] });
      assert.deepEqual(h.emulator.effective('gi1/0/3'), NO_VLANS);
      assert.deepEqual(await h.reads(s, 'gi1/0/3'), []);
      await s.revertPort('gi1/0/15');
      assert.deepEqual(h.emulator.effective('gi1/0/15'), NO_VLANS);
      assert.deepEqual(await h.reads(s, 'gi1/0/15'), []);
    }));

  it('reads what the switch says, not what HIL wrote: a port set by hand, a VLAN deleted by hand', () =>
    h.withSession(async (s) => {
      for (const v of [101, 102, 104]) h.emulator.state.vlans.add(v);
      Object.assign(port('gi1/0/4'), { mode: 'trunk', native: 102, allowed: [1, 101, 104] });
      h.emulator.state.vlans.delete(104); // now "(Inactive)": configured, not carried
      assert.deepEqual(await h.reads(s, 'gi1/0/4'), [
        { channel: 'vlan/native', networkId: '102' },
        { channel: 'vlan/1', networkId: '1' },
        { channel: 'vlan/101', networkId: '101' },
      ]);
      await s.modifyPort('gi1/0/4', 'vlan/101', null);
      assert.deepEqual(h.emulator.effective('gi1/0/4'), portVlans(102, [1]));
      await s.revertPort('gi1/0/4');
      assert.deepEqual(port('gi1/0/4').allowed, [], 'the inactive VLAN went too');
      assert.deepEqual(h.emulator.effective('gi1/0/4'), NO_VLANS);
    }));

  it('a general-mode port is read by its PVID and members, and written as a trunk', () =>
    h.withSession(async (s) => {
      h.emulator.state.vlans.add(101).add(102);
      Object.assign(port('gi1/0/5'), { mode: 'general', pvid: 101, generalUntagged: [101], generalTagged: [102] });
      assert.deepEqual(await h.reads(s, 'gi1/0/5'), [
        { channel: 'vlan/native', networkId: '101' },
        { channel: 'vlan/102', networkId: '102' },
      ]);
      await s.modifyPort('gi1/0/5', 'vlan/102', null);
      assert.equal(port('gi1/0/5').mode, 'trunk');
      assert.deepEqual(h.emulator.effective('gi1/0/5'), portVlans(101, []));
    }));

  itBatches(h, ['gi1/0/6', 'gi1/0/7'], 'vlan 201-202');
  itSavesUnlessToldNot(h, 'gi1/0/8', 'Overwrite question');
  itRefusesAnInvalidVlan(h, 'gi1/0/9');

  it('a VLAN that was not created is refused in the switch\'s words (a dialect that does not create it)', async () => {
    const noCreate = cliSwitchDriver({ ...powerconnectDriverSpec(), dialect: () => ({ ...powerconnectDialect(), prepare: undefined }) }, context());
    const s = await h.session({}, noCreate);
    try {
      await assert.rejects(s.modifyPort('gi1/0/10', 'vlan/native', '555'), (e: unknown) => e instanceof SwitchError && /VLAN was not created by user/.test(e.message));
      assert.deepEqual(h.emulator.effective('gi1/0/10'), portVlans(1, []));
    } finally {
      await s.close();
    }
  });

  itRefusesMissingPorts(h);
  itFailsWhenLocked(h, 'gi1/0/11');

  it('paging: left on, the show output (longer than a page) still reads whole through the "More:" prompt', async () => {
    const paged = cliSwitchDriver({ ...powerconnectDriverSpec(), dialect: () => ({ ...powerconnectDialect(), sessionSetup: [] }) }, context());
    h.emulator.state.vlans.add(101).add(102);
    Object.assign(port('gi1/0/12'), { mode: 'trunk', native: 101, allowed: [101, 102] });
    const mark = h.emulator.log.length;
    const s = await h.session({}, paged);
    try {
      assert.deepEqual((await s.getPortNetworks(['gi1/0/12'])).get('gi1/0/12'), [
        { channel: 'vlan/native', networkId: '101' },
        { channel: 'vlan/102', networkId: '102' },
      ]);
    } finally {
      await s.close();
    }
    assert.ok(!h.logSince(mark).includes('terminal datadump'));
  });

  itTimesOutWhenHung(h, (c) => powerconnectSwitchDriver(c) as never, 'gi1/0/13');

  itNeverCarriesOtherVlans(h, 'gi1/0/14', fresh, { mode: 'access', access: 200, native: 300, allowed: [300] }, null);
  itHangsSafely(h, (c) => powerconnectSwitchDriver(c) as never, 'gi1/0/14', fresh);
});
