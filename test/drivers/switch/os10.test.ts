/**
 * The Dell OS10 driver (src/drivers/switch/os10.ts) and its emulator
 * (test/support/switch-emulators/os10.ts):
 *
 * - the pure parts: reading `show running-configuration interface` output,
 *   the commands from one port state to another (their order matters on
 *   OS10), the emulator's forwarding rules and `show vlan` layout;
 * - the emulator as a client sees it over SSH: prompts, "% Error:" words,
 *   the "--more--" pager and `terminal length 0`;
 * - the driver against the emulator: what each change leaves on the device
 *   (its effective VLANs and its own configuration text, never the
 *   driver's read-back alone), OS10's quirks (default VLAN 1, no VLAN both
 *   access and trunk, VLANs that must exist), the switch's words for an
 *   invalid VLAN / a missing port / a locked configuration, paging, save
 *   and `save: false`, a hung switch, a pinned host key;
 * - the shared switch contract over the emulator (the row the lead will
 *   also run from contract.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { memoryHostKeyStore } from '../../../src/drivers/switch/cli/host-keys.ts';
import type { CliSession } from '../../../src/drivers/switch/cli/cli-session.ts';
import { os10PortCommands, os10PortVlans, os10SwitchDriver, OS10_PORT, OS10_TYPE, parseInterfaceConfig } from '../../../src/drivers/switch/os10.ts';
import { NO_VLANS, portVlans, type PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { SwitchError } from '../../../src/errors.ts';
import { startCliEmulator, type CliEmulator } from '../../support/switch-emulators/cli-engine.ts';
import { promptShell } from './ssh-screen.ts';
import { formatInterface, formatPortList, formatShowVlan, newOs10State, os10Effective, os10Fixture, os10Grammar, startOs10, type Os10Port } from '../../support/switch-emulators/os10.ts';

const USER = 'admin';
const PASSWORD = 'os10-test-pw-5f2c';
const quiet = { info() {}, warn() {} };

const trunk = (access: number | null, allowed: number[] = [], shutdown = false): Os10Port => ({ mode: 'trunk', access, allowed, shutdown });
const accessPort = (access: number | null): Os10Port => ({ mode: 'access', access, allowed: [], shutdown: false });

describe('os10: reading show running-configuration interface', () => {
  it('reads an untouched port as access VLAN 1, untagged', () => {
    const out = '!\ninterface ethernet1/1/1\n no shutdown\n switchport access vlan 1\n flowcontrol receive on\n';
    const cfg = parseInterfaceConfig(out, 'ethernet1/1/1');
    assert.deepEqual(cfg, { mode: 'access', access: 1, allowed: [], shutdown: false });
    assert.deepEqual(os10PortVlans(cfg!), portVlans(1, []));
  });

  it('reads a trunk: the access VLAN is the native one, the allowed list tagged (lines it does not know skipped)', () => {
    const out = ['!', 'interface ethernet1/1/12', ' description "to esx"', ' no shutdown', ' switchport mode trunk', ' switchport access vlan 99', ' switchport trunk allowed vlan 2100-2102,2200', ' mtu 9216', ' flowcontrol receive off'].join('\r\n');
    assert.deepEqual(os10PortVlans(parseInterfaceConfig(out, 'ethernet1/1/12')!), portVlans(99, [2100, 2101, 2102, 2200]));
  });

  it('reads a nativeless trunk, a routed port, and an access port without a VLAN as carrying what they carry', () => {
    const nativeless = '!\ninterface ethernet1/1/2\n no shutdown\n switchport mode trunk\n switchport trunk allowed vlan 32\n';
    assert.deepEqual(os10PortVlans(parseInterfaceConfig(nativeless, 'ethernet1/1/2')!), portVlans(null, [32]));
    const routed = '!\ninterface ethernet1/1/2\n no shutdown\n no switchport\n';
    assert.deepEqual(os10PortVlans(parseInterfaceConfig(routed, 'ethernet1/1/2')!), NO_VLANS);
    const bare = '!\ninterface ethernet1/1/2\n no shutdown\n';
    assert.deepEqual(os10PortVlans(parseInterfaceConfig(bare, 'ethernet1/1/2')!), NO_VLANS);
  });

  it('ignores an allowed list on an access port, merges allowed lines, and stops at the next block', () => {
    const out = '!\ninterface ethernet1/1/3\n switchport mode trunk\n switchport trunk allowed vlan 10\n switchport trunk allowed vlan 12-13\n!\ninterface ethernet1/1/4\n switchport access vlan 7\n';
    assert.deepEqual(os10PortVlans(parseInterfaceConfig(out, 'ethernet1/1/3')!), portVlans(null, [10, 12, 13]));
    assert.deepEqual(os10PortVlans(parseInterfaceConfig(out, 'ethernet1/1/4')!), portVlans(7, []));
    const accessWithList = '!\ninterface ethernet1/1/5\n switchport access vlan 7\n switchport trunk allowed vlan 10\n';
    assert.deepEqual(os10PortVlans(parseInterfaceConfig(accessWithList, 'ethernet1/1/5')!), portVlans(7, []));
  });

  it('finds no block for another port, or for empty output', () => {
    assert.equal(parseInterfaceConfig('!\ninterface ethernet1/1/10\n no shutdown\n', 'ethernet1/1/1'), null);
    assert.equal(parseInterfaceConfig('', 'ethernet1/1/1'), null);
  });

  it('reads what the emulator prints, both ways round', () => {
    for (const p of [accessPort(1), trunk(5, [6, 7]), trunk(null, [8]), trunk(null), accessPort(null), trunk(9, [], true)]) {
      const text = formatInterface('ethernet1/1/7', p).join('\n');
      const want = p.mode === 'trunk' ? portVlans(p.access, p.allowed) : portVlans(p.access, []);
      assert.deepEqual(os10PortVlans(parseInterfaceConfig(text, 'ethernet1/1/7')!), want, text);
    }
  });
});

describe('os10: commands from one port state to another', () => {
  it('turns a fresh port into a trunk and sets the native VLAN', () => {
    assert.deepEqual(os10PortCommands('ethernet1/1/1', portVlans(1, []), portVlans(101, [])), ['interface ethernet1/1/1', 'switchport mode trunk', 'switchport access vlan 101', 'exit']);
  });

  it('reverts to nothing: no access VLAN (not even 1), no allowed VLANs', () => {
    assert.deepEqual(os10PortCommands('ethernet1/1/2', portVlans(101, [102, 103, 105]), NO_VLANS), [
      'interface ethernet1/1/2',
      'switchport mode trunk',
      'no switchport trunk allowed vlan 102-103,105',
      'no switchport access vlan',
      'exit',
    ]);
  });

  it('removes tagged VLANs before the native one moves onto them, and adds after it moved off', () => {
    // Native A + tagged B → native B + tagged A: OS10 refuses a VLAN that is access and allowed at once.
    assert.deepEqual(os10PortCommands('ethernet1/1/3', portVlans(101, [102]), portVlans(102, [101])), [
      'interface ethernet1/1/3',
      'switchport mode trunk',
      'no switchport trunk allowed vlan 102',
      'switchport access vlan 102',
      'switchport trunk allowed vlan 101',
      'exit',
    ]);
  });

  it('only adds or removes what differs', () => {
    assert.deepEqual(os10PortCommands('ethernet1/1/4', portVlans(101, [102]), portVlans(101, [102, 103])), ['interface ethernet1/1/4', 'switchport mode trunk', 'switchport trunk allowed vlan 103', 'exit']);
    assert.deepEqual(os10PortCommands('ethernet1/1/4', portVlans(101, [102]), portVlans(null, [102])), ['interface ethernet1/1/4', 'switchport mode trunk', 'no switchport access vlan', 'exit']);
  });

  it('port names: OS10 ethernet ports, breakout subports; nothing else', () => {
    for (const p of [...os10Fixture.ports, ...os10Fixture.missingPorts, 'ethernet1/1/49:4']) assert.match(p, OS10_PORT);
    for (const p of os10Fixture.badPortNames) assert.doesNotMatch(p, OS10_PORT);
  });
});

describe('os10 emulator: forwarding rules and show output', () => {
  const all = new Set([1, 10, 20]);
  it('an access port forwards its access VLAN untagged, never an allowed list', () => {
    assert.deepEqual(os10Effective(accessPort(10), all), portVlans(10, []));
    assert.deepEqual(os10Effective({ mode: 'access', access: 10, allowed: [20], shutdown: false }, all), portVlans(10, []));
  });
  it('a trunk forwards its access VLAN untagged and its allowed VLANs tagged, only those that exist', () => {
    assert.deepEqual(os10Effective(trunk(10, [20, 30]), all), portVlans(10, [20]));
    assert.deepEqual(os10Effective(trunk(30, [20]), all), portVlans(null, [20]));
  });
  it('a nativeless trunk forwards nothing untagged; a shut port nothing at all', () => {
    assert.deepEqual(os10Effective(trunk(null, [10]), all), portVlans(null, [10]));
    assert.deepEqual(os10Effective(trunk(10, [20], true), all), NO_VLANS);
  });
  it('lists ports as OS10 does', () => {
    assert.equal(formatPortList(['ethernet1/1/1', 'ethernet1/1/2', 'ethernet1/1/3']), 'Eth1/1/1-1/1/3');
    assert.equal(formatPortList(['ethernet1/1/12', 'ethernet1/1/9']), 'Eth1/1/9,1/1/12');
    assert.equal(formatPortList(['ethernet1/1/1:1', 'ethernet1/1/1:2', 'ethernet1/1/2']), 'Eth1/1/1:1,1/1/1:2,1/1/2');
  });
  it('show vlan: the default VLAN starred, tagged then access members, columns as OS10 aligns them', () => {
    const ports = new Map<string, Os10Port>([
      ['ethernet1/1/1', accessPort(1)],
      ['ethernet1/1/2', accessPort(1)],
      ['ethernet1/1/3', trunk(10, [20])],
      ['ethernet1/1/4', trunk(null, [20])],
    ]);
    const out = formatShowVlan(all, ports);
    assert.equal(out[3], '    NUM    Status    Description                     Q Ports');
    assert.equal(out[4], '*   1      Active                                    A Eth1/1/1-1/1/2');
    assert.equal(out[5], '    10     Active                                    A Eth1/1/3');
    assert.equal(out[6], '    20     Active                                    T Eth1/1/3-1/1/4');
    assert.equal(out.length, 7);
  });
});

// ——— over SSH ———

const PROMPT = /OS10(\([a-z0-9/:-]+\))?# $/;

const shell = (port: number) => promptShell(port, { username: USER, password: PASSWORD }, PROMPT);

describe('os10 emulator over SSH', () => {
  let emu: CliEmulator<Os10Port>;
  before(async () => {
    emu = await startOs10({ ports: os10Fixture.ports, username: USER, password: PASSWORD });
  });
  after(() => emu?.close());

  it('prompts per mode, and OS10 interface spellings', async () => {
    const s = await shell(emu.port);
    try {
      assert.match(await s.run('configure terminal'), /OS10\(config\)# $/);
      assert.match(await s.run('interface ethernet 1/1/5'), /OS10\(conf-if-eth1\/1\/5\)# $/);
      assert.match(await s.run('interface vlan 300'), /OS10\(conf-if-vl-300\)# $/);
      assert.match(await s.run('interface e1/1/6'), /OS10\(conf-if-eth1\/1\/6\)# $/);
      assert.match(await s.run('end'), /\nOS10# $/);
      assert.ok(emu.state.vlans.has(300), 'interface vlan 300 created VLAN 300');
    } finally {
      s.end();
    }
  });

  it('refuses with OS10\'s words, no "^" marker', async () => {
    const s = await shell(emu.port);
    try {
      assert.match(await s.run('shwo vlan'), /^shwo vlan\n% Error: Unrecognized command\.\n/);
      await s.run('configure terminal');
      assert.match(await s.run('interface vlan 4094'), /% Error: Illegal parameter\./);
      assert.match(await s.run('interface ethernet1/1/99'), /% Error: Interface ethernet1\/1\/99 does not exist\./);
      await s.run('interface ethernet1/1/7');
      assert.match(await s.run('switchport trunk allowed vlan 1'), /% Error: Interface is not in trunk mode\./);
      await s.run('switchport mode trunk');
      assert.match(await s.run('switchport trunk allowed vlan 1'), /% Error: Interface cannot be an access and trunk member of the same VLAN\. One of the vlan in the range provided is already an access vlan\./);
      assert.match(await s.run('switchport access vlan 777'), /% Error: VLAN 777 does not exist\./);
      assert.match(await s.run('no interface vlan 1'), /% Error: Default VLAN cannot be deleted\./);
      await s.run('end');
      assert.deepEqual(emu.state.port('ethernet1/1/7'), trunk(1), 'only the mode changed');
    } finally {
      s.end();
    }
  });

  it('pages long output at --more-- until terminal length 0', async () => {
    const s = await shell(emu.port);
    try {
      s.type('show running-configuration\r');
      await s.expect(/--more--/);
      s.type('q');
      await s.expect(PROMPT);
      await s.run('terminal length 0');
      const all = await s.run('show running-configuration');
      assert.doesNotMatch(all, /--more--/);
      assert.match(all, /interface ethernet1\/1\/16\n/);
    } finally {
      s.end();
    }
  });
});

// ——— the driver against the emulator ———

function world(o: { save?: boolean; commandMs?: number; pageLines?: number } = {}) {
  const ctx = { hostKeys: memoryHostKeyStore(), log: quiet, timeouts: { loginMs: 5000, commandMs: o.commandMs ?? 5000, saveMs: 5000 } };
  const driver = os10SwitchDriver(ctx);
  let emu: CliEmulator<Os10Port>;
  const start = async () => {
    const opts = { ports: os10Fixture.ports, username: USER, password: PASSWORD };
    emu = o.pageLines ? await startCliEmulator({ vendor: 'os10', grammar: { ...os10Grammar, pager: { prompt: '--more--', lines: o.pageLines } }, state: newOs10State(opts), options: opts }) : await startOs10(opts);
    return emu;
  };
  const fields = () => ({ ...os10Fixture.fields(emu, { username: USER, password: PASSWORD }), ...(o.save === undefined ? {} : { save: o.save }) });
  const open = () => driver.openSession({ id: 1, label: 'os10-test', params: driver.params.parse(fields()) }) as Promise<CliSession>;
  async function withSession<T>(fn: (s: CliSession) => Promise<T>): Promise<T> {
    const s = await open();
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  }
  /** The port's block as the emulated switch itself prints it. */
  const configText = (port: string) => formatInterface(port, emu.state.port(port)!).join('\n');
  return { driver, start, fields, open, withSession, configText, get emu() {
    return emu;
  } };
}

