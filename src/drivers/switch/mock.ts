/**
 * The `mock` switch (upstream hil.ext.switches.mock). Unlike upstream, which
 * kept its state in the daemon's memory, this one keeps it in the database,
 * so the API process, the worker process and tests all see the same switch.
 * Tests can also inject faults per port (mock_switch_fault: throw | hang).
 * Its tables are its own: ./mock-schema.ts. The "device" has the ports
 * registered on it in HIL, no others: a change to any other port fails, as
 * it would on a real switch. `latency_ms` (an extension of upstream's
 * fields) makes every change take that long, as a vendor switch's CLI does:
 * benchmarks and the chaos test need switches that are not instant. It
 * keeps a fencing token (the newest claim generation that changed it) and
 * refuses older ones, as a device that can keep one should.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from 'typebox';
import { BadArgumentError, SwitchError } from '../../errors.ts';
import type { MockSwitchDb } from './mock-schema.ts';
import { limitIdleInTransaction } from '../../store/db.ts';
import { driverParams, Secret } from '../params.ts';
import { TYPE_PREFIX, type PortNetwork, type SessionFence, type SwitchDriver, type SwitchSession } from './interface.ts';

const PORT_NAME = /^(gi|te)\d+\/\d+(\/\d+)?$/;

/** How long the device waits for the rest of a change whose sender went silent. */
const CHANGE_IDLE_LIMIT_MS = 1000;

/** Upstream's mock switch fields (none is used, but registrations carry them), and how slow the "device" is. */
const MockSwitchParams = Type.Object({
  hostname: Type.String(),
  username: Type.String(),
  password: Secret(),
  latency_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 60000, description: 'How long each change takes (default 0).' })),
});

export function mockSwitchDriver(db: MockSwitchDb): SwitchDriver {
  return {
    type: `${TYPE_PREFIX}mock`,
    extensionName: 'hil.ext.switches.mock',

    params: driverParams('mock switch', MockSwitchParams),

    validatePortName(port) {
      if (!PORT_NAME.test(port)) throw new BadArgumentError(`Invalid port name ${JSON.stringify(port)} for a mock switch`);
    },

    capabilities() {
      return ['nativeless-trunk-mode'];
    },

    async openSession(sw, fence) {
      return mockSession(db, sw.id, sw.params.latency_ms ?? 0, fence);
    },
  };
}

/**
 * The device's fencing token: a change under an older claim generation
 * than the newest that changed the switch is refused (SwitchError, noted
 * in mock_switch_refusal). The worker's own check before each call cannot
 * stop a holder that froze after the check and before the device acted;
 * this does. Taken in the change's transaction, so changes queue on it.
 * Null when the change may go ahead; else the token's generation.
 */
async function holdToken(tx: MockSwitchDb, switchId: number, f: SessionFence): Promise<number | null> {
  await tx.insertInto('mock_switch_fence').values({ switch_id: switchId, generation: f.generation, holder: f.holder }).onConflict((oc) => oc.column('switch_id').doNothing()).execute();
  const held = await tx.updateTable('mock_switch_fence').set({ generation: f.generation, holder: f.holder }).where('switch_id', '=', switchId).where('generation', '<=', f.generation).executeTakeFirst();
  if (Number(held.numUpdatedRows) === 1) return null;
  const token = await tx.selectFrom('mock_switch_fence').select('generation').where('switch_id', '=', switchId).executeTakeFirstOrThrow();
  return Number(token.generation);
}

function mockSession(db: MockSwitchDb, switchId: number, latencyMs: number, fence: SessionFence | undefined): SwitchSession {
  async function requirePorts(ports: string[]): Promise<void> {
    if (ports.length === 0) return;
    const found = new Set((await db.selectFrom('port').select('label').where('switch_id', '=', switchId).where('label', 'in', ports).execute()).map((r) => r.label));
    const missing = ports.find((p) => !found.has(p));
    if (missing !== undefined) throw new SwitchError(`mock switch: port ${missing} does not exist`);
  }

  /**
   * One change, as a device applies it: the port's state and the call log
   * in one transaction (the device acts on receipt), then the answer takes
   * `latency_ms`. A caller that froze before the transaction and whose
   * claim passed on meanwhile finds the token newer: refused.
   */
  async function apply(port: string, call: { op: string; channel: string | null; networkId: string | null; action?: string }, change: (tx: MockSwitchDb) => Promise<void>) {
    await requirePorts([port]);
    const fault = await db
      .selectFrom('mock_switch_fault')
      .select('mode')
      .where('switch_id', '=', switchId)
      .where('port', '=', port)
      .executeTakeFirst();
    if (fault?.mode === 'throw') throw new SwitchError(`mock switch: injected failure on port ${port}`);
    if (fault?.mode === 'hang') await new Promise(() => {}); // never answers, like a dead switch
    const who = { action: call.action ?? null, holder: fence?.holder ?? null, generation: fence?.generation ?? null };
    const refusedBy = await db.transaction().execute(async (tx) => {
      // A caller that froze mid-change loses it, rather than holding the token against its successor until it resumes.
      if (fence) await limitIdleInTransaction(tx, CHANGE_IDLE_LIMIT_MS);
      const token = fence ? await holdToken(tx, switchId, fence) : null;
      if (token !== null) return token;
      await change(tx);
      await tx.insertInto('mock_switch_call').values({ switch_id: switchId, port, op: call.op, channel: call.channel, network_id: call.networkId, at: Date.now(), ...who }).execute();
      return null;
    });
    if (refusedBy !== null) {
      await db.insertInto('mock_switch_refusal').values({ switch_id: switchId, port, op: call.op, action: who.action, holder: fence!.holder, generation: fence!.generation, token: refusedBy, at: Date.now() }).execute();
      throw new SwitchError(`mock switch: refused a change under claim generation ${fence!.generation}; generation ${refusedBy} changed the switch since`);
    }
    if (latencyMs > 0) await sleep(latencyMs);
  }

  return {
    async modifyPort(port, channel, networkId, action) {
      await apply(port, { op: 'modify', channel, networkId, action }, async (tx) => {
        await tx.deleteFrom('mock_switch_port').where('switch_id', '=', switchId).where('port', '=', port).where('channel', '=', channel).execute();
        if (networkId !== null) {
          await tx.insertInto('mock_switch_port').values({ switch_id: switchId, port, channel, network_id: networkId }).execute();
        }
      });
    },

    async revertPort(port, action) {
      await apply(port, { op: 'revert', channel: null, networkId: null, action }, async (tx) => {
        await tx.deleteFrom('mock_switch_port').where('switch_id', '=', switchId).where('port', '=', port).execute();
      });
    },

    async getPortNetworks(ports) {
      const out = new Map<string, PortNetwork[]>(ports.map((p) => [p, []]));
      if (ports.length === 0) return out;
      await requirePorts([...new Set(ports)]);
      const rows = await db
        .selectFrom('mock_switch_port')
        .select(['port', 'channel', 'network_id'])
        .where('switch_id', '=', switchId)
        .where('port', 'in', ports)
        .orderBy('channel')
        .execute();
      for (const r of rows) out.get(r.port)!.push({ channel: r.channel, networkId: r.network_id });
      return out;
    },

    async close() {},
  };
}
