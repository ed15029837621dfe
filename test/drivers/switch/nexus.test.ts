/**
 * The Cisco Nexus driver (src/drivers/switch/nexus.ts) and its emulator
 * (test/support/switch-emulators/nexus.ts).
 *
 * - The pure parts: parsing NX-OS `show` output (the emulator's and a
 *   capture written in the layout real NX-OS prints), the forwarding rules,
 *   the commands a change types, the registration fields.
 * - The driver against the emulator: each change leaves the emulated
 *   switch's configuration and what its ports forward (effective VLANs) as
 *   wanted, and reads back the same; the switch's own refusals (reserved
 *   VLAN, missing port, locked configuration) fail with its words; paging;
 *   save and `save: false`; a hung switch times out.
 * - The shared switch contract over the emulator (the lead's
 *   contract.test.ts runs it too, through a test HIL; this row runs the
 *   driver directly, without a database).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadArgumentError, SwitchError } from '../../../src/errors.ts';
import { cliSwitchDriver, type CliDriverContext } from '../../../src/drivers/switch/cli/cli-driver.ts';
import { memoryHostKeyStore } from '../../../src/drivers/switch/cli/host-keys.ts';
import {
  effectiveVlans,
  NEXUS_PORT_NAME,
  NEXUS_TYPE,
  nexusDialect,
  nexusDriverSpec,
  nexusPortCommands,
  nexusSwitchDriver,
  nexusVlanCommands,
  parseSwitchport,
  parseVlanBrief,
  type NexusParams,
} from '../../../src/drivers/switch/nexus.ts';
import type { SwitchSession } from '../../../src/drivers/switch/interface.ts';
import { NO_VLANS, parseVlanList, portVlans } from '../../../src/drivers/switch/port-vlans.ts';
import type { CliEmulator } from '../../support/switch-emulators/cli-engine.ts';
import { startEmulatorProcess } from '../../support/switch-emulators/process.ts';
import { generateHostKey } from '../../support/switch-emulators/ssh-server.ts';
import {
  formatSwitchport,
  formatVlanBrief,
  freshNexusPort,
  interfaceName,
  NEXUS_DUMMY_VLAN,
  nexusEffective,
  nexusFixture,
  newNexusState,
  startNexusEmulator,
  type NexusPort,
} from '../../support/switch-emulators/nexus.ts';
import { promptShell } from './ssh-screen.ts';

const CREDS = { username: 'admin', password: 'nexus-secret-pw' };
const quiet = { info() {}, warn() {} };
const context = (timeouts: CliDriverContext['timeouts'] = { loginMs: 5000, commandMs: 3000, saveMs: 5000 }): CliDriverContext => ({ hostKeys: memoryHostKeyStore(), log: quiet, timeouts });

// ——— pure parts ———

/** `show interface ethernet1/5 switchport` in the layout a Nexus 3548 prints (written for this test, not captured from a device). */
const NXOS_TRUNK = [
  'Name: Ethernet1/5',
  '  Switchport: Enabled',
  '  Switchport Monitor: Not enabled',
  '  Operational Mode: trunk',
  '  Access Mode VLAN: 1 (default)',
  '  Trunking Native Mode VLAN: 80 (VLAN0080)',
  '  Trunking VLANs Allowed: 1-3,5,7,9,11,13,15,17,19,21,23,25,27,29,31,33,35,37,39,41,43,',
  '    45,80,500-510',
  '  Administrative private-vlan primary host-association: none',
  '  Administrative private-vlan trunk private VLANs: none(0 none)',
  '  Operational private-vlan: none',
  '  Unknown unicast blocked: disabled',
].join('\r\n');