const eff = (native: number | null, tagged: number[] = []): PortVlans => portVlans(native, tagged);

describe('os10 driver against the emulator', () => {
  const w = world();
  before(() => w.start());
  after(() => w.emu?.close());

  it('registers as dellos10 with the shared CLI fields, and says ports can be nativeless trunks', () => {
    assert.equal(w.driver.type, OS10_TYPE);
    assert.equal(w.driver.type, 'http://schema.massopencloud.org/haas/v0/switches/dellos10');
    assert.equal(w.driver.extensionName, 'hil.ext.switches.dellos10');
    assert.deepEqual(w.driver.capabilities(), ['nativeless-trunk-mode']);
    assert.doesNotThrow(() => w.driver.params.parse(structuredClone(os10Fixture.upstreamBody)));
    assert.deepEqual(w.driver.params.secretFields.includes('password'), true);
  });

  it('an untouched port reads native VLAN 1, as the switch has it', () =>
    w.withSession(async (s) => {
      assert.deepEqual((await s.getPortNetworks(['ethernet1/1/16'])).get('ethernet1/1/16'), [{ channel: 'vlan/native', networkId: '1' }]);
      assert.deepEqual(w.emu.effective('ethernet1/1/16'), eff(1));
    }));

  it('native, tagged, swap, nativeless, revert: the switch forwards what was asked, and its configuration says so', () =>
    w.withSession(async (s) => {
      const p = 'ethernet1/1/1';
      await s.modifyPort(p, 'vlan/native', '101');
      assert.deepEqual(w.emu.effective(p), eff(101));
      assert.ok(w.emu.state.vlans.has(101), 'the driver created VLAN 101');
      assert.match(w.configText(p), /switchport mode trunk\n switchport access vlan 101\n/);

      await s.modifyPort(p, 'vlan/102', '102');
      await s.modifyPort(p, 'vlan/103', '103');
      assert.deepEqual(w.emu.effective(p), eff(101, [102, 103]));
      assert.match(w.configText(p), /switchport trunk allowed vlan 102-103\n/);

      // The native VLAN moves onto a tagged one: OS10 refuses a VLAN both access and allowed, so order matters.
      await s.applyBatch([
        { op: 'modify', port: p, channel: 'vlan/102', networkId: null },
        { op: 'modify', port: p, channel: 'vlan/native', networkId: '102' },
        { op: 'modify', port: p, channel: 'vlan/101', networkId: '101' },
      ]);
      assert.deepEqual(w.emu.effective(p), eff(102, [101, 103]));

      await s.modifyPort(p, 'vlan/native', null);
      assert.deepEqual(w.emu.effective(p), eff(null, [101, 103]), 'a nativeless trunk forwards nothing untagged');
      assert.doesNotMatch(w.configText(p), /switchport access vlan/);

      await s.revertPort(p);
      assert.deepEqual(w.emu.effective(p), NO_VLANS, 'reverted: nothing at all, not the default VLAN 1');
      assert.deepEqual((await s.getPortNetworks([p])).get(p), []);
    }));

  it('a revert of an untouched port takes it off the default VLAN 1', () =>
    w.withSession(async (s) => {
      await s.revertPort('ethernet1/1/2');
      assert.deepEqual(w.emu.effective('ethernet1/1/2'), NO_VLANS);
      assert.match(w.configText('ethernet1/1/2'), /^!\ninterface ethernet1\/1\/2\n no shutdown\n switchport mode trunk\n flowcontrol receive on$/);
      assert.deepEqual(w.emu.effective('ethernet1/1/3'), eff(1), 'the next port is untouched');
    }));

  it('one login for a batch over several ports; a repeated batch types nothing', () =>
    w.withSession(async (s) => {
      const logins = () => w.emu.log.filter((l) => l === 'terminal length 0').length;
      const before = logins();
      const batch = [
        { op: 'modify' as const, port: 'ethernet1/1/4', channel: 'vlan/native', networkId: '201' },
        { op: 'modify' as const, port: 'ethernet1/1/5', channel: 'vlan/native', networkId: '202' },
        { op: 'modify' as const, port: 'ethernet1/1/5', channel: 'vlan/201', networkId: '201' },
      ];
      await s.applyBatch(batch);
      assert.deepEqual([w.emu.effective('ethernet1/1/4'), w.emu.effective('ethernet1/1/5')], [eff(201), eff(202, [201])]);
      const typed = w.emu.log.length;
      await s.applyBatch(batch);
      assert.ok(w.emu.log.slice(typed).every((l) => l.startsWith('show ')), `a repeat only reads: ${w.emu.log.slice(typed).join(' | ')}`);
      assert.equal(logins(), before, 'no new login within the session');
    }));

  it('the switch\'s words for a VLAN it refuses (4094, reserved for VLT)', () =>
    w.withSession(async (s) => {
      await assert.rejects(s.modifyPort('ethernet1/1/6', 'vlan/native', String(os10Fixture.invalidVlan.vlan)), (err: unknown) => err instanceof SwitchError && os10Fixture.invalidVlan.message.test(err.message));
      assert.deepEqual(w.emu.effective('ethernet1/1/6'), eff(1), 'the port did not change');
    }));

  it('the switch\'s words for a port it does not have, naming the port', () =>
    w.withSession(async (s) => {
      for (const p of os10Fixture.missingPorts) {
        await assert.rejects(s.modifyPort(p, 'vlan/native', '101'), (err: unknown) => err instanceof SwitchError && err.message.includes(p) && os10Fixture.missingPortMessage.test(err.message));
      }
    }));

  it('the switch\'s words for a locked configuration; nothing changes', async () => {
    w.emu.faults.configLocked = true;
    try {
      await w.withSession(async (s) => {
        await assert.rejects(s.modifyPort('ethernet1/1/7', 'vlan/native', '301'), (err: unknown) => err instanceof SwitchError && os10Fixture.configLockedMessage.test(err.message));
      });
      assert.deepEqual(w.emu.effective('ethernet1/1/7'), eff(1));
      assert.ok(!w.emu.state.vlans.has(301), 'VLAN 301 was not created either');
    } finally {
      w.emu.faults.configLocked = false;
    }
  });

  it('saves after a change (write memory), and the startup configuration then matches', () =>
    w.withSession(async (s) => {
      await s.modifyPort('ethernet1/1/8', 'vlan/native', '401');
      assert.equal(w.emu.log.at(-1), 'write memory', w.emu.log.slice(-5).join(' | '));
      assert.equal(w.emu.unsaved, false);
    }));

  it('refuses a switch whose host key is not the pinned one', async () => {
    const params = w.driver.params.parse({ ...w.fields(), host_key: 'SHA256:' + 'A'.repeat(43) });
    await assert.rejects(w.driver.openSession({ id: 2, label: 'os10-wrong-key', params }), SwitchError);
  });
});

