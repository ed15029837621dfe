/**
 * The ovs switch driver against a real Open vSwitch (test/support/ovs.ts).
 * Port state is read back with `ovs-vsctl get`, independently of the driver.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BadArgumentError, SwitchError } from '../../../../src/errors.ts';
import { ovsSwitchDriver, type OvsSession } from '../../../../src/drivers/switch/ovs/switch.ts';
import { FENCE_KEY } from '../../../../src/drivers/switch/ovs/session.ts';
import { JsonStreamParser, OvsdbClient } from '../../../../src/drivers/switch/ovs/ovsdb-client.ts';
import type { PortChange } from '../../../../src/drivers/switch/interface.ts';
import { skipReason, startOvs, type Ovs } from '../../../support/ovs.ts';
import { skipUnless } from '../../../support/require.ts';

const skip = skipUnless(skipReason);

const TYPE = 'http://schema.massopencloud.org/haas/v0/switches/ovs';
const ISOLATED = { tag: '[]', trunks: '[4095]', mode: 'trunk', protected: 'true' };
const sw = (params: Record<string, unknown>) => ({ id: 1, label: 'sw', params: ovsSwitchDriver().params.parse(params) });

describe('ovs switch driver: registration fields and port names', () => {
  const d = ovsSwitchDriver();

  it('has upstream type, extension name and capabilities', () => {
    assert.equal(d.type, TYPE);
    assert.equal(d.extensionName, 'hil.ext.switches.ovs');
    assert.deepEqual(d.capabilities(), ['nativeless-trunk-mode']);
  });

  it('accepts ovs_bridge with an optional unix or tcp ovsdb endpoint', () => {
    for (const p of [{ ovs_bridge: 'br0' }, { ovs_bridge: 'br0', ovsdb: 'unix:/run/db.sock' }, { ovs_bridge: 'b', ovsdb: 'tcp:127.0.0.1:6640' }, { ovs_bridge: 'b', ovsdb: 'tcp:[::1]:6640' }]) {
      d.params.parse(p);
    }
  });

  it('refuses missing, mistyped and unknown fields, and bad endpoints', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{}, /ovs_bridge/],
      [{ ovs_bridge: 3 }, /ovs_bridge/],
      [{ ovs_bridge: '' }, /ovs_bridge/],
      [{ ovs_bridge: 'br0', hostname: 'x' }, /unknown field.*hostname/],
      [{ ovs_bridge: 'br0', ovsdb: 6640 }, /ovsdb/],
      [{ ovs_bridge: 'br0', ovsdb: 'ssl:127.0.0.1:6640' }, /ovsdb/],
      [{ ovs_bridge: 'br0', ovsdb: 'tcp:127.0.0.1' }, /ovsdb/],
      [{ ovs_bridge: 'br0', ovsdb: 'tcp:127.0.0.1:70000' }, /ovsdb/],
      [{ ovs_bridge: 'br0', ovsdb: 'unix:' }, /ovsdb/],
    ];
    for (const [p, msg] of bad) assert.throws(() => d.params.parse(p), (e) => e instanceof BadArgumentError && msg.test(e.message), JSON.stringify(p));
  });

  it('accepts any port name without whitespace or control characters', () => {
    for (const p of ['p1', 'eth0.100', 'gi1/0/3', 'vnet-ü']) d.validatePortName(p);
    for (const p of ['', 'a b', 'a\tb', 'a\nb', 'a\u0001b', ' ']) assert.throws(() => d.validatePortName(p), BadArgumentError, JSON.stringify(p));
  });
});

describe('ovsdb client: framing, echo and errors (fake server)', () => {
  it('splits concatenated JSON, honouring strings, escapes and chunk boundaries', () => {
    const p = new JsonStreamParser();
    const text = '{"a":"}{\\"]"}  [1,{"b":[2]}]\n{"c":"é"}';
    const out: unknown[] = [];
    for (const ch of text) out.push(...p.push(ch));
    assert.deepEqual(out, [{ a: '}{"]' }, [1, { b: [2] }], { c: 'é' }]);
    assert.throws(() => new JsonStreamParser().push('x{}'), SwitchError);
  });

  it('answers echo, reassembles split replies, and turns OVSDB errors into SwitchError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-ovsdb-fake-'));
    const echoes: unknown[] = [];
    const server: Server = createServer((sock: Socket) => {
      const parser = new JsonStreamParser();
      sock.on('data', async (d) => {
        for (const m of parser.push(d.toString()) as { id: unknown; method?: string; params: unknown[]; result?: unknown }[]) {
          if (m.id === 'e1') {
            echoes.push(m.result);
            continue;
          }
          const ops = m.params.slice(1) as { op: string }[];
          if (ops[0].op === 'select') {
            sock.write(JSON.stringify({ method: 'echo', params: ['ping'], id: 'e1' }));
            const reply = Buffer.from(JSON.stringify({ id: m.id, result: [{ rows: [{ s: '}{ "é' }] }], error: null }));
            for (let i = 0; i < reply.length; i += 3) {
              sock.write(reply.subarray(i, i + 3));
              await new Promise((r) => setImmediate(r));
            }
          } else if (ops[0].op === 'update') {
            sock.write(JSON.stringify({ id: m.id, result: [{ count: 1 }, { error: 'constraint violation', details: 'tag out of range' }], error: null }));
          } else {
            sock.write(JSON.stringify({ id: m.id, result: [{}, { error: 'referential integrity violation' }], error: null }));
          }
        }
      });
    });
    await new Promise<void>((r) => server.listen(join(dir, 'db.sock'), r));
    try {
      const c = await OvsdbClient.connect(`unix:${join(dir, 'db.sock')}`);
      const res = await c.transact([{ op: 'select', table: 'T', where: [] }]);
      assert.deepEqual(res, [{ rows: [{ s: '}{ "é' }] }]);
      await c.transact([{ op: 'update', table: 'Port', where: [], row: {} }, { op: 'update', table: 'Port', where: [], row: {} }]).then(
        () => assert.fail('should fail'),
        (e) => assert.ok(e instanceof SwitchError && /operation 1 \(update Port\).*constraint violation: tag out of range/.test(e.message), String(e)),
      );
      await c.transact([{ op: 'comment' }]).then(
        () => assert.fail('should fail'),
        (e) => assert.ok(e instanceof SwitchError && /commit failed: referential integrity/.test(e.message), String(e)),
      );
      assert.deepEqual(echoes, [['ping']]);
      assert.equal(c.transactions, 3);
      await c.close();
      await assert.rejects(c.transact([{ op: 'comment' }]), SwitchError);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ovs switch driver against Open vSwitch', { skip }, () => {
  const N = 20;
  const p = (i: number) => `p${i}`; // on br0
  const q = (i: number) => `q${i}`; // on br1
  let ovs: Ovs;
  let s: OvsSession; // br0
  let s1: OvsSession; // br1
  const driver = ovsSwitchDriver({ applyTimeoutMs: 5000 });

  before(async () => {
    ovs = await startOvs();
    ovs.addBridge('br0');
    ovs.addBridge('br1');
    const add = (br: string, name: string) => ['--', 'add-port', br, name, '--', 'set', 'Interface', name, 'type=internal'];
    ovs.vsctl(...Array.from({ length: N }, (_, i) => [...add('br0', p(i + 1)), ...add('br1', q(i + 1))]).flat().slice(1));
    s = await driver.openSession(sw({ ovs_bridge: 'br0', ovsdb: ovs.endpoint }));
    s1 = await driver.openSession(sw({ ovs_bridge: 'br1', ovsdb: ovs.endpoint }));
  });
  after(async () => {
    await s?.close();
    await s1?.close();
    ovs?.stop();
  });

  /** What OVS says about the port, as ovs-vsctl prints it. */
  function state(port: string) {
    const [tag, trunks, mode, prot] = ovs.vsctl('get', 'port', port, 'tag', 'trunks', 'vlan_mode', 'protected').split('\n');
    return { tag, trunks, mode, protected: prot };
  }
  const cfg = () => ovs.vsctl('get', 'Open_vSwitch', '.', 'next_cfg', 'cur_cfg').split('\n').map(Number);

  it('sets and removes the native VLAN; a port left without VLANs is isolated', async () => {
    await s.modifyPort('p1', 'vlan/native', '40');
    assert.deepEqual(state('p1'), { tag: '40', trunks: '[]', mode: 'access', protected: 'false' });
    await s.modifyPort('p1', 'vlan/native', '41');
    assert.deepEqual(state('p1'), { tag: '41', trunks: '[]', mode: 'access', protected: 'false' });
    await s.modifyPort('p1', 'vlan/native', null);
    assert.deepEqual(state('p1'), ISOLATED);
  });

  it('adds and removes tagged VLANs in trunks', async () => {
    await s.modifyPort('p2', 'vlan/41', '41');
    assert.deepEqual(state('p2'), { tag: '[]', trunks: '[41]', mode: 'trunk', protected: 'false' });
    await s.modifyPort('p2', 'vlan/42', '42');
    assert.deepEqual(state('p2'), { tag: '[]', trunks: '[41, 42]', mode: 'trunk', protected: 'false' });
    await s.modifyPort('p2', 'vlan/41', null);
    assert.deepEqual(state('p2'), { tag: '[]', trunks: '[42]', mode: 'trunk', protected: 'false' });
    await s.modifyPort('p2', 'vlan/42', null);
    assert.deepEqual(state('p2'), ISOLATED);
  });

  it('carries a native VLAN and tagged VLANs together, and keeps the trunks when the native one goes', async () => {
    await s.modifyPort('p3', 'vlan/native', '40');
    await s.modifyPort('p3', 'vlan/41', '41');
    await s.modifyPort('p3', 'vlan/43', '43');
    assert.deepEqual(state('p3'), { tag: '40', trunks: '[41, 43]', mode: 'native-untagged', protected: 'false' });
    await s.modifyPort('p3', 'vlan/native', null);
    assert.deepEqual(state('p3'), { tag: '[]', trunks: '[41, 43]', mode: 'trunk', protected: 'false' });
  });

  it('revert isolates a busy port and a fresh one (which OVS leaves trunking every VLAN)', async () => {
    ovs.vsctl('set', 'port', 'p4', 'tag=40', 'vlan_mode=native-untagged', 'trunks=41,42');
    assert.deepEqual(state('p5'), { tag: '[]', trunks: '[]', mode: '[]', protected: 'false' }); // OVS default: trunk all
    const before = (await s.getPortNetworks(['p5'])).get('p5');
    await s.revertPort('p4');
    await s.revertPort('p5');
    assert.deepEqual(state('p4'), ISOLATED);
    assert.deepEqual(state('p5'), ISOLATED);
    const nets = await s.getPortNetworks(['p4', 'p5']);
    assert.deepEqual(Object.fromEntries(nets), { p4: [], p5: [] });
    assert.deepEqual(before, [{ channel: 'vlan/all', networkId: 'all' }], 'a fresh port is reported as trunking everything');
  });

  it('getPortNetworks reports what ovs-vsctl configured, never VLAN 4095, and flags ports trunking every VLAN', async () => {
    ovs.vsctl('set', 'port', 'p6', 'tag=40', 'vlan_mode=native-untagged', 'trunks=41,42');
    ovs.vsctl('set', 'port', 'p7', 'trunks=4095,44', 'vlan_mode=trunk');
    ovs.vsctl('set', 'port', 'p8', 'tag=45', 'vlan_mode=access', 'trunks=46'); // access: trunks are ignored by OVS
    ovs.vsctl('set', 'port', 'p16', 'tag=47', 'vlan_mode=native-untagged'); // upstream's native-only port: trunks everything
    const nets = await s.getPortNetworks(['p6', 'p7', 'p8', 'p16']);
    assert.deepEqual(Object.fromEntries(nets), {
      p6: [
        { channel: 'vlan/native', networkId: '40' },
        { channel: 'vlan/41', networkId: '41' },
        { channel: 'vlan/42', networkId: '42' },
      ],
      p7: [{ channel: 'vlan/44', networkId: '44' }],
      p8: [{ channel: 'vlan/native', networkId: '45' }],
      p16: [
        { channel: 'vlan/native', networkId: '47' },
        { channel: 'vlan/all', networkId: 'all' },
      ],
    });
    assert.deepEqual(await s.getPortNetworks([]), new Map());
  });

  it("refuses a port of another bridge and leaves it alone (upstream's unscoped lookup)", async () => {
    ovs.vsctl('set', 'port', 'q1', 'tag=50', 'vlan_mode=access');
    const before = state('q1');
    await assert.rejects(s.modifyPort('q1', 'vlan/native', '40'), (e) => e instanceof SwitchError && /"q1" belongs to another bridge/.test(e.message) && /br0/.test(e.message));
    await assert.rejects(s.revertPort('q1'), SwitchError);
    await assert.rejects(s.getPortNetworks(['q1']), SwitchError);
    assert.deepEqual(state('q1'), before);
  });

  it('a missing port or bridge is a SwitchError naming it', async () => {
    await assert.rejects(s.modifyPort('nope', 'vlan/native', '40'), (e) => e instanceof SwitchError && /port "nope" does not exist/.test(e.message));
    const sx = await driver.openSession(sw({ ovs_bridge: 'brX', ovsdb: ovs.endpoint }));
    try {
      await assert.rejects(sx.revertPort('p1'), (e) => e instanceof SwitchError && /"brX".*bridge does not exist/.test(e.message));
    } finally {
      await sx.close();
    }
  });

  it('refuses VLAN 4095, out-of-range VLANs and non-VLAN channels without touching the port', async () => {
    await s.modifyPort('p9', 'vlan/native', '40');
    const before = state('p9');
    const bad: [string, string | null, RegExp][] = [
      ['vlan/native', '4095', /4095 is reserved/],
      ['vlan/4095', '4095', /4095 is reserved/],
      ['vlan/4095', null, /4095 is reserved/],
      ['vlan/0', '0', /not a VLAN/],
      ['vlan/5000', '5000', /not a VLAN/],
      ['vlan/41', '42', /cannot carry network/],
      ['null', 'abc', /unsupported channel/],
    ];
    for (const [channel, net, msg] of bad) {
      await assert.rejects(s.modifyPort('p9', channel, net), (e) => e instanceof SwitchError && msg.test(e.message), `${channel} ${net}`);
    }
    assert.deepEqual(state('p9'), before);
  });

  it('is idempotent: the same change twice equals once, and the second writes nothing', async () => {
    await s.modifyPort('p10', 'vlan/native', '47');
    await s.modifyPort('p10', 'vlan/48', '48');
    const once = state('p10');
    const [nextCfg] = cfg();
    const t0 = s.client.transactions;
    await s.modifyPort('p10', 'vlan/48', '48');
    await s.revertPort('p11');
    await s.revertPort('p11');
    assert.deepEqual(state('p10'), once);
    assert.deepEqual(state('p11'), ISOLATED);
    const [nextCfg2, curCfg2] = cfg();
    assert.equal(nextCfg2, nextCfg + 1, 'only the first revert of p11 committed');
    assert.ok(curCfg2 >= nextCfg2, 'ovs-vswitchd has applied it');
    assert.equal(s.client.transactions - t0, 2 + 3 + 2);
  });

  it('waits for ovs-vswitchd to apply a change, and fails if it never does', async () => {
    await s.modifyPort('p12', 'vlan/native', '40');
    const [next, cur] = cfg();
    assert.ok(cur >= next, `cur_cfg ${cur} >= next_cfg ${next} right after modifyPort returned`);
    const impatient = await ovsSwitchDriver({ applyTimeoutMs: 300 }).openSession(sw({ ovs_bridge: 'br0', ovsdb: ovs.endpoint }));
    const pid = ovs.vswitchdPid();
    process.kill(pid, 'SIGSTOP');
    try {
      const t = Date.now();
      await assert.rejects(impatient.modifyPort('p12', 'vlan/native', '41'), (e) => e instanceof SwitchError && /did not apply/.test(e.message));
      assert.ok(Date.now() - t < 3000, `gave up after ${Date.now() - t} ms`);
    } finally {
      process.kill(pid, 'SIGCONT');
      await impatient.close();
    }
    await s.modifyPort('p12', 'vlan/native', '41'); // vswitchd catches up; our session still works
    assert.equal(state('p12').tag, '41');
  });

  it('applyBatch of 50 changes over 20 ports lands what one-by-one lands, in 3 round trips', async () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const changes: PortChange[] = [];
    for (let k = 0; k < 50; k++) {
      const port = `x${1 + rnd(N)}`;
      const r = rnd(10);
      const vlan = String(40 + rnd(6));
      if (r === 0) changes.push({ op: 'revert', port });
      else if (r <= 3) changes.push({ op: 'modify', port, channel: 'vlan/native', networkId: r === 1 ? null : vlan });
      else changes.push({ op: 'modify', port, channel: `vlan/${vlan}`, networkId: r <= 5 ? null : vlan });
    }
    const on = (prefix: string) => changes.map((c) => ({ ...c, port: prefix + c.port.slice(1) }));
    // Same starting point on both bridges: ports p1..p20 and q1..q20 reverted.
    await s.applyBatch(Array.from({ length: N }, (_, i) => ({ op: 'revert' as const, port: p(i + 1) })));
    await s1.applyBatch(Array.from({ length: N }, (_, i) => ({ op: 'revert' as const, port: q(i + 1) })));

    const t0 = s.client.transactions;
    await s.applyBatch(on('p'));
    assert.equal(s.client.transactions - t0, 3, 'read, write, wait for vswitchd');

    const t1 = s1.client.transactions;
    for (const c of on('q')) await (c.op === 'revert' ? s1.revertPort(c.port) : s1.modifyPort(c.port, c.channel, c.networkId));
    assert.ok(s1.client.transactions - t1 >= 100, `one by one: ${s1.client.transactions - t1} transactions`);

    let carrying = 0;
    for (let i = 1; i <= N; i++) {
      assert.deepEqual(state(p(i)), state(q(i)), `p${i} vs q${i}`);
      if (state(p(i)).protected === 'false') carrying++;
    }
    assert.ok(carrying >= 5, `${carrying} ports carry VLANs`);
    const viaDriver = async (sess: OvsSession, names: string[]) => [...(await sess.getPortNetworks(names)).values()];
    assert.deepEqual(await viaDriver(s, Array.from({ length: N }, (_, i) => p(i + 1))), await viaDriver(s1, Array.from({ length: N }, (_, i) => q(i + 1))));
  });

  it('a batch is all or nothing', async () => {
    await s.applyBatch([{ op: 'modify', port: 'p13', channel: 'vlan/native', networkId: '40' }, { op: 'revert', port: 'p14' }]);
    const before = [state('p13'), state('p14')];
    const [nextCfg] = cfg();
    await assert.rejects(
      s.applyBatch([
        { op: 'modify', port: 'p13', channel: 'vlan/native', networkId: '41' },
        { op: 'modify', port: 'p14', channel: 'vlan/42', networkId: '42' },
        { op: 'revert', port: 'missing' },
      ]),
      /"missing" does not exist/,
    );
    await assert.rejects(
      s.applyBatch([
        { op: 'modify', port: 'p13', channel: 'vlan/native', networkId: '41' },
        { op: 'modify', port: 'p14', channel: 'vlan/4095', networkId: '4095' },
      ]),
      /reserved/,
    );
    assert.deepEqual([state('p13'), state('p14')], before);
    assert.equal(cfg()[0], nextCfg, 'nothing was committed');
  });

  it('a concurrent edit between the read and the write is not overwritten: the batch re-reads and retries', async () => {
    await s.modifyPort('p15', 'vlan/43', '43');
    const real = s.client.transact;
    let calls = 0;
    s.client.transact = (ops, o) => {
      // Someone else edits p15 just before our first write goes out.
      if (++calls === 2) ovs.vsctl('set', 'port', 'p15', 'trunks=43,44');
      return real.call(s.client, ops, o);
    };
    try {
      await s.modifyPort('p15', 'vlan/45', '45');
    } finally {
      s.client.transact = real;
    }
    assert.deepEqual(state('p15'), { tag: '[]', trunks: '[43, 44, 45]', mode: 'trunk', protected: 'false' });
    assert.equal(calls, 5, 'read, refused write, read, write, wait');
  });

  it('keeps a fencing token on the bridge: a session under an older claim generation is refused, even one frozen between read and write', async () => {
    const open = (generation: number) => driver.openSession(sw({ ovs_bridge: 'br1', ovsdb: ovs.endpoint }), { holder: `w${generation}`, generation });
    const [old, current] = [await open(4), await open(5)];
    try {
      await old.modifyPort('q16', 'vlan/native', '46');
      await current.modifyPort('q16', 'vlan/native', '47');
      assert.equal(ovs.vsctl('get', 'bridge', 'br1', `external_ids:${FENCE_KEY}`), '"5"');
      await assert.rejects(old.modifyPort('q16', 'vlan/native', '48'), (e: Error) => e instanceof SwitchError && /generation 4 is fenced off \(generation 5 changed/.test(e.message));
      assert.equal(state('q16').tag, '47', 'the fenced holder changed nothing');
      // Frozen after its read (the token was still 5), it writes after generation 6 changed the bridge: the wait on the token refuses it.
      const newer = await open(6);
      const real = current.client.transact;
      let calls = 0;
      current.client.transact = async (ops, o) => {
        if (++calls === 2) await newer.modifyPort('q17', 'vlan/native', '49');
        return real.call(current.client, ops, o);
      };
      try {
        await assert.rejects(current.modifyPort('q16', 'vlan/native', '50'), /generation 5 is fenced off \(generation 6/);
      } finally {
        current.client.transact = real;
        await newer.close();
      }
      assert.equal(state('q16').tag, '47');
      assert.equal(state('q17').tag, '49');
    } finally {
      await old.close();
      await current.close();
    }
  });

  it('an unreachable endpoint is a SwitchError naming it, quickly', async () => {
    const free = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => resolve(port));
      });
    });
    for (const endpoint of [`unix:${ovs.dir}/nothing.sock`, `tcp:127.0.0.1:${free}`]) {
      const t = Date.now();
      await assert.rejects(driver.openSession(sw({ ovs_bridge: 'br0', ovsdb: endpoint })), (e) => e instanceof SwitchError && e.message.includes(endpoint));
      assert.ok(Date.now() - t < 1000, `${endpoint}: ${Date.now() - t} ms`);
    }
  });
});
