/**
 * The switch-driver contract: the behaviours every SwitchDriver must show,
 * whatever it drives. contract.test.ts runs them over one row per driver
 * (and per database where one is involved); a new driver joins by adding a
 * row that says how to get the driver, a registered switch and its ports.
 *
 * Every behaviour reads back through the driver's own getPortNetworks: that
 * is what `hil-admin network verify` trusts, so a driver whose writes and
 * reads disagree fails here. (The per-driver tests check the device itself.)
 *
 * (a) params: valid fields accepted; a missing, mistyped or unknown field
 *     refused with a BadArgumentError naming it; bad port names refused by
 *     validatePortName, well-formed ones accepted.
 * (b) native: a native network on a port reads back; a second replaces it.
 * (c) tagged: tagged networks beside the native one read back, all of them.
 * (d) idempotent: the same change applied twice leaves what once did (also
 *     a removal of what is not there, and a revert).
 * (e) remove: removing a channel (networkId null) reads back without it; a
 *     port whose last channel goes reads back empty.
 * (f) revert: revertPort leaves no network; a second revert is fine.
 * (g) independent: a change on one port never shows on another.
 * (h) batch: applyBatch, where the driver has it, leaves what the same
 *     changes one by one leave, repeats idempotently, and changes nothing
 *     when one change in it is bad.
 * (i) missingPort: a port the device does not have (well-formed, absent)
 *     fails modifyPort, revertPort and getPortNetworks with a SwitchError
 *     whose message names the port. That is what "the same error" means:
 *     the worker records only the message as the action's error, and drops
 *     a session that failed, so what must hold afterwards is that a new
 *     session on the switch works. A read that succeeds on a missing port
 *     would let network verify call a vanished port in order.
 * (j) untouched: getPortNetworks on a port no one has configured says what
 *     it says of an isolated port: an empty list under the port's name.
 *
 * A driver that departs from a behaviour today keeps the behaviour's test
 * unchanged: its row names the behaviour and the exact symptom
 * (`deviations`), and the test must then fail (test/support/contract-behaviour.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext } from 'node:test';
import { TYPE_PREFIX, type PortChange, type PortNetwork, type SwitchDriver, type SwitchSession } from '../../../src/drivers/switch/interface.ts';
import { BadArgumentError, SwitchError } from '../../../src/errors.ts';
import { behaviourTest } from '../../support/contract-behaviour.ts';
import { assertParamsContract, type Fields, type RefusedFields } from '../../support/driver-params.ts';

export const NATIVE = 'vlan/native';

/** A network the row's switch can carry: its network ID and its tagged channel. */
export interface Net {
  id: string;
  tagged: string;
}

export interface SwitchWorld {
  driver: SwitchDriver;
  /** The switch under test: its record (id, label) and its registration fields as an admin sends them. */
  switch: { id: number; label: string; fields: Fields };
  /** More fields the driver must accept. */
  alsoValid?: Fields[];
  /** Fields refused by rules the schema cannot say, and the field the error must name. */
  refused?: RefusedFields[];
  /** PORTS_NEEDED ports of the switch, untouched so far. */
  ports: string[];
  /** Well-formed names of ports the device does not have. */
  missingPorts: string[];
  /** Names validatePortName must refuse; empty when the driver has no rules. */
  badPortNames: string[];
  /** Three networks, by ID and tagged channel. */
  networks: [Net, Net, Net];
  /** What an untouched port reads as on this device when that is not what an isolated port reads as, and why. */
  untouched?: { reads: PortNetwork[]; why: string };
  /** The words an error about `port` must contain (default: its name). */
  portWords?(port: string): string[];
  teardown(): Promise<void>;
}

/** The behaviours, by the names their tests carry: (a) to (j) above. */
export type SwitchBehaviour = 'params' | 'native' | 'tagged' | 'idempotent' | 'remove' | 'revert' | 'independent' | 'batch' | 'missingPort' | 'untouched';