describe('os10 driver: save: false, paging, a hung switch', () => {
  it('with save: false, changes are made and not saved', async () => {
    const w = world({ save: false });
    const emu = await w.start();
    try {
      await w.withSession((s) => s.modifyPort('ethernet1/1/1', 'vlan/native', '101'));
      assert.deepEqual(emu.effective('ethernet1/1/1'), eff(101));
      assert.equal(emu.unsaved, true);
      assert.ok(!emu.log.includes('write memory'));
    } finally {
      await emu.close();
    }
  });

  it('turns paging off: reads longer than a page come back whole', async () => {
    // Three lines a page: every port's block (5+ lines) would stop at --more-- if the driver left paging on.
    const w = world({ pageLines: 4 });
    const emu = await w.start();
    try {
      await w.withSession(async (s) => {
        await s.modifyPort('ethernet1/1/1', 'vlan/native', '101');
        await s.modifyPort('ethernet1/1/1', 'vlan/102', '102');
        assert.deepEqual((await s.getPortNetworks(['ethernet1/1/1'])).get('ethernet1/1/1'), [{ channel: 'vlan/native', networkId: '101' }, { channel: 'vlan/102', networkId: '102' }]);
      });
      assert.equal(emu.log[0], 'terminal length 0');
    } finally {
      await emu.close();
    }
  });

  it('a switch that stops answering mid-change fails within the command timeout, and the session is not reused', async () => {
    const w = world({ commandMs: 800 });
    const emu = await w.start();
    try {
      const s = await w.open();
      emu.faults.hangAfterCommands = 1;
      const started = Date.now();
      await assert.rejects(s.modifyPort('ethernet1/1/1', 'vlan/native', '101'), SwitchError);
      assert.ok(Date.now() - started < 4000, 'cut off by the command timeout');
      assert.equal(s.broken, true);
      await assert.rejects(s.getPortNetworks(['ethernet1/1/1']), SwitchError);
      await s.close();
    } finally {
      emu.faults.hangAfterCommands = undefined;
      emu.dropSessions();
      await emu.close();
    }
  });
});
