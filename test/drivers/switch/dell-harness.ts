/**
 * What the two Dell driver tests (powerconnect.test.ts, n3000.test.ts)
 * share: a driver context with short timeouts, an emulator per suite,
 * sessions opened on it with the fixture's registration fields, and the
 * tests both switches pass alike (each called where its suite has it, on
 * ports of its own: the suite's tests share one emulator).
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { NO_VLANS, portVlans, type PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { SwitchError } from '../../../src/errors.ts';
import type { CliDriverContext, CliSwitchDriver } from '../../../src/drivers/switch/cli/cli-driver.ts';
import type { CliFields } from '../../../src/drivers/switch/cli/cli-params.ts';
import { memoryHostKeyStore } from '../../../src/drivers/switch/cli/host-keys.ts';
import type { PortNetwork, SwitchSession } from '../../../src/drivers/switch/interface.ts';
import type { CliEmulator } from '../../support/switch-emulators/cli-engine.ts';
import type { EmulatorOptions, VendorFixture } from '../../support/switch-emulators/model.ts';
import { recordingBacking } from '../../support/switch-emulators/recording-backing.ts';

export const CREDS = { username: 'admin', password: 'dell-secret-pw' };
const quiet = { info() {}, warn() {} };

export const context = (timeouts: CliDriverContext['timeouts'] = { loginMs: 5000, commandMs: 3000, saveMs: 5000 }): CliDriverContext => ({ hostKeys: memoryHostKeyStore(), log: quiet, timeouts });

export type BatchSession = SwitchSession & { applyBatch: NonNullable<SwitchSession['applyBatch']>; broken: boolean };

export interface Harness<P> {
  readonly fixture: VendorFixture;
  readonly emulator: CliEmulator<P>;
  /** Every effective change the emulator made, in order (its PortBacking's apply: one call per configuration command that changed what a port forwards). */
  readonly history: ReadonlyArray<readonly [port: string, vlans: PortVlans]>;
  readonly fields: Record<string, unknown>;
  session(extra?: Record<string, unknown>, driver?: CliSwitchDriver<CliFields>): Promise<BatchSession>;
  withSession<T>(fn: (s: BatchSession) => Promise<T>, extra?: Record<string, unknown>): Promise<T>;
  reads(s: SwitchSession, port: string): Promise<PortNetwork[] | undefined>;
  logSince(mark: number): string[];
}

/** An emulator started before the suite's tests and closed after them. */
export function harness<P>(fixture: VendorFixture, start: (o: EmulatorOptions) => Promise<CliEmulator<P>>, driver: CliSwitchDriver<CliFields>): Harness<P> {
  let emulator: CliEmulator<P>;
  let fields: Record<string, unknown>;
  let nextId = 1;
  const backing = recordingBacking();
  const history = backing.history;
  before(async () => {
    emulator = await start({ ports: fixture.ports, ...CREDS, backing });
    fields = fixture.fields(emulator, CREDS);
  });
  after(() => emulator?.close());
  const h: Harness<P> = {
    fixture,
    get emulator() {
      return emulator;
    },
    get fields() {
      return fields;
    },
    history,
    async session(extra = {}, d = driver) {
      const params = d.params.parse({ ...structuredClone(fields), ...extra });
      return (await d.openSession({ id: nextId++, label: `${fixture.vendor}-test`, params })) as unknown as BatchSession;
    },
    async withSession(fn, extra = {}) {
      const s = await h.session(extra);
      try {
        return await fn(s);
      } finally {
        await s.close();
      }
    },
    async reads(s, port) {
      return (await s.getPortNetworks([port])).get(port);
    },
    logSince: (mark) => emulator.log.slice(mark),
  };
  return h;
}

// ——— the tests both Dell switches pass alike ———

/** A batch creates its VLANs first (`vlanLine`, as typed), writes every port in one configuration session and saves once. */
export function itBatches<P>(h: Harness<P>, [a, b]: readonly [string, string], vlanLine: string): void {
  it('a batch: VLANs created first, every port written in one configuration session, saved once', () =>
    h.withSession(async (s) => {
      const mark = h.emulator.log.length;
      await s.applyBatch([
        { op: 'modify', port: a, channel: 'vlan/native', networkId: '201' },
        { op: 'modify', port: b, channel: 'vlan/native', networkId: '202' },
        { op: 'modify', port: b, channel: 'vlan/201', networkId: '201' },
      ]);
      assert.deepEqual(h.emulator.effective(a), portVlans(201, []));
      assert.deepEqual(h.emulator.effective(b), portVlans(202, [201]));
      const typed = h.logSince(mark);
      assert.equal(typed.filter((l) => l === 'configure').length, 1);
      assert.equal(typed.filter((l) => l === 'copy running-config startup-config').length, 1);
      assert.ok(typed.indexOf(vlanLine) < typed.indexOf(`interface ${a}`), typed.join(' | '));
    }));
}