export interface SwitchRow {
  name: string;
  /** Why the row cannot run here (a missing system part), or false. */
  skip?: string | false;
  setup(): Promise<SwitchWorld>;
  /** Behaviours the driver does not show today, with the exact symptom: their tests must fail. */
  deviations?: Partial<Record<SwitchBehaviour, string>>;
}

/** The port each behaviour has for itself, so that one failing leaves the others' ports alone. */
const PORT_ROLES = ['untouched', 'native', 'tagged', 'repeat', 'remove', 'revert', 'indepA', 'indepB', 'batchA', 'batchB'] as const;
type PortRole = (typeof PORT_ROLES)[number];
export const PORTS_NEEDED = PORT_ROLES.length;

/** A port's networks, in one order, for comparing. */
const sorted = (list: PortNetwork[] | undefined) => [...(list ?? [])].sort((a, b) => (a.channel + a.networkId).localeCompare(b.channel + b.networkId));

export function switchContract(row: SwitchRow): void {
  describe(`switch contract: ${row.name}`, { skip: row.skip }, () => {
    let w: SwitchWorld;
    before(async () => {
      w = await row.setup();
      assert.ok(w.ports.length >= PORTS_NEEDED, `the row gives ${PORTS_NEEDED} ports`);
    });
    after(() => w?.teardown());

    const behaviour = (id: SwitchBehaviour, title: string, fn: (t: TestContext) => Promise<void> | void) => behaviourTest(id, title, row.deviations?.[id], fn);

    const port = (role: PortRole) => w.ports[PORT_ROLES.indexOf(role)];

    async function withSession<T>(fn: (s: SwitchSession) => Promise<T>): Promise<T> {
      const s = await w.driver.openSession({ id: w.switch.id, label: w.switch.label, params: w.driver.params.parse(structuredClone(w.switch.fields)) });
      try {
        return await fn(s);
      } finally {
        await s.close();
      }
    }
    async function reads(s: SwitchSession, p: string): Promise<PortNetwork[]> {
      const got = await s.getPortNetworks([p]);
      assert.ok(got.has(p), `getPortNetworks([${JSON.stringify(p)}]) has no entry for the port`);
      return sorted(got.get(p));
    }
    const assertReads = async (s: SwitchSession, p: string, want: PortNetwork[], what: string) => assert.deepEqual(await reads(s, p), sorted(want), `${p}: ${what}`);
    const native = (n: Net): PortNetwork => ({ channel: NATIVE, networkId: n.id });
    const tagged = (n: Net): PortNetwork => ({ channel: n.tagged, networkId: n.id });
    const nativeless = () => w.driver.capabilities().includes('nativeless-trunk-mode');

    behaviour('params', 'valid fields are accepted; missing, mistyped and unknown ones refused naming the field; port names checked', () => {
      assert.ok(w.driver.type.startsWith(TYPE_PREFIX), `type ${w.driver.type} is an upstream switch type URL`);
      assert.match(w.driver.extensionName, /^hil\.ext\.switches\.[a-z0-9_]+$/);
      assertParamsContract(w.driver.params, [w.switch.fields, ...(w.alsoValid ?? [])], w.refused);
      for (const p of [...w.ports, ...w.missingPorts]) assert.doesNotThrow(() => w.driver.validatePortName(p), `port name ${JSON.stringify(p)} refused`);
      for (const p of w.badPortNames) assert.throws(() => w.driver.validatePortName(p), BadArgumentError, `bad port name ${JSON.stringify(p)} accepted`);
    });

    behaviour('untouched', 'an untouched port reads as an isolated port does', () =>
      withSession(async (s) => {
        const p = port('untouched');
        if (w.untouched) {
          // A device-specific reading of an unconfigured port, asserted exactly so that a change shows.
          assert.deepEqual(await reads(s, p), sorted(w.untouched.reads), w.untouched.why);
          return;
        }
        await assertReads(s, p, [], 'never configured');
      }),
    );

    behaviour('native', 'a native network reads back; a second one replaces it', () =>
      withSession(async (s) => {
        const [a, , c] = w.networks;
        const p = port('native');
        await s.modifyPort(p, NATIVE, a.id);
        await assertReads(s, p, [native(a)], 'native A');
        await s.modifyPort(p, NATIVE, c.id);
        await assertReads(s, p, [native(c)], 'native C replaced A');
      }),
    );

    behaviour('tagged', 'tagged networks beside the native one read back, all of them', () =>
      withSession(async (s) => {
        const [a, b, c] = w.networks;
        const p = port('tagged');
        await s.modifyPort(p, NATIVE, a.id);
        await s.modifyPort(p, b.tagged, b.id);
        await assertReads(s, p, [native(a), tagged(b)], 'native A, tagged B');
        await s.modifyPort(p, c.tagged, c.id);
        await assertReads(s, p, [native(a), tagged(b), tagged(c)], 'native A, tagged B and C');
      }),
    );

    behaviour('idempotent', 'the same change twice leaves what once did', () =>
      withSession(async (s) => {
        const [a, b] = w.networks;
        const p = port('repeat');
        const steps: Array<[string, () => Promise<void>, PortNetwork[]]> = [
          ['native A', () => s.modifyPort(p, NATIVE, a.id), [native(a)]],
          ['tagged B', () => s.modifyPort(p, b.tagged, b.id), [native(a), tagged(b)]],
          ['removing tagged B', () => s.modifyPort(p, b.tagged, null), [native(a)]],
          ['revert', () => s.revertPort(p), []],
          ['removing a native network that is not there', () => s.modifyPort(p, NATIVE, null), []],
        ];
        for (const [what, step, want] of steps) {
          await step();
          await assertReads(s, p, want, `${what}, once`);
          await step();
          await assertReads(s, p, want, `${what}, twice`);
        }
      }),
    );

    behaviour('remove', 'removing a channel reads back without it; the last one gone leaves the port empty', () =>
      withSession(async (s) => {
        const [a, b, c] = w.networks;
        const p = port('remove');
        await s.modifyPort(p, NATIVE, a.id);
        await s.modifyPort(p, b.tagged, b.id);
        await s.modifyPort(p, c.tagged, c.id);
        await s.modifyPort(p, b.tagged, null);
        await assertReads(s, p, [native(a), tagged(c)], 'tagged B removed');
        if (nativeless()) {
          // The driver says a port may carry tagged networks without a native one.
          await s.modifyPort(p, NATIVE, null);
          await assertReads(s, p, [tagged(c)], 'native A removed, tagged C kept');
          await s.modifyPort(p, c.tagged, null);
        } else {
          await s.modifyPort(p, c.tagged, null);
          await assertReads(s, p, [native(a)], 'tagged C removed');
          await s.modifyPort(p, NATIVE, null);
        }
        await assertReads(s, p, [], 'every channel removed');
      }),
    );

    behaviour('revert', 'revertPort leaves no network; a second revert is fine', () =>
      withSession(async (s) => {
        const [a, b, c] = w.networks;
        const p = port('revert');
        await s.modifyPort(p, NATIVE, a.id);
        await s.modifyPort(p, b.tagged, b.id);
        await s.modifyPort(p, c.tagged, c.id);
        await s.revertPort(p);
        await assertReads(s, p, [], 'reverted');
        await s.revertPort(p);
        await assertReads(s, p, [], 'reverted twice');
      }),
    );

    behaviour('independent', 'a change on one port never shows on another', () =>
      withSession(async (s) => {
        const [a, b, c] = w.networks;
        const [p, q] = [port('indepA'), port('indepB')];
        const qBefore = await reads(s, q);
        await s.modifyPort(p, NATIVE, a.id);
        await s.modifyPort(p, b.tagged, b.id);
        assert.deepEqual(await reads(s, q), qBefore, `${q} changed with ${p}`);
        await s.modifyPort(q, NATIVE, c.id);
        await assertReads(s, p, [native(a), tagged(b)], `${p} changed with ${q}`);
        await s.revertPort(p);
        await assertReads(s, q, [native(c)], `${q} changed when ${p} was reverted`);
        const both = await s.getPortNetworks([p, q]);
        assert.deepEqual([sorted(both.get(p)), sorted(both.get(q))], [[], [native(c)]], 'both ports read in one call');
      }),
    );

    behaviour('batch', 'applyBatch leaves what the same changes one by one leave, repeats, and is all-or-nothing', async (t) => {
      const probe = await withSession(async (s) => typeof s.applyBatch === 'function');
      if (!probe) return t.diagnostic('not applicable: the driver has no applyBatch (the worker applies changes one by one)');
      await withSession(async (s) => {
        const [a, b, c] = w.networks;
        const [p, q] = [port('batchA'), port('batchB')];
        const changes: PortChange[] = [
          { op: 'modify', port: p, channel: NATIVE, networkId: a.id },
          { op: 'modify', port: p, channel: b.tagged, networkId: b.id },
          { op: 'modify', port: q, channel: NATIVE, networkId: c.id },
          { op: 'modify', port: q, channel: b.tagged, networkId: b.id },
          { op: 'modify', port: p, channel: b.tagged, networkId: null },
          { op: 'revert', port: q },
          { op: 'modify', port: q, channel: NATIVE, networkId: a.id },
          { op: 'modify', port: q, channel: c.tagged, networkId: c.id },
        ];
        const both = async () => [await reads(s, p), await reads(s, q)];
        const want = [[native(a)], sorted([native(a), tagged(c)])];

        await s.applyBatch!(changes);
        assert.deepEqual(await both(), want, 'after the batch');
        await s.applyBatch!(changes);
        assert.deepEqual(await both(), want, 'after the batch, twice');

        await s.revertPort(p);
        await s.revertPort(q);
        for (const ch of changes) await (ch.op === 'revert' ? s.revertPort(ch.port) : s.modifyPort(ch.port, ch.channel, ch.networkId));
        assert.deepEqual(await both(), want, 'the same changes one by one');

        const before = await both();
        const bad: PortChange[] = [
          { op: 'modify', port: p, channel: c.tagged, networkId: c.id },
          { op: 'modify', port: w.missingPorts[0], channel: NATIVE, networkId: a.id },
          { op: 'revert', port: q },
        ];
        await assert.rejects(s.applyBatch!(bad), SwitchError, 'a batch with a port the device lacks');
        assert.deepEqual(await both(), before, 'a failed batch changed nothing');
      });
    });

    behaviour('missingPort', 'a port the device lacks fails with a SwitchError naming it; a new session works afterwards', async () => {
      const [a] = w.networks;
      const words = (p: string) => w.portWords?.(p) ?? [p];
      // Every call on every such port is tried, and every departure reported together.
      const wrong: string[] = [];
      const expectFailure = async (what: string, call: () => Promise<unknown>, p: string) => {
        const where = `${what} on ${JSON.stringify(p)}`;
        try {
          const got = await call();
          wrong.push(`${where} succeeded${got instanceof Map ? `, reading ${JSON.stringify(Object.fromEntries(got))}` : ''}`);
        } catch (err) {
          if (!(err instanceof SwitchError)) wrong.push(`${where}: expected a SwitchError, got ${err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err)}`);
          else for (const word of words(p)) if (!err.message.includes(word)) wrong.push(`${where}: the message does not name ${JSON.stringify(word)}: ${err.message}`);
        }
      };
      for (const p of w.missingPorts) {
        await withSession(async (s) => {
          await expectFailure('modifyPort', () => s.modifyPort(p, NATIVE, a.id), p);
          await expectFailure('revertPort', () => s.revertPort(p), p);
          await expectFailure('getPortNetworks', () => s.getPortNetworks([p]), p);
        });
      }
      assert.ok(wrong.length === 0, wrong.join('\n'));
      await withSession(async (s) => {
        const q = port('native');
        await s.modifyPort(q, NATIVE, a.id);
        await assertReads(s, q, [native(a)], 'a new session after the failures');
      });
    });
  });
}