describe('nexus: parsing NX-OS show output', () => {
  it('reads mode, VLANs and a wrapped allowed list from show interface … switchport', () => {
    const sp = parseSwitchport(NXOS_TRUNK, 'ethernet1/5');
    assert.equal(sp.mode, 'trunk');
    assert.equal(sp.enabled, true);
    assert.deepEqual([sp.access, sp.accessCreated, sp.native, sp.nativeCreated], [1, true, 80, true]);
    assert.deepEqual(sp.allowed, [1, 2, 3, ...Array.from({ length: 21 }, (_, i) => 5 + 2 * i), 80, ...parseVlanList('500-510')]);
  });

  it('knows a VLAN that was never created, "none", and a routed port', () => {
    const access = parseSwitchport('Name: Ethernet2/3\n  Switchport: Enabled\n  Operational Mode: access\n  Access Mode VLAN: 100 (Vlan not created)\n  Trunking Native Mode VLAN: 1 (default)\n  Trunking VLANs Allowed: none\n', 'Ethernet2/3');
    assert.deepEqual([access.access, access.accessCreated, access.allowed], [100, false, []]);
    assert.deepEqual(effectiveVlans(access, new Set([1, 100])), NO_VLANS, 'a VLAN "not created" forwards nothing, whatever else says so');
    const routed = parseSwitchport('Name: Ethernet1/1\n  Switchport: Disabled\n', 'Ethernet1/1');
    assert.equal(routed.enabled, false);
    assert.deepEqual(effectiveVlans(routed, new Set([1])), NO_VLANS);
  });

  it('refuses output about another interface, or none', () => {
    assert.throws(() => parseSwitchport(NXOS_TRUNK, 'Ethernet1/6'), (e: unknown) => e instanceof SwitchError && /Ethernet1\/6/.test(e.message));
    assert.throws(() => parseSwitchport('', 'Ethernet1/6'), SwitchError);
  });

  it('reads active VLANs from show vlan brief, not suspended or shut ones', () => {
    const brief = [
      '',
      'VLAN Name                             Status    Ports',
      '---- -------------------------------- --------- -------------------------------',
      '1    default                          active    Eth1/1, Eth1/2, Eth1/3, Eth1/4',
      '                                                Eth1/5, Eth1/6',
      '80   VLAN0080                         active    Eth1/5',
      '81   web servers                      active    ',
      '90   VLAN0090                         suspend   ',
      '91   VLAN0091                         act/lshut ',
    ].join('\n');
    assert.deepEqual([...parseVlanBrief(brief)], [1, 80, 81]);
  });

  it('a trunk forwards the allowed VLANs that exist, the native one untagged only when allowed and existing', () => {
    const sp = parseSwitchport(NXOS_TRUNK, 'Ethernet1/5');
    assert.deepEqual(effectiveVlans(sp, new Set([1, 80, 500, 999])), portVlans(80, [1, 500]));
    assert.deepEqual(effectiveVlans(sp, new Set([1, 500])), portVlans(null, [1, 500]), 'native VLAN 80 does not exist here: nothing untagged');
    assert.deepEqual(effectiveVlans({ ...sp, allowed: [500] }, new Set([1, 80, 500])), portVlans(null, [500]), 'native VLAN 80 not allowed: nothing untagged');
    assert.throws(() => effectiveVlans({ ...sp, mode: 'fex-fabric' }, new Set([1])), /fex-fabric/);
  });

  it('the emulator\'s output, read by the driver\'s parsers, gives what the emulator forwards (random configurations)', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const pool = [1, 2, 10, 11, 100, 101, 1999, 3000];
    for (let i = 0; i < 300; i++) {
      const vlans = new Set([1, ...pool.filter(() => rnd(2) === 0)]);
      const pick = () => pool[rnd(pool.length)]!;
      const allowedList = [0, 1, 2].includes(rnd(4)) ? pool.filter(() => rnd(3) === 0) : parseVlanList('1-4094');
      const p: NexusPort = {
        switchport: rnd(8) !== 0,
        mode: rnd(2) ? 'trunk' : 'access',
        accessVlan: pick(),
        nativeVlan: pick(),
        allowed: allowedList.length ? (allowedList.length > 100 ? '1-4094' : allowedList.join(',')) : 'none',
        shutdown: false,
      };
      const state = newNexusState({ ports: ['Ethernet1/1'], ...CREDS });
      state.vlans = vlans;
      state.ports.set('Ethernet1/1', p);
      const sp = parseSwitchport(formatSwitchport('Ethernet1/1', p, vlans).join('\r\n'), 'Ethernet1/1');
      const read = effectiveVlans(sp, parseVlanBrief(formatVlanBrief(state).join('\r\n')));
      assert.deepEqual(read, nexusEffective(p, vlans), JSON.stringify({ p, vlans: [...vlans] }));
    }
  });
});