/** `question`: what the switch asks before it saves, in the test's name. */
export function itSavesUnlessToldNot<P>(h: Harness<P>, port: string, question: string): void {
  it(`saves after a change (answering its ${question}); with save: false it does not`, async () => {
    await h.withSession((s) => s.modifyPort(port, 'vlan/native', '301'));
    assert.equal(h.emulator.unsaved, false, 'saved');
    await h.withSession((s) => s.modifyPort(port, 'vlan/native', '302'), { save: false });
    assert.equal(h.emulator.unsaved, true, 'not saved');
    assert.deepEqual(h.emulator.effective(port), portVlans(302, []));
    await h.withSession((s) => s.modifyPort(port, 'vlan/native', '301'));
    assert.equal(h.emulator.unsaved, false);
  });
}

export function itRefusesAnInvalidVlan<P>(h: Harness<P>, port: string): void {
  it('an invalid VLAN fails with the switch\'s words, and the port stays as it was', () =>
    h.withSession(async (s) => {
      await s.modifyPort(port, 'vlan/native', '101');
      const { vlan, message } = h.fixture.invalidVlan;
      await assert.rejects(s.modifyPort(port, `vlan/${vlan}`, String(vlan)), (e: unknown) => e instanceof SwitchError && message.test(e.message));
      assert.deepEqual(h.emulator.effective(port), portVlans(101, []));
      assert.ok(!h.emulator.state.vlans.has(vlan));
    }));
}

export function itRefusesMissingPorts<P>(h: Harness<P>): void {
  it('a port the switch does not have fails with the switch\'s words, naming the port, before anything is configured', async () => {
    for (const missing of h.fixture.missingPorts) {
      await h.withSession(async (s) => {
        const mark = h.emulator.log.length;
        for (const attempt of [() => s.modifyPort(missing, 'vlan/native', '101'), () => s.revertPort(missing), () => s.getPortNetworks([missing])]) {
          await assert.rejects(attempt(), (e: unknown) => e instanceof SwitchError && h.fixture.missingPortMessage.test(e.message) && e.message.includes(missing));
        }
        assert.ok(!h.logSince(mark).includes('configure'), 'nothing was typed in configuration mode');
      });
    }
  });
}

export function itFailsWhenLocked<P>(h: Harness<P>, port: string): void {
  it('a locked configuration fails with the switch\'s words and changes nothing', async () => {
    h.emulator.faults.configLocked = true;
    try {
      await h.withSession(async (s) => {
        await assert.rejects(s.modifyPort(port, 'vlan/native', '101'), (e: unknown) => e instanceof SwitchError && h.fixture.configLockedMessage.test(e.message));
        assert.deepEqual(h.emulator.effective(port), portVlans(1, []));
      });
    } finally {
      h.emulator.faults.configLocked = false;
    }
  });
}

/** `driver`: the suite's driver made with the context given (short command and save timeouts). */
export function itTimesOutWhenHung<P>(h: Harness<P>, driver: (c: CliDriverContext) => CliSwitchDriver<CliFields>, port: string): void {
  it('a hung switch: the change times out and the session is not reused', async () => {
    const s = await h.session({}, driver(context({ loginMs: 5000, commandMs: 800, saveMs: 800 })));
    try {
      h.emulator.faults.hangAfterCommands = 0;
      const started = Date.now();
      await assert.rejects(s.modifyPort(port, 'vlan/native', '101'), SwitchError);
      assert.ok(Date.now() - started < 5000, 'cut off by the command timeout');
      assert.equal(s.broken, true);
      await assert.rejects(s.getPortNetworks([port]), SwitchError);
    } finally {
      delete h.emulator.faults.hangAfterCommands;
      h.emulator.dropSessions();
      await s.close().catch(() => {});
    }
  });
}

// ——— isolation while a change is typed ———

const vlansOf = (v: PortVlans) => [...(v.native === null ? [] : [v.native]), ...v.tagged];

/**
 * Other tenants' VLANs 200 and 300 exist on the switch (on no port of the
 * test's). Whatever each step below types, after every configuration
 * command the port carries nothing outside (before ∪ after) of that step:
 * (a) a native network on a fresh port, (b) a tagged one beside it, (c) the
 * native one replaced, (d) a revert, (e) a native network on a port set by
 * hand to access VLAN 200 whose stored trunk settings (`stale`) name VLAN
 * 300, which it must not carry on becoming a trunk. `transient`: a VLAN the vendor's
 * sequence may carry for a command or two that no network is ever on (the
 * N3000's dummy VLAN, made native while allowed), else none.
 */
