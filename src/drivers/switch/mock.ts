/**
 * The `mock` switch (upstream hil.ext.switches.mock). Unlike upstream, which
 * kept its state in the daemon's memory, this one keeps it in the database,
 * so the API process, the worker process and tests all see the same switch.
 * Tests can also inject faults per port (mock_switch_fault: throw | hang).
 * Its tables are its own: ./mock-schema.ts. The "device" has the ports
 * registered on it in HIL, no others: a change to any other port fails, as
 * it would on a real switch.
 */
import { Type } from 'typebox';
import { BadArgumentError, SwitchError } from '../../errors.ts';
import type { MockSwitchDb } from './mock-schema.ts';
import { driverParams, Secret } from '../params.ts';
import { TYPE_PREFIX, type PortNetwork, type SwitchDriver, type SwitchSession } from './interface.ts';

const PORT_NAME = /^(gi|te)\d+\/\d+(\/\d+)?$/;

/** Upstream's mock switch fields; none is used, but registrations carry them. */
const MockSwitchParams = Type.Object({ hostname: Type.String(), username: Type.String(), password: Secret() });

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

    async openSession(sw) {
      return mockSession(db, sw.id);
    },
  };
}

function mockSession(db: MockSwitchDb, switchId: number): SwitchSession {
  async function requirePorts(ports: string[]): Promise<void> {
    if (ports.length === 0) return;
    const found = new Set((await db.selectFrom('port').select('label').where('switch_id', '=', switchId).where('label', 'in', ports).execute()).map((r) => r.label));
    const missing = ports.find((p) => !found.has(p));
    if (missing !== undefined) throw new SwitchError(`mock switch: port ${missing} does not exist`);
  }

  async function record(port: string, op: string, channel: string | null, networkId: string | null) {
    await requirePorts([port]);
    const fault = await db
      .selectFrom('mock_switch_fault')
      .select('mode')
      .where('switch_id', '=', switchId)
      .where('port', '=', port)
      .executeTakeFirst();
    if (fault?.mode === 'throw') throw new SwitchError(`mock switch: injected failure on port ${port}`);
    if (fault?.mode === 'hang') await new Promise(() => {}); // never answers, like a dead switch
    await db.insertInto('mock_switch_call').values({ switch_id: switchId, port, op, channel, network_id: networkId, at: Date.now() }).execute();
  }

  return {
    async modifyPort(port, channel, networkId) {
      await record(port, 'modify', channel, networkId);
      await db.transaction().execute(async (tx) => {
        await tx.deleteFrom('mock_switch_port').where('switch_id', '=', switchId).where('port', '=', port).where('channel', '=', channel).execute();
        if (networkId !== null) {
          await tx.insertInto('mock_switch_port').values({ switch_id: switchId, port, channel, network_id: networkId }).execute();
        }
      });
    },

    async revertPort(port) {
      await record(port, 'revert', null, null);
      await db.deleteFrom('mock_switch_port').where('switch_id', '=', switchId).where('port', '=', port).execute();
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
