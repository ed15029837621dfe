/**
 * The pure halves of the two Dell drivers and emulators, without SSH: the
 * drivers' parsers read the emulators' `show` output as the emulators'
 * forwarding rules say (for random port configurations), and the command
 * sequences are what docs/compat.md says they are.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseDellVlan, parseDellVlanList, parseKeyValues, trunkPortCommands } from '../../../src/drivers/switch/dell-cli.ts';
import { parseN3000Switchport, parseShowVlan, n3000Dialect } from '../../../src/drivers/switch/n3000.ts';
import { formatVlanList, NO_VLANS, parseVlanList, portVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { parsePowerconnectSwitchport, powerconnectDialect } from '../../../src/drivers/switch/powerconnect.ts';
import { canonicalPort } from '../../support/switch-emulators/dell-shared.ts';
import { n3000Effective, showSwitchport as showN3000, type N3000Port } from '../../support/switch-emulators/n3000.ts';
import { powerconnectEffective, showSwitchport as showPowerconnect, type PowerconnectPort } from '../../support/switch-emulators/powerconnect.ts';

const vlan = fc.integer({ min: 1, max: 40 });
const vlanSet = fc.uniqueArray(vlan, { maxLength: 8 });
const existingVlans = vlanSet.map((l) => new Set([1, ...l]));

describe('Dell show output parsing', () => {
  it('reads Key: value lines with continuation lines and stops at tables', () => {
    const kv = parseKeyValues(['Name: gi1/0/1', 'Trunking VLANs Enabled: 1,101', '                        102 (Inactive)', 'General PVID: 1', '', 'Classification rules:', 'Classification type    Group ID     VLAN ID'].join('\r\n'));
    assert.equal(kv.get('Name'), 'gi1/0/1');
    assert.equal(kv.get('Trunking VLANs Enabled'), '1,101\n102 (Inactive)');
    assert.deepEqual(parseDellVlanList(kv.get('Trunking VLANs Enabled')!, [1, 4093]), { active: [1, 101], inactive: [102] });
    assert.equal(kv.get('General PVID'), '1');
  });

  it('reads single VLAN values and list values in their Dell spellings', () => {
    assert.deepEqual(parseDellVlan('1 (default)'), { vlan: 1, active: true });
    assert.deepEqual(parseDellVlan('3 (Inactive)'), { vlan: 3, active: false });
    assert.deepEqual(parseDellVlan('none'), { vlan: null, active: false });
    assert.deepEqual(parseDellVlanList('none', [1, 4093]), { active: [], inactive: [] });
    assert.deepEqual(parseDellVlanList('', [1, 4093]), { active: [], inactive: [] });
    assert.equal(parseDellVlanList('All', [1, 4093]).active.length, 4093);
    assert.deepEqual(parseDellVlanList('23 - 25', [1, 4093]).active, [23, 24, 25]);
  });

  it('reads the VLAN IDs of show vlan', () => {
    const text = ['', 'VLAN   Name                             Ports          Type', '-----  ---------------                  -------------  --------------', '1      default                          Gi1/0/1,       Default', '                                        Gi1/0/2', '101    VLAN101                                         Static', ''].join('\r\n');
    assert.deepEqual([...parseShowVlan(text)], [1, 101]);
  });
});

const pcPort: fc.Arbitrary<PowerconnectPort> = fc.record({
  mode: fc.constantFrom('access', 'trunk', 'general'),
  access: fc.option(vlan, { nil: null }),
  native: fc.option(vlan, { nil: null }),
  allowed: vlanSet.map((l) => [...l].sort((a, b) => a - b)),
  pvid: fc.option(vlan, { nil: null }),
  generalUntagged: vlanSet.map((l) => [...l].sort((a, b) => a - b)),
  generalTagged: vlanSet.map((l) => [...l].sort((a, b) => a - b)),
  shutdown: fc.constant(false),
}).map((p) => ({ ...p, generalTagged: p.generalTagged.filter((v) => !p.generalUntagged.includes(v)) }));

const nPort: fc.Arbitrary<N3000Port> = fc.record({
  mode: fc.constantFrom('access', 'trunk', 'general'),
  access: vlan,
  native: vlan,
  allowed: fc.oneof(fc.constant('1-4093'), vlanSet.map((l) => formatVlanList(l))),
  pvid: vlan,
  generalUntagged: vlanSet.map((l) => [...l].sort((a, b) => a - b)),
  generalTagged: vlanSet.map((l) => [...l].sort((a, b) => a - b)),
  shutdown: fc.constant(false),
}).map((p) => ({ ...p, generalTagged: p.generalTagged.filter((v) => !p.generalUntagged.includes(v)) }));

describe('the drivers read the emulators as the emulators forward', () => {
  it('PowerConnect 55xx: show interfaces switchport → what the port carries', () => {
    fc.assert(
      fc.property(pcPort, existingVlans, (p, vlans) => {
        // An access port's VLAN on a real 55xx must exist; keep the generator to what the CLI allows.
        const got = parsePowerconnectSwitchport(showPowerconnect('gi1/0/1', p, vlans).join('\r\n'), 'gi1/0/1');
        assert.deepEqual(got.carries, powerconnectEffective(p, vlans));
        assert.equal(got.mode, p.mode);
        assert.equal(got.trunkNative, p.native);
      }),
    );
  });

  it('N3000: show interfaces switchport + show vlan → what the port carries', () => {
    fc.assert(
      fc.property(nPort, existingVlans, (p, vlans) => {
        const port = { ...p, access: vlans.has(p.access) ? p.access : 1 };
        const got = parseN3000Switchport(showN3000('gi1/0/1', port).join('\r\n'), 'gi1/0/1', vlans);
        assert.deepEqual(got.carries, n3000Effective(port, vlans));
      }),
    );
  });
});

describe('Dell trunk command sequences', () => {
  const fresh55 = parsePowerconnectSwitchport(showPowerconnect('gi1/0/1', { mode: 'access', access: 1, native: 1, allowed: [], pvid: 1, generalUntagged: [], generalTagged: [], shutdown: false }, new Set([1])).join('\n'), 'gi1/0/1');

  it('55xx: a fresh access port gets its trunk settings first and becomes a trunk (native 101, tagged 102) last', () => {
    assert.deepEqual(fresh55.carries, portVlans(1, []));
    assert.deepEqual(trunkPortCommands({ port: 'gi1/0/1', read: fresh55, from: fresh55.carries, to: portVlans(101, [102]), noNative: null }), [
      'interface gi1/0/1',
      'switchport trunk allowed vlan remove 1',
      'switchport trunk allowed vlan add 101-102',
      'switchport trunk native vlan 101',
      'switchport mode trunk',
      'exit',
    ]);
  });

  it('55xx: a revert leaves native none and an empty allowed list (not VLAN 1)', () => {
    assert.deepEqual(trunkPortCommands({ port: 'gi1/0/1', read: fresh55, from: fresh55.carries, to: NO_VLANS, noNative: null }), [
      'interface gi1/0/1',
      'switchport trunk allowed vlan remove 1',
      'switchport trunk native vlan none',
      'switchport mode trunk',
      'exit',
    ]);
  });

  it('55xx: changing only the native VLAN leaves the tagged ones alone; the old one goes before the new one comes', () => {
    const read = { mode: 'trunk', trunkNative: 101, trunkAllowed: [101, 102, 103], carries: portVlans(101, [102, 103]) };
    assert.deepEqual(trunkPortCommands({ port: 'gi1/0/2', read, from: read.carries, to: portVlans(104, [102, 103]), noNative: null }), [
      'interface gi1/0/2',
      'switchport trunk allowed vlan remove 101',
      'switchport trunk allowed vlan add 104',
      'switchport trunk native vlan 104',
      'exit',
    ]);
  });

  it('N3000: a fresh access port (its trunk list 1-4093) is trimmed to the wanted VLANs before it becomes a trunk', () => {
    const read = { mode: 'access', trunkNative: 1, trunkAllowed: Array.from({ length: 4093 }, (_, i) => i + 1), carries: portVlans(1, []) };
    assert.deepEqual(trunkPortCommands({ port: 'gi1/0/3', read, from: read.carries, to: portVlans(101, [102]), noNative: 4000, nativeMustBeAllowed: true }), [
      'interface gi1/0/3',
      'switchport trunk allowed vlan remove 1-100,103-4093',
      'switchport trunk native vlan 101',
      'switchport mode trunk',
      'exit',
    ]);
  });

  it('N3000: a trunk allowing 1-4093 reverts through the dummy VLAN, allowed only until it is native', () => {
    const read = { mode: 'trunk', trunkNative: 1, trunkAllowed: Array.from({ length: 4093 }, (_, i) => i + 1), carries: portVlans(1, []) };
    assert.deepEqual(trunkPortCommands({ port: 'gi1/0/3', read, from: read.carries, to: NO_VLANS, noNative: 4000, nativeMustBeAllowed: true }), [
      'interface gi1/0/3',
      'switchport trunk allowed vlan remove 1-3999,4001-4093',
      'switchport trunk native vlan 4000',
      'switchport trunk allowed vlan remove 4000',
      'exit',
    ]);
  });

  it('N3000: removing the native VLAN of a port with tagged ones makes the dummy native, briefly allowed', () => {
    const read = { mode: 'trunk', trunkNative: 101, trunkAllowed: [101, 102], carries: portVlans(101, [102]) };
    assert.deepEqual(trunkPortCommands({ port: 'te1/0/1', read, from: read.carries, to: portVlans(null, [102]), noNative: 4000, nativeMustBeAllowed: true }), [
      'interface te1/0/1',
      'switchport trunk allowed vlan remove 101',
      'switchport trunk allowed vlan add 4000',
      'switchport trunk native vlan 4000',
      'switchport trunk allowed vlan remove 4000',
      'exit',
    ]);
  });

  it('any port, any change: after every line the port carries nothing outside old ∪ new (the N3000 dummy aside), and the mode comes last', () => {
    // Replays the lines on a model of each switch (its trunk settings kept in every mode, forwarded in trunk mode only).
    const vlanList = fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 5 });
    const state = fc.record({ mode: fc.constantFrom('access', 'trunk', 'general'), access: fc.integer({ min: 1, max: 12 }), native: fc.option(fc.integer({ min: 1, max: 12 }), { nil: null }), allowed: vlanList });
    const target = fc.record({ native: fc.option(fc.integer({ min: 1, max: 12 }), { nil: null }), tagged: vlanList });
    const DUMMY = 40;
    fc.assert(
      fc.property(state, target, fc.boolean(), (st, t, n3000) => {
        const to = portVlans(t.native, t.tagged.filter((v) => v !== t.native));
        const native = n3000 ? (st.native ?? DUMMY) : st.native;
        const port = { mode: st.mode, native, allowed: new Set(st.allowed) };
        const carries = () => {
          if (port.mode === 'access') return [st.access];
          if (port.mode === 'general') return [st.access]; // a stand-in: what it carried before
          const c = new Set(port.allowed);
          // The 55xx carries its native VLAN untagged; the N3000 only while it is allowed.
          if (port.native !== null && (!n3000 || port.allowed.has(port.native))) c.add(port.native);
          return [...c];
        };
        const read = { mode: port.mode, trunkNative: port.native, trunkAllowed: [...port.allowed], carries: portVlans(null, []) };
        const from = carries();
        const lines = trunkPortCommands({ port: 'p', read, from: read.carries, to, noNative: n3000 ? DUMMY : null, nativeMustBeAllowed: n3000 });
        const ok = new Set([...from, ...(to.native === null ? [] : [to.native]), ...to.tagged, ...(n3000 ? [DUMMY] : [])]);
        for (const line of lines) {
          let m: RegExpExecArray | null;
          if ((m = /^switchport trunk allowed vlan (add|remove) (.+)$/.exec(line))) for (const v of parseVlanList(m[2]!)) m[1] === 'add' ? port.allowed.add(v) : port.allowed.delete(v);
          else if ((m = /^switchport trunk native vlan (\S+)$/.exec(line))) {
            const v = m[1] === 'none' ? null : Number(m[1]);
            if (n3000) assert.ok(v !== null && port.allowed.has(v), `N3000: native ${v} set while not allowed: ${lines.join(' | ')}`);
            port.native = v;
          } else if (line === 'switchport mode trunk') port.mode = 'trunk';
          for (const v of carries()) assert.ok(ok.has(v), `carries ${v} after "${line}": ${lines.join(' | ')}`);
        }
        if (lines.includes('switchport mode trunk')) assert.equal(lines.at(-2), 'switchport mode trunk');
        // …and ends as asked.
        const end = new Set(carries());
        assert.deepEqual([...end].filter((v) => !(n3000 && v === DUMMY)).sort((a, b) => a - b), [...new Set([...to.tagged, ...(to.native === null ? [] : [to.native])])].sort((a, b) => a - b));
        if (!n3000) assert.equal(port.native, to.native);
        else assert.equal(port.native, to.native ?? DUMMY);
      }),
    );
  });

  it('the dialects create the VLANs a change needs (and the N3000 its dummy), never VLAN 1', () => {
    assert.deepEqual(powerconnectDialect().prepare!([1, 101, 102, 104]), ['vlan database', 'vlan 101-102,104', 'exit']);
    assert.deepEqual(powerconnectDialect().prepare!([1]), []);
    assert.deepEqual(n3000Dialect(4000).prepare!([1, 101]), ['vlan 101,4000', 'exit']);
  });
});

describe('Dell emulators: port names', () => {
  it('accept the spellings the CLIs accept', () => {
    for (const w of ['gi1/0/1', 'Gi1/0/1', 'gigabitethernet 1/0/1', 'GigabitEthernet1/0/1', 'gi 1/0/1', 'gigabit1/0/1']) assert.equal(canonicalPort(w), 'gi1/0/1', w);
    for (const w of ['te1/0/2', 'Te1/0/2', 'tengigabitethernet 1/0/2']) assert.equal(canonicalPort(w), 'te1/0/2', w);
    for (const w of ['g1/0/1', 'eth1/0/1', 'gi1', 'fortygig1/0/1']) assert.equal(canonicalPort(w), null, w);
  });
});
