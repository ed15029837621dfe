/** Names and numbers of a lab: valid for Linux, unique within and across labs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { labLayout, type LabSpec } from '../../src/lab/layout.ts';
import { installLine, isStaticElf, type Check } from '../../src/lab/doctor.ts';
import { BUSYBOX } from '../../src/initramfs/kernel.ts';
import { existsSync } from 'node:fs';

const spec = (id: string): LabSpec => ({ dir: `/tmp/lab-${id}`, id, nodes: 32, nics: 2, prefix: 'lab', provisioningVlan: 100, memoryMiB: 256, accel: 'tcg' });

describe('lab layout', () => {
  it('gives the biggest lab valid, unique interface names, MACs and ports', () => {
    const l = labLayout(spec('ffff'));
    const nics = l.nodes.flatMap((n) => n.nics);
    const ifnames = [...nics.map((n) => n.tap), l.provisioningPort];
    for (const name of ifnames) {
      assert.ok(name.length <= 15, `${name} is too long for Linux`);
      assert.ok(name.startsWith(l.ifPrefix));
    }
    assert.equal(new Set(ifnames).size, ifnames.length);
    const macs = nics.map((n) => n.mac);
    assert.equal(new Set(macs).size, macs.length);
    for (const mac of macs) {
      const first = parseInt(mac.slice(0, 2), 16);
      assert.equal(first & 0b11, 0b10, `${mac} must be unicast and locally administered`);
    }
    const ports = l.nodes.flatMap((n) => [n.bmcPort, n.serialPort]);
    assert.equal(new Set(ports).size, ports.length);
    // Below Linux's ephemeral range, where any outgoing connection could hold them.
    for (const id of ['0000', 'ffff', '00db', '7fff']) {
      const all = labLayout(spec(id)).nodes.flatMap((n) => [n.bmcPort, n.serialPort]);
      assert.ok(all.every((p) => p >= 10000 && p < 32768), `${id}: ${Math.min(...all)}-${Math.max(...all)}`);
    }
  });

  it('keeps two labs apart', () => {
    const [a, b] = [labLayout(spec('0a1b')), labLayout(spec('0a1c'))];
    assert.notEqual(a.switchNetns, b.switchNetns);
    const tapsA = new Set(a.nodes.flatMap((n) => n.nics.map((x) => x.tap)));
    assert.ok(b.nodes.flatMap((n) => n.nics).every((x) => !tapsA.has(x.tap)));
    const macsA = new Set(a.nodes.flatMap((n) => n.nics.map((x) => x.mac)));
    assert.ok(b.nodes.flatMap((n) => n.nics).every((x) => !macsA.has(x.mac)));
  });
});

describe('lab doctor', () => {
  it('tells a static binary from a dynamic one', { skip: existsSync(BUSYBOX) ? false : 'no busybox here' }, () => {
    assert.equal(isStaticElf(process.execPath), false); // node links libc dynamically
    assert.equal(isStaticElf(BUSYBOX), true);
  });

  it('prints one apt-get line for what packages can fix', () => {
    const checks: Check[] = [
      { what: 'qemu-system-x86_64', ok: false, pkg: 'qemu-system-x86' },
      { what: 'ovsdb-server', ok: false, pkg: 'openvswitch-switch' },
      { what: 'ovs-vswitchd', ok: false, pkg: 'openvswitch-switch' },
      { what: 'ipmi_sim', ok: true, pkg: 'openipmi' },
      { what: 'root', ok: false },
    ];
    assert.equal(installLine(checks), 'apt-get install --no-install-recommends qemu-system-x86 openvswitch-switch');
    assert.equal(installLine(checks.filter((c) => !c.pkg)), null);
  });
});
