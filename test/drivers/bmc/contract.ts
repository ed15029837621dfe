/**
 * The BMC-driver contract: the behaviours every BMC type HIL drives itself
 * must show, whatever answers at the other end. contract.test.ts runs them
 * over one row per type (and per database where one is involved); a new type
 * joins by adding a row that says how to get the driver and a node's BMC, and
 * how the row can see what the BMC really did.
 *
 * Calls go through test/support/bmc-calls.ts, so the raw registration fields
 * are parsed by the driver's own params first, as the OBM service does.
 *
 * (params)  valid fields accepted; a missing, mistyped or unknown field
 *           refused with a BadArgumentError naming it.
 * (power)   power on and off are idempotent, and power status reads each
 *           back as exactly "on" or "off" (and so does the BMC, where the
 *           row can see it).
 * (cycle)   a cycle, forced or not, of an off node turns it on, and of an on
 *           node leaves it on (it may be off for a moment on the way).
 * (boot)    where the type has a boot interface: pxe, disk and none are
 *           accepted, persistent and for the next boot only, and the BMC
 *           shows each where the row can see it.
 * (console) where the type has a console: output arrives; where the row
 *           says the line takes input, typed bytes reach the node; aborting
 *           ends the output. Where it has none (Redfish), `console` is
 *           undefined, and the row must not claim one.
 * (unresponsive) a BMC that does not answer fails each call within the
 *           row's bound with an Error whose message names what was tried
 *           (rows that can make their BMC stop answering). Runs last.
 *
 * A type that departs from a behaviour today keeps the behaviour's test
 * unchanged: its row names the behaviour and the exact symptom
 * (`deviations`), and the test must then fail (test/support/contract-behaviour.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, type TestContext } from 'node:test';
import type { BmcDriver, BootDevice, ManagedBmcDriver, PowerState } from '../../../src/drivers/bmc/interface.ts';
import { bmcCalls, type BmcCalls, type RawTarget } from '../../support/bmc-calls.ts';
import { behaviourTest } from '../../support/contract-behaviour.ts';
import { assertParamsContract, type Fields, type RefusedFields } from '../../support/driver-params.ts';
import { until } from '../../support/processes.ts';

/** How long a node may take to come back on after a cycle (ipmi_sim's soft cycle: about a second). */
const CYCLE_SETTLE_MS = 5000;
/** How long console output and typed bytes may take to show. */
const CONSOLE_MS = 10_000;
/** What a call may take beyond the row's bound before it counts as unbounded. */
const BOUND_SLACK_MS = 1500;

export interface ConsoleProbe {
  /** Makes the node print `text` on its serial line; absent when it prints by itself. */
  print?(text: string): void;
  /** How typed bytes are seen: echoed back in the output, found on the node's side of the line, or false: the line takes no input. */
  input: 'echoed' | ((typed: string) => boolean) | false;
}

export interface Unresponsive {
  /** Makes the BMC stop answering. */
  stop(): Promise<void> | void;
  /** Lets it answer again, where the row can. */
  resume?(): Promise<void> | void;
  /** The driver's bound on one call, as the row built it (ms). */
  boundMs: number;
  /** What each call's error must say: what was tried. */
  names: { status: RegExp; on: RegExp; boot: RegExp };
}

export interface BmcWorld {
  driver: BmcDriver;
  /** The node under test and its BMC's fields as an admin registers them. */
  target: RawTarget;
  alsoValid?: Fields[];
  /** Fields refused by rules the schema cannot say, and the field the error must name. */
  refused?: RefusedFields[];
  /** What the BMC itself says, read beside the driver, where the row can see it. */
  observe?: {
    power?(): 'on' | 'off';
    /** persistent: absent where the BMC does not show it. */
    boot?(): { device: BootDevice; persistent?: boolean };
  };
  /** How to see the console; required exactly when the driver has one. */
  console?: ConsoleProbe;
  unresponsive?: Unresponsive;
  teardown(): Promise<void>;
}