describe('nexus: the emulator\'s forwarding rules', () => {
  const vlans = new Set([1, 101, 102]);
  it('a fresh port is an access port on VLAN 1', () => assert.deepEqual(nexusEffective(freshNexusPort(), vlans), portVlans(1, [])));
  it('a fresh port made a trunk (upstream\'s "sw mode trunk") trunks every VLAN that exists', () => {
    assert.deepEqual(nexusEffective({ ...freshNexusPort(), mode: 'trunk' }, vlans), portVlans(1, [101, 102]));
  });
  it('a trunk whose native VLAN is not allowed carries it not at all', () => {
    assert.deepEqual(nexusEffective({ ...freshNexusPort(), mode: 'trunk', nativeVlan: 101, allowed: '102' }, vlans), portVlans(null, [102]));
  });
  it('a shut or routed port forwards nothing; a VLAN not created forwards nothing', () => {
    assert.deepEqual(nexusEffective({ ...freshNexusPort(), shutdown: true }, vlans), NO_VLANS);
    assert.deepEqual(nexusEffective({ ...freshNexusPort(), switchport: false }, vlans), NO_VLANS);
    assert.deepEqual(nexusEffective({ ...freshNexusPort(), accessVlan: 555 }, vlans), NO_VLANS);
    assert.deepEqual(nexusEffective({ ...freshNexusPort(), mode: 'trunk', nativeVlan: 555, allowed: '555,101' }, vlans), portVlans(null, [101]));
  });
  it('interface names as NX-OS takes them', () => {
    for (const typed of ['ethernet1/1', 'Ethernet1/1', 'e1/1', 'eth1/1', 'Ethernet 1/1', 'ETH1/1']) assert.equal(interfaceName(typed), 'Ethernet1/1', typed);
    assert.equal(interfaceName('e101/1/1'), 'Ethernet101/1/1');
    for (const typed of ['foo1/1', 'port-channel1', 'ethernet', 'vlan10']) assert.equal(interfaceName(typed), undefined, typed);
  });
});

