/**
 * Reconciliation: compares what each switch port carries with what the
 * database says it should, and optionally repairs the switch. Ports with a
 * PENDING networking action are in flux and are reported apart, never
 * compared or touched (the worker owns them until the action ends).
 */
import type { CoreDeps, Tx } from './context.ts';
import type { SwitchRow } from '../store/schema.ts';
import { getSwitch } from './lookup.ts';
import { requireAdmin, type Principal } from './principal.ts';
import { withTimeout } from '../util/timeout.ts';
import type { PortChange, PortNetwork, SwitchSession } from '../drivers/switch/interface.ts';
import { openSwitchSession, openWithin } from '../drivers/switch/open.ts';
import { Service } from './service.ts';

/** channel → network id (VLAN), e.g. {"vlan/native": "1001"} */
export type PortState = Record<string, string>;

export interface PortDifference {
  switch: string;
  port: string;
  expected: PortState;
  actual: PortState;
  /** With fix: whether the port matched after the repair. */
  fixed?: boolean;
}

export interface VerifyReport {
  switches: string[];
  /** Ports compared. */
  checked: number;
  /** "switch port" of ports skipped because an action on them is PENDING. */
  pending: string[];
  differences: PortDifference[];
  /** Switches that could not be read: "switch: reason". */
  unreachable: string[];
}

const same = (a: PortState, b: PortState) => {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
};

/** What the database says each port of the switch carries, and the ports with an action in flux. */
async function expectedStates(db: Tx, switchId: number) {
  const ports = await db
    .selectFrom('port')
    .leftJoin('nic', 'nic.port_id', 'port.id')
    .leftJoin('networking_action', (j) => j.onRef('networking_action.nic_id', '=', 'nic.id').on('networking_action.status', '=', 'PENDING'))
    .select(['port.label', 'nic.id as nic_id', 'networking_action.id as pending'])
    .where('port.switch_id', '=', switchId)
    .orderBy('port.id')
    .execute();
  const attachments = await db
    .selectFrom('network_attachment')
    .innerJoin('network', 'network.id', 'network_attachment.network_id')
    .innerJoin('nic', 'nic.id', 'network_attachment.nic_id')
    .innerJoin('port', 'port.id', 'nic.port_id')
    .select(['port.label as port', 'network_attachment.channel', 'network.network_id'])
    .where('port.switch_id', '=', switchId)
    .execute();
  const expected = new Map<string, PortState>(ports.map((p) => [p.label, {}]));
  for (const a of attachments) expected.get(a.port)![a.channel] = a.network_id;
  return { expected, pending: new Set(ports.filter((p) => p.pending !== null).map((p) => p.label)) };
}

async function repair(session: SwitchSession, port: string, want: PortState): Promise<void> {
  // From nothing, native first: some switches refuse trunks without a native VLAN.
  const changes: PortChange[] = [{ op: 'revert', port }];
  const channels = Object.keys(want).sort((a, b) => (a === 'vlan/native' ? -1 : b === 'vlan/native' ? 1 : a.localeCompare(b)));
  for (const channel of channels) changes.push({ op: 'modify', port, channel, networkId: want[channel] });
  if (session.applyBatch) return session.applyBatch(changes);
  for (const c of changes) {
    if (c.op === 'revert') await session.revertPort(c.port);
    else await session.modifyPort(c.port, c.channel, c.networkId);
  }
}

/** Compares (and with `fix`, repairs) one switch's ports, adding what it finds to the report. */
async function verifySwitch(deps: CoreDeps, sw: SwitchRow, fix: boolean, report: VerifyReport): Promise<void> {
  const driver = deps.switches.get(sw.type);
  if (!driver) {
    report.unreachable.push(`${sw.label}: no driver for type ${sw.type}`);
    return;
  }
  const timeout = <T>(what: string, work: () => Promise<T>) => withTimeout(deps.switchTimeoutMs, what, work);
  const { expected, pending } = await expectedStates(deps.db, sw.id);
  const ports = [...expected.keys()].filter((port) => !pending.has(port));
  report.pending.push(...[...pending].map((port) => `${sw.label} ${port}`));
  let session: SwitchSession | undefined;
  try {
    session = await openWithin(deps.switchTimeoutMs, sw.label, () => openSwitchSession(driver, sw));
    const s = session;
    const read = async (which: string[]) => timeout(`reading switch ${sw.label}`, () => s.getPortNetworks(which));
    const actual = await read(ports);
    report.checked += ports.length;
    for (const port of ports) {
      const have = asState(actual.get(port));
      const want = expected.get(port)!;
      if (same(have, want)) continue;
      const diff: PortDifference = { switch: sw.label, port, expected: want, actual: have };
      if (fix) {
        await timeout(`repairing ${sw.label} port ${port}`, () => repair(s, port, want));
        diff.fixed = same(asState((await read([port])).get(port)), want);
        deps.log.info({ switch: sw.label, port, expected: want, was: have, fixed: diff.fixed }, 'network verify: repaired port');
      }
      report.differences.push(diff);
    }
  } catch (err) {
    // One dead switch must not hide the state of the others.
    report.unreachable.push(`${sw.label}: ${(err as Error).message}`);
  } finally {
    await session?.close().catch(() => {});
  }
}

const asState = (networks: PortNetwork[] | undefined): PortState => Object.fromEntries((networks ?? []).map((n) => [n.channel, n.networkId]));

export class VerifyService extends Service {
  async verify(p: Principal, o: { switch?: string; fix?: boolean } = {}): Promise<VerifyReport> {
    requireAdmin(p);
    const { db } = this.deps;
    const switches = o.switch ? [await getSwitch(db, o.switch)] : await db.selectFrom('switch').selectAll().orderBy('label').execute();
    const report: VerifyReport = { switches: switches.map((s) => s.label), checked: 0, pending: [], differences: [], unreachable: [] };
    for (const sw of switches) await verifySwitch(this.deps, sw, o.fix ?? false, report);
    return report;
  }
}

export const verifyService = (deps: CoreDeps) => new VerifyService(deps);