export type BmcBehaviour = 'params' | 'power' | 'cycle' | 'boot' | 'console' | 'unresponsive';

export interface BmcRow {
  name: string;
  skip?: string | false;
  setup(): Promise<BmcWorld>;
  /** Behaviours the type does not show today, with the exact symptom: their tests must fail. */
  deviations?: Partial<Record<BmcBehaviour, string>>;
}

export function bmcContract(row: BmcRow): void {
  describe(`BMC contract: ${row.name}`, { skip: row.skip }, () => {
    let w: BmcWorld;
    let bmc: BmcCalls;
    before(async () => {
      w = await row.setup();
      assert.equal(w.driver.delegate, undefined, 'the contract is for BMC types HIL drives itself (obmd delegates)');
      bmc = bmcCalls(w.driver);
    });
    after(() => w?.teardown());

    const behaviour = (id: BmcBehaviour, title: string, fn: (t: TestContext) => Promise<void> | void) => behaviourTest(id, title, row.deviations?.[id], fn);
    const managed = () => w.driver as ManagedBmcDriver;

    async function status(): Promise<PowerState> {
      const s = await bmc.powerStatus(w.target);
      assert.ok(s === 'on' || s === 'off', `power status is "on" or "off", not ${JSON.stringify(s)}`);
      return s;
    }
    async function assertPower(want: 'on' | 'off', what: string): Promise<void> {
      assert.equal(await status(), want, `power status after ${what}`);
      if (w.observe?.power) assert.equal(w.observe.power(), want, `the BMC itself after ${what}`);
    }
    /** After a cycle: on again within CYCLE_SETTLE_MS. */
    async function comesOn(what: string): Promise<void> {
      await until(`${what} to leave the node on`, async () => (await status()) === 'on', CYCLE_SETTLE_MS);
      if (w.observe?.power) await until(`the BMC itself to be on after ${what}`, async () => w.observe!.power!() === 'on', CYCLE_SETTLE_MS);
    }

    behaviour('params', 'valid fields are accepted; missing, mistyped and unknown ones refused naming the field', () => {
      assert.match(w.driver.type, /^[a-z][a-z0-9_-]*$/);
      assertParamsContract(w.driver.params, [w.target.params, ...(w.alsoValid ?? [])], w.refused);
    });

    behaviour('power', 'power on and off are idempotent and power status reads each back', async () => {
      await bmc.setPower(w.target, 'off');
      await assertPower('off', 'power off');
      await bmc.setPower(w.target, 'on');
      await assertPower('on', 'power on');
      await bmc.setPower(w.target, 'on');
      await assertPower('on', 'power on, twice');
      await bmc.setPower(w.target, 'off');
      await assertPower('off', 'power off');
      await bmc.setPower(w.target, 'off');
      await assertPower('off', 'power off, twice');
    });

    behaviour('cycle', 'a cycle of an off node turns it on, of an on node leaves it on (forced or not)', async () => {
      for (const force of [true, false]) {
        const kind = force ? 'a forced cycle' : 'a cycle';
        await bmc.setPower(w.target, 'off');
        await assertPower('off', 'power off');
        await bmc.powerCycle(w.target, force);
        await comesOn(`${kind} of an off node`);
        await bmc.powerCycle(w.target, force);
        await comesOn(`${kind} of an on node`);
      }
    });

    behaviour('boot', 'pxe, disk and none are accepted, persistent and not, and the BMC shows each', async (t) => {
      if (!managed().boot) {
        assert.equal(w.observe?.boot, undefined, 'the row observes a boot device the type cannot set');
        return t.diagnostic('not applicable: the type has no boot interface (its boot_device route answers 501)');
      }
      for (const persistent of [true, false]) {
        for (const device of ['pxe', 'disk', 'none'] as const) {
          await bmc.setBootDevice(w.target, device, persistent);
          const seen = w.observe?.boot?.();
          if (!seen) continue;
          const what = `${device}${persistent ? '' : ' (next boot only)'}`;
          assert.equal(seen.device, device, `the BMC's boot device after setting ${what}`);
          // "none" clears the override: nothing is left to persist.
          if (seen.persistent !== undefined && device !== 'none') assert.equal(seen.persistent, persistent, `the BMC's persistence after setting ${what}`);
        }
      }
    });

    behaviour('console', 'output arrives, typed bytes reach the node, aborting ends it; no console where the type has none', async () => {
      if (!managed().console) {
        assert.equal(w.console, undefined, 'the row describes a console the type does not have');
        return;
      }
      assert.ok(w.console, `the ${w.driver.type} type has a console: the row must say how to see it`);
      const probe = w.console;
      const ctl = new AbortController();
      const session = bmc.openConsole(w.target, ctl.signal);
      const output = session.output[Symbol.asyncIterator]();
      let text = '';
      const readUntil = async (what: string, done: () => boolean) => {
        const deadline = Date.now() + CONSOLE_MS;
        while (!done()) {
          const next = await beforeDeadline(output.next(), deadline, `${what}; the console showed: ${JSON.stringify(text.slice(-300))}`);
          assert.ok(!next.done, `the console ended before ${what}; it showed: ${JSON.stringify(text.slice(-300))}`);
          text += Buffer.from(next.value).toString('latin1');
        }
      };
      try {
        const marker = `contract-out-${randomBytes(4).toString('hex')}`;
        // Printed all along: a console may show only what the node prints after it opened.
        const printer = probe.print && setInterval(() => probe.print!(`${marker}\r\n`), 100);
        try {
          await readUntil('output arrived', () => (probe.print ? text.includes(marker) : text.length > 0));
        } finally {
          clearInterval(printer);
        }
        if (probe.input !== false) {
          assert.equal(typeof session.write, 'function', 'the row says the line takes input, but the console has no write');
          const typed = `contract-in-${randomBytes(4).toString('hex')}`;
          session.write!(Buffer.from(`${typed}\r\n`));
          const seen = probe.input;
          if (seen === 'echoed') await readUntil('the typed line was echoed', () => text.includes(typed));
          else await until('the typed bytes to reach the node', async () => seen(typed), CONSOLE_MS);
        }
        ctl.abort();
        const deadline = Date.now() + CONSOLE_MS;
        for (;;) {
          const next = await beforeDeadline(output.next(), deadline, 'the output to end after the abort');
          if (next.done) break;
        }
      } finally {
        ctl.abort();
      }
    });

    behaviour('unresponsive', 'a BMC that does not answer fails each call within the bound, naming what was tried', async (t) => {
      const u = w.unresponsive;
      if (!u) return t.diagnostic('not applicable: the row cannot make this BMC stop answering');
      const calls: Array<[keyof Unresponsive['names'], () => Promise<unknown>]> = [
        ['status', () => bmc.powerStatus(w.target)],
        ['on', () => bmc.setPower(w.target, 'on')],
      ];
      if (managed().boot) calls.push(['boot', () => bmc.setBootDevice(w.target, 'pxe', true)]);
      await u.stop();
      try {
        // One after another, as the OBM service makes them (one call at a time per BMC).
        for (const [op, call] of calls) {
          const started = Date.now();
          const err = await call().then(
            () => assert.fail(`${op}: succeeded although the BMC does not answer`),
            (e: unknown) => e,
          );
          const took = Date.now() - started;
          assert.ok(err instanceof Error, `${op}: rejected with a non-Error: ${String(err)}`);
          assert.ok(took <= u.boundMs + BOUND_SLACK_MS, `${op}: took ${took} ms, more than the bound of ${u.boundMs} ms`);
          assert.match(err.message, u.names[op], `${op}: the message does not say what was tried`);
        }
      } finally {
        await u.resume?.();
      }
    });
  });
}

/** `p`, or a failure saying what did not happen by `deadline`. */
async function beforeDeadline<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