describe('nexus: commands', () => {
  it('writes a port whole, native and allowed list before the mode', () => {
    assert.deepEqual(nexusPortCommands('Ethernet1/3', portVlans(101, [102, 103]), 1999), [
      'interface Ethernet1/3',
      'switchport',
      'switchport trunk native vlan 101',
      'switchport trunk allowed vlan 101-103',
      'switchport mode trunk',
      'exit',
    ]);
  });
  it('no native VLAN is the dummy, left out of the allowed list; nothing is allowed none', () => {
    assert.deepEqual(nexusPortCommands('Ethernet1/3', portVlans(null, [102]), 1999).slice(2, 4), ['switchport trunk native vlan 1999', 'switchport trunk allowed vlan 102']);
    assert.deepEqual(nexusPortCommands('Ethernet1/3', NO_VLANS, 1999).slice(2, 4), ['switchport trunk native vlan 1999', 'switchport trunk allowed vlan none']);
  });
  it('creates each VLAN a batch uses, once', () => assert.deepEqual(nexusVlanCommands([20, 10, 20]), ['vlan 10', 'exit', 'vlan 20', 'exit']));
  it('refuses a network on the dummy VLAN', () => {
    const d = nexusDialect(1999);
    assert.throws(() => d.prepare!([101, 1999]), /1999 is this switch's dummy_vlan/);
    assert.throws(() => d.portCommands('Ethernet1/1', NO_VLANS, portVlans(1999, [])), /dummy_vlan/);
  });
});

describe('nexus: registration fields', () => {
  const driver = nexusSwitchDriver(context());
  const base = { hostname: 'nexus.example.com', username: 'admin', password: 'secret' };
  it('takes upstream\'s body unchanged, dummy_vlan as an integer or a numeric string', () => {
    const { type, ...fields } = nexusFixture.upstreamBody;
    assert.equal(type, NEXUS_TYPE);
    assert.equal(driver.params.parse(structuredClone(fields)).dummy_vlan, 2222);
    assert.equal(driver.params.parse({ ...base, dummy_vlan: 42 }).dummy_vlan, 42);
    assert.equal(driver.params.parse({ ...base, dummy_vlan: ' 42 ' }).dummy_vlan, 42);
  });
  it('refuses a dummy_vlan that is no VLAN a native VLAN can be', () => {
    for (const bad of [0, 4095, 4096, '0', '4095', 'abc', '', -1, 1.5]) {
      assert.throws(() => driver.params.parse({ ...base, dummy_vlan: bad }), (e: unknown) => e instanceof BadArgumentError && e.message.includes('"dummy_vlan"'), JSON.stringify(bad));
    }
    assert.throws(() => driver.params.parse({ ...base }), /dummy_vlan/);
  });
  it('port names as upstream', () => {
    for (const p of [...nexusFixture.ports, ...nexusFixture.missingPorts, 'ethernet1/1', 'Ethernet101/1/1']) assert.doesNotThrow(() => driver.validatePortName(p), p);
    for (const p of nexusFixture.badPortNames) assert.throws(() => driver.validatePortName(p), BadArgumentError, JSON.stringify(p));
    assert.equal(NEXUS_PORT_NAME.source, '^(E|e)thernet\\d+\\/\\d+(\\/\\d+)?$');
    assert.deepEqual(driver.capabilities(), ['nativeless-trunk-mode']);
    assert.equal(driver.extensionName, 'hil.ext.switches.nexus');
  });
  it('the password is a secret field', () => assert.ok(driver.params.secretFields.includes('password')));
});

// ——— the driver against the emulator ———

describe('nexus: the driver against the emulator', () => {
  let emulator: CliEmulator<NexusPort>;
  let fields: Record<string, unknown>;
  const driver = nexusSwitchDriver(context());
  let nextId = 1;

  before(async () => {
    emulator = await startNexusEmulator({ ports: nexusFixture.ports, ...CREDS });
    fields = nexusFixture.fields(emulator, CREDS);
  });
  after(() => emulator?.close());

  async function session(extra: Record<string, unknown> = {}, d = driver): Promise<SwitchSession> {
    const params = d.params.parse({ ...structuredClone(fields), ...extra }) as NexusParams;
    return d.openSession({ id: nextId++, label: 'nexus-test', params });
  }
  async function withSession<T>(fn: (s: SwitchSession) => Promise<T>, extra: Record<string, unknown> = {}): Promise<T> {
    const s = await session(extra);
    try {
      return await fn(s);
    } finally {
      await s.close();
    }
  }
  const port = (name: string) => emulator.state.port(name)!;
  const reads = async (s: SwitchSession, p: string) => (await s.getPortNetworks([p])).get(p);
  const logSince = (n: number) => emulator.log.slice(n);

  it('an untouched port reads as VLAN 1 untagged, what it forwards', () =>
    withSession(async (s) => {
      assert.deepEqual(emulator.effective('Ethernet1/16'), portVlans(1, []));
      assert.deepEqual(await reads(s, 'Ethernet1/16'), [{ channel: 'vlan/native', networkId: '1' }]);
    }));

  it('a native network: the VLAN is created, the port trunks it untagged and nothing else, and reads back', () =>
    withSession(async (s) => {
      const mark = emulator.log.length;
      assert.ok(!emulator.state.vlans.has(101));
      await s.modifyPort('Ethernet1/1', 'vlan/native', '101');
      assert.ok(emulator.state.vlans.has(101), 'VLAN 101 was created');
      assert.deepEqual(emulator.effective('Ethernet1/1'), portVlans(101, []));
      assert.deepEqual(port('Ethernet1/1'), { ...freshNexusPort(), mode: 'trunk', nativeVlan: 101, allowed: '101' });
      assert.deepEqual(await reads(s, 'Ethernet1/1'), [{ channel: 'vlan/native', networkId: '101' }]);
      // The port left access mode only once its lists were final: never a trunk of everything.
      const typed = logSince(mark);
      assert.ok(typed.indexOf('switchport mode trunk') > typed.indexOf('switchport trunk allowed vlan 101'), typed.join(' | '));
      assert.ok(typed.includes('vlan 101'));
    }));

  it('tagged networks beside the native one; removing the native leaves the dummy VLAN, not allowed', () =>
    withSession(async (s) => {
      await s.modifyPort('Ethernet1/2', 'vlan/native', '101');
      await s.modifyPort('Ethernet1/2', 'vlan/102', '102');
      await s.modifyPort('Ethernet1/2', 'vlan/103', '103');
      assert.deepEqual(emulator.effective('Ethernet1/2'), portVlans(101, [102, 103]));
      await s.modifyPort('Ethernet1/2', 'vlan/native', null);
      assert.deepEqual(emulator.effective('Ethernet1/2'), portVlans(null, [102, 103]));
      assert.equal(port('Ethernet1/2').nativeVlan, NEXUS_DUMMY_VLAN);
      assert.equal(port('Ethernet1/2').allowed, '102-103');
      assert.ok(!emulator.state.vlans.has(NEXUS_DUMMY_VLAN), 'the dummy VLAN was not created');
      assert.deepEqual(await reads(s, 'Ethernet1/2'), [
        { channel: 'vlan/102', networkId: '102' },
        { channel: 'vlan/103', networkId: '103' },
      ]);
    }));

  it('revert leaves the port carrying nothing — not VLAN 1 — even if the dummy VLAN exists', () =>
    withSession(async (s) => {
      await s.modifyPort('Ethernet1/3', 'vlan/native', '101');
      await s.modifyPort('Ethernet1/3', 'vlan/102', '102');
      emulator.state.vlans.add(NEXUS_DUMMY_VLAN); // someone created it by hand
      try {
        await s.revertPort('Ethernet1/3');
        assert.deepEqual(emulator.effective('Ethernet1/3'), NO_VLANS);
        assert.deepEqual(port('Ethernet1/3'), { ...freshNexusPort(), mode: 'trunk', nativeVlan: NEXUS_DUMMY_VLAN, allowed: 'none' });
        assert.deepEqual(await reads(s, 'Ethernet1/3'), []);
        // An untouched port reverted: no longer on VLAN 1.
        await s.revertPort('Ethernet1/15');
        assert.deepEqual(emulator.effective('Ethernet1/15'), NO_VLANS);
      } finally {
        emulator.state.vlans.delete(NEXUS_DUMMY_VLAN);
      }
    }));

  it('reads what the switch says, not what HIL last wrote: a port set by hand', () =>
    withSession(async (s) => {
      for (const v of [101, 102]) emulator.state.vlans.add(v);
      Object.assign(port('Ethernet1/4'), { mode: 'trunk', nativeVlan: 102, allowed: '1-4094' });
      // A trunk of everything: native 102 untagged, every other VLAN that exists tagged.
      const others = [...emulator.state.vlans].filter((v) => v !== 102).sort((a, b) => a - b);
      assert.deepEqual(await reads(s, 'Ethernet1/4'), [{ channel: 'vlan/native', networkId: '102' }, ...others.map((v) => ({ channel: `vlan/${v}`, networkId: String(v) }))]);
      assert.ok(others.includes(1) && others.includes(101));
      // …and a change starts from there: the hand-made extras go.
      await s.modifyPort('Ethernet1/4', 'vlan/101', null);
      assert.deepEqual(emulator.effective('Ethernet1/4'), portVlans(102, others.filter((v) => v !== 101)));
      assert.notEqual(port('Ethernet1/4').allowed, '1-4094', 'the allowed list is now explicit');
      await s.revertPort('Ethernet1/4');
      assert.deepEqual(emulator.effective('Ethernet1/4'), NO_VLANS);
    }));

  it('a batch is one configuration session: VLANs created first, every port written, then saved once', () =>
    withSession(async (s) => {
      const mark = emulator.log.length;
      await (s as SwitchSession & { applyBatch: NonNullable<SwitchSession['applyBatch']> }).applyBatch([
        { op: 'modify', port: 'Ethernet1/5', channel: 'vlan/native', networkId: '201' },
        { op: 'modify', port: 'Ethernet1/6', channel: 'vlan/native', networkId: '202' },
        { op: 'modify', port: 'Ethernet1/6', channel: 'vlan/201', networkId: '201' },
      ]);
      assert.deepEqual(emulator.effective('Ethernet1/5'), portVlans(201, []));
      assert.deepEqual(emulator.effective('Ethernet1/6'), portVlans(202, [201]));
      const typed = logSince(mark);
      assert.equal(typed.filter((l) => l === 'configure terminal').length, 1);
      assert.equal(typed.filter((l) => l === 'copy running-config startup-config').length, 1);
      assert.ok(typed.indexOf('vlan 202') < typed.indexOf('interface Ethernet1/5'));
      assert.ok(!emulator.log.some((l) => l.includes(CREDS.password)), 'the password is never typed as a command');
    }));

  it('saves after a change; with save: false it does not', async () => {
    await withSession((s) => s.modifyPort('Ethernet1/7', 'vlan/native', '301'));
    assert.equal(emulator.unsaved, false, 'saved');
    await withSession((s) => s.modifyPort('Ethernet1/7', 'vlan/native', '302'), { save: false });
    assert.equal(emulator.unsaved, true, 'not saved');
    assert.deepEqual(emulator.effective('Ethernet1/7'), portVlans(302, []));
    await withSession((s) => s.modifyPort('Ethernet1/7', 'vlan/native', '301'));
    assert.equal(emulator.unsaved, false);
  });

  it('a reserved VLAN fails with the switch\'s words, and the port stays as it was', () =>
    withSession(async (s) => {
      await s.modifyPort('Ethernet1/8', 'vlan/native', '101');
      const { vlan, message } = nexusFixture.invalidVlan;
      await assert.rejects(s.modifyPort('Ethernet1/8', `vlan/${vlan}`, String(vlan)), (e: unknown) => e instanceof SwitchError && message.test(e.message));
      assert.deepEqual(emulator.effective('Ethernet1/8'), portVlans(101, []));
      assert.ok(!emulator.state.vlans.has(vlan));
    }));

  it('a port the switch does not have fails with the switch\'s words, naming the port; the next session works', async () => {
    for (const missing of nexusFixture.missingPorts) {
      await withSession(async (s) => {
        const mark = emulator.log.length;
        for (const attempt of [() => s.modifyPort(missing, 'vlan/native', '101'), () => s.revertPort(missing), () => s.getPortNetworks([missing])]) {
          await assert.rejects(attempt(), (e: unknown) => e instanceof SwitchError && nexusFixture.missingPortMessage.test(e.message) && e.message.includes(missing));
        }
        assert.ok(!logSince(mark).includes('configure terminal'), 'nothing was typed in configuration mode');
      });
    }
    await withSession(async (s) => assert.deepEqual(await reads(s, 'Ethernet1/16'), [{ channel: 'vlan/native', networkId: '1' }]));
  });

  it('a locked configuration fails with the switch\'s words and changes nothing', async () => {
    emulator.faults.configLocked = true;
    try {
      await withSession(async (s) => {
        await assert.rejects(s.modifyPort('Ethernet1/9', 'vlan/native', '101'), (e: unknown) => e instanceof SwitchError && nexusFixture.configLockedMessage.test(e.message));
        assert.deepEqual(emulator.effective('Ethernet1/9'), portVlans(1, []));
      });
    } finally {
      emulator.faults.configLocked = false;
    }
  });

  it('paging: with paging left on, long output still reads whole through the --More-- prompt', async () => {
    // 40 VLANs: `show vlan brief` is longer than a page.
    for (let v = 500; v < 540; v++) emulator.state.vlans.add(v);
    Object.assign(port('Ethernet1/10'), { mode: 'trunk', nativeVlan: 539, allowed: '500-539' });
    const paged = cliSwitchDriver({ ...nexusDriverSpec(), dialect: (p) => ({ ...nexusDialect(p.dummy_vlan), sessionSetup: [] }) }, context());
    const mark = emulator.log.length;
    const s = await session({}, paged);
    try {
      const got = (await s.getPortNetworks(['Ethernet1/10'])).get('Ethernet1/10')!;
      assert.equal(got.length, 40);
      assert.deepEqual(got[0], { channel: 'vlan/native', networkId: '539' });
    } finally {
      await s.close();
    }
    assert.ok(!logSince(mark).includes('terminal length 0'));
    // The real driver turns paging off first.
    const mark2 = emulator.log.length;
    await withSession(async (s2) => assert.equal((await reads(s2, 'Ethernet1/10'))!.length, 40));
    assert.equal(logSince(mark2)[0], 'terminal length 0');
  });

  it('a hung switch: the action times out and the session is not reused', async () => {
    const impatient = nexusSwitchDriver(context({ loginMs: 5000, commandMs: 800, saveMs: 800 }));
    const s = (await session({}, impatient)) as SwitchSession & { broken: boolean };
    try {
      emulator.faults.hangAfterCommands = 0;
      const started = Date.now();
      await assert.rejects(s.modifyPort('Ethernet1/11', 'vlan/native', '101'), SwitchError);
      assert.ok(Date.now() - started < 5000, 'cut off by the command timeout');
      assert.equal(s.broken, true);
      await assert.rejects(s.getPortNetworks(['Ethernet1/11']), SwitchError);
    } finally {
      delete emulator.faults.hangAfterCommands;
      emulator.dropSessions();
      await s.close().catch(() => {});
    }
  });
});

// ——— a switch that dies mid-batch ———

describe('nexus: the switch dies in the middle of a batch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hil-nexus-kill-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const fixtureModule = fileURLToPath(new URL('../../support/switch-emulators/nexus.ts', import.meta.url));

  it('each port reads either as it was or as asked; the same batch again finishes the job', async () => {
    const hostKey = generateHostKey();
    const common = { ports: nexusFixture.ports, ...CREDS, stateFile: join(dir, 'state.json'), hostKey, fixtureModule };
    const driver = nexusSwitchDriver(context());
    const batch = [
      { op: 'modify' as const, port: 'Ethernet1/1', channel: 'vlan/native', networkId: '101' },
      { op: 'modify' as const, port: 'Ethernet1/2', channel: 'vlan/native', networkId: '102' },
    ];
    const open = async (p: { port: number; hostKeyFingerprint?: string }) =>
      driver.openSession({ id: 1, label: 'kill', params: driver.params.parse({ hostname: '127.0.0.1', ssh_port: p.port, host_key: p.hostKeyFingerprint, ...CREDS, dummy_vlan: NEXUS_DUMMY_VLAN }) });

    // Eight configuration commands: vlan 101, vlan 102, then Ethernet1/1 whole (interface … mode trunk); it dies entering Ethernet1/2's.
    const first = await startEmulatorProcess('nexus', { ...common, faults: { dieAfterCommands: 8 } });
    const s1 = await open(first);
    await assert.rejects(s1.applyBatch!(batch), SwitchError);
    await s1.close().catch(() => {});
    assert.equal((await first.exited).signal, 'SIGKILL');

    const second = await startEmulatorProcess('nexus', common);
    try {
      assert.equal(second.hostKeyFingerprint, first.hostKeyFingerprint);
      const s2 = await open(second);
      try {
        const got = await s2.getPortNetworks(['Ethernet1/1', 'Ethernet1/2']);
        assert.deepEqual(got.get('Ethernet1/1'), [{ channel: 'vlan/native', networkId: '101' }], 'as asked');
        assert.deepEqual(got.get('Ethernet1/2'), [{ channel: 'vlan/native', networkId: '1' }], 'as it was');
        await s2.applyBatch!(batch);
        const again = await s2.getPortNetworks(['Ethernet1/1', 'Ethernet1/2']);
        assert.deepEqual(again.get('Ethernet1/2'), [{ channel: 'vlan/native', networkId: '102' }]);
      } finally {
        await s2.close();
      }
      const saved = JSON.parse(readFileSync(common.stateFile, 'utf8')) as { startup: { ports: Record<string, NexusPort> } };
      assert.equal(saved.startup.ports['Ethernet1/2']!.nativeVlan, 102, 'the finished batch was saved');
    } finally {
      await second.stop();
    }
  });
});