export function itNeverCarriesOtherVlans<P>(h: Harness<P>, port: string, fresh: P, stale: Partial<P>, transient: number | null): void {
  it('after every command of a change the port carries nothing outside its old and new VLANs (fresh port, tagged, native replaced, revert, stale trunk settings)', () =>
    h.withSession(async (s) => {
      h.emulator.state.vlans.add(200).add(300);
      Object.assign(h.emulator.state.port(port)!, structuredClone(fresh));
      const steps: Array<[string, () => Promise<void>, PortVlans]> = [
        ['(a) native 101 on a fresh port', () => s.modifyPort(port, 'vlan/native', '101'), portVlans(101, [])],
        ['(b) tagged 102 beside it', () => s.modifyPort(port, 'vlan/102', '102'), portVlans(101, [102])],
        ['(c) native 101 replaced by 103', () => s.modifyPort(port, 'vlan/native', '103'), portVlans(103, [102])],
        ['(d) revert', () => s.revertPort(port), NO_VLANS],
        ['(e) native 101 on an access port with stale trunk settings', async () => {
          Object.assign(h.emulator.state.port(port)!, structuredClone(stale));
          await s.modifyPort(port, 'vlan/native', '101');
        }, portVlans(101, [])],
      ];
      try {
        for (const [name, step, want] of steps) {
          const mark = h.history.length;
          const before = name.startsWith('(e)') ? portVlans(200, []) : h.emulator.effective(port);
          await step();
          assert.deepEqual(h.emulator.effective(port), want, name);
          const ok = new Set([...vlansOf(before), ...vlansOf(want), ...(transient === null ? [] : [transient])]);
          const seen = h.history.slice(mark).filter(([p]) => p === port).map(([, v]) => v);
          assert.ok(seen.length > 0, `${name}: the backing saw the change`);
          for (const v of seen) assert.ok(vlansOf(v).every((x) => ok.has(x)), `${name}: carried ${JSON.stringify(v)}, outside ${JSON.stringify([...ok])}; all: ${JSON.stringify(seen)}`);
        }
      } finally {
        h.emulator.state.vlans.delete(200);
        h.emulator.state.vlans.delete(300);
      }
    }));
}

/**
 * A fresh port, other tenants' VLANs 200 and 300 existing: the switch hangs
 * after the change's k-th configuration command, for every k until the
 * change goes through whole; each time the port is left carrying what it
 * carried before (VLAN 1) or a part of what was asked (native 101, tagged
 * 102), never anything else.
 */
export function itHangsSafely<P>(h: Harness<P>, driver: (c: CliDriverContext) => CliSwitchDriver<CliFields>, port: string, fresh: P): void {
  it('the switch hangs after any command of a change to a fresh port: the port carries what it did or part of what was asked, nothing else', async () => {
    h.emulator.state.vlans.add(200).add(300);
    const d = driver(context({ loginMs: 5000, commandMs: 500, saveMs: 500 }));
    const change = [
      { op: 'modify' as const, port, channel: 'vlan/native', networkId: '101' },
      { op: 'modify' as const, port, channel: 'vlan/102', networkId: '102' },
    ];
    try {
      for (let k = 0; ; k++) {
        Object.assign(h.emulator.state.port(port)!, structuredClone(fresh));
        const s = await h.session({}, d);
        let hung = false;
        try {
          h.emulator.faults.hangAfterCommands = k;
          await s.applyBatch(change).catch((err: unknown) => {
            assert.ok(err instanceof SwitchError, String(err));
            hung = true;
          });
        } finally {
          delete h.emulator.faults.hangAfterCommands;
          h.emulator.dropSessions();
          await s.close().catch(() => {});
        }
        const now = h.emulator.effective(port);
        const ok = [1, 101, 102];
        assert.ok(vlansOf(now).every((v) => ok.includes(v)), `hung after ${k} commands: the port carries ${JSON.stringify(now)}`);
        assert.ok(now.native === null || now.native === 1 || now.native === 101, `hung after ${k}: native ${now.native}`);
        if (!hung) {
          assert.deepEqual(now, portVlans(101, [102]));
          assert.ok(k > 1, 'the change took more than one command');
          break;
        }
      }
    } finally {
      h.emulator.state.vlans.delete(200);
      h.emulator.state.vlans.delete(300);
    }
  });
}