// ——— the emulator as a person at its CLI sees it ———

/** A raw interactive shell: type a line, get what the switch printed up to its next prompt. */
const shell = (port: number) => promptShell(port, CREDS, /switch(\([a-z-]+\))?# $/);

describe('nexus: the emulator at its CLI', () => {
  let emulator: CliEmulator<NexusPort>;
  before(async () => {
    emulator = await startNexusEmulator({ ports: nexusFixture.ports, ...CREDS });
  });
  after(() => emulator?.close());

  it('prompts per mode, abbreviations, both interface spellings, show output as NX-OS prints it', async () => {
    const s = await shell(emulator.port);
    try {
      assert.match(await s.run('conf t'), /switch\(config\)# $/);
      assert.match(await s.run('vlan 10,20'), /switch\(config-vlan\)# $/);
      assert.match(await s.run('int e1/1'), /switch\(config-if\)# $/);
      await s.run('sw mo tr');
      await s.run('sw tr nat vl 10');
      await s.run('sw tr al vl 10');
      await s.run('sw tr al vl add 20,30');
      assert.match(await s.run('interface Ethernet 1/2'), /switch\(config-if\)# $/);
      await s.run('sw acc vl 20');
      assert.match(await s.run('end'), /\nswitch# $/);
      assert.deepEqual(emulator.effective('Ethernet1/1'), portVlans(10, [20]));
      assert.deepEqual(emulator.effective('Ethernet1/2'), portVlans(20, []));
      const sp = await s.run('show interface ethernet1/1 switchport');
      assert.match(sp, /Name: Ethernet1\/1\n  Switchport: Enabled\n/);
      assert.match(sp, /  Operational Mode: trunk\n  Access Mode VLAN: 1 \(default\)\n  Trunking Native Mode VLAN: 10 \(VLAN0010\)\n  Trunking VLANs Allowed: 10,20,30\n/);
      assert.match(await s.run('sh int e1/2 sw'), /Access Mode VLAN: 20 \(VLAN0020\)/);
      assert.match(await s.run('show running-config interface ethernet1/1'), /interface Ethernet1\/1\n  switchport mode trunk\n  switchport trunk native vlan 10\n  switchport trunk allowed vlan 10,20,30\n/);
      assert.match(await s.run('show vlan brief'), /\n10   VLAN0010                         active    Eth1\/1\n20   VLAN0020                         active    Eth1\/1, Eth1\/2\n/);
      assert.match(await s.run('copy running-config startup-config'), /Copy complete\./);
      assert.equal(emulator.unsaved, false);
    } finally {
      s.end();
    }
  });

  it("refuses as NX-OS does, with the marker under the offending word", async () => {
    const s = await shell(emulator.port);
    try {
      assert.equal(await s.run('shw vlan'), "shw vlan\n        ^\n% Invalid command at '^' marker.\nswitch# ");
      assert.equal(await s.run('show'), "show\n            ^\n% Incomplete command at '^' marker.\nswitch# ");
      assert.equal(await s.run('co'), "co\n        ^\n% Ambiguous command at '^' marker.\nswitch# ");
      assert.equal(await s.run('show interface ethernet1/99 switchport'), "show interface ethernet1/99 switchport\n                       ^\nInvalid range at '^' marker.\nswitch# ");
      assert.match(await s.run('show interface foo1/1 switchport'), /\n {23}\^\nInvalid interface format at '\^' marker\.\n/);
      await s.run('configure terminal');
      assert.match(await s.run('interface ethernet9/1'), /\n {26}\^\nInvalid range at '\^' marker\.\nswitch\(config\)# $/);
      assert.match(await s.run('vlan 4000'), /ERROR: VLAN 4000 is reserved for internal use/);
      assert.ok(!emulator.state.vlans.has(4000));
      assert.match(await s.run('no vlan 1'), /ERROR: Default VLAN 1 may not be deleted/);
      await s.run('int e1/3');
      assert.match(await s.run('switchport access vlan 5000'), /% Invalid number, range is \(1:4094\)/);
      emulator.faults.configLocked = true;
      assert.match(await s.run('switchport mode trunk'), /Configuration update aborted: the configuration is locked by another session\n/);
      emulator.faults.configLocked = false;
      assert.equal(emulator.state.port('Ethernet1/3')!.mode, 'access');
      await s.run('end');
    } finally {
      emulator.faults.configLocked = false;
      s.end();
    }
  });

  it('pages long output at --More-- until terminal length 0', async () => {
    const s = await shell(emulator.port);
    try {
      s.type('show running-config\r');
      await s.expect(/\x1b\[7m--More--\x1b\[m/);
      s.type('q');
      await s.expect(/switch# $/);
      await s.run('terminal length 0');
      const all = await s.run('show running-config');
      assert.ok(!all.includes('--More--'));
      assert.match(all, /interface Ethernet1\/16\n/);
    } finally {
      s.end();
    }
  });
});
