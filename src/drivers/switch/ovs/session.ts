/**
 * One OVSDB connection to one bridge. A batch is read in one round trip,
 * computed (./vlans.ts), and written in one transaction guarded by `wait`
 * operations, so a concurrent edit makes it re-read rather than be
 * overwritten; then, like ovs-vsctl, it waits until ovs-vswitchd has applied
 * the commit (cur_cfg >= next_cfg).
 *
 * Fencing: the bridge keeps the newest claim generation that changed it
 * (external_ids:hil-fence-generation), written in the same transaction as
 * the change and guarded by a `wait` on the whole map as read. A worker
 * whose claim passed on (it was paused between its own check and this
 * call) finds a newer generation there and is refused: OVSDB, not the
 * worker's clock, has the last word.
 */
import { SwitchError } from '../../../errors.ts';
import type { PortChange, PortNetwork, SessionFence, SwitchSession } from '../interface.ts';
import type { OvsdbClient, OvsdbOp, OvsdbOpError } from './ovsdb-client.ts';
import { effectiveVlans, parseChange, render, rowsOf, sameRow, setOf, TRUNKS_ALL, trunksAll, uuidOf, type PortRow } from './vlans.ts';

export const PORT_COLUMNS = ['tag', 'trunks', 'vlan_mode', 'protected'];
/** Attempts when a concurrent edit invalidates what we read. */
const MAX_ATTEMPTS = 3;
/** The bridge's external_ids key holding the fencing token. */
export const FENCE_KEY = 'hil-fence-generation';

export class OvsSession implements SwitchSession {
  /** Public: tests count its transactions. */
  readonly client: OvsdbClient;
  readonly #bridge: string;
  readonly #applyTimeoutMs: number;
  /** Names the bridge and server in every error. */
  readonly #where: string;
  readonly #fence: SessionFence | undefined;

  constructor(client: OvsdbClient, bridge: string, applyTimeoutMs: number, fence?: SessionFence) {
    this.client = client;
    this.#bridge = bridge;
    this.#applyTimeoutMs = applyTimeoutMs;
    this.#fence = fence;
    this.#where = `OVS bridge ${JSON.stringify(bridge)} at ${client.endpoint}`;
  }

  /** One round trip: the bridge's membership and external_ids, next_cfg, and each port's VLAN columns. */
  async #read(ports: string[]): Promise<{ rows: Map<string, PortRow>; nextCfg: number; bridgeIds: unknown }> {
    const ops: OvsdbOp[] = [
      { op: 'select', table: 'Bridge', where: [['name', '==', this.#bridge]], columns: ['ports', 'external_ids'] },
      { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
      ...ports.map((p) => ({ op: 'select', table: 'Port', where: [['name', '==', p]], columns: ['_uuid', ...PORT_COLUMNS] })),
    ];
    const res = await this.client.transact(ops);
    const bridgeRow = rowsOf(res[0])[0];
    if (!bridgeRow) throw new SwitchError(`${this.#where}: the bridge does not exist`);
    const members = new Set(setOf(bridgeRow.ports).map(uuidOf));
    const nextCfg = Number(rowsOf(res[1])[0]?.next_cfg); // NaN without an Open_vSwitch row: this.#applied() says so
    const rows = new Map<string, PortRow>();
    ports.forEach((p, i) => {
      const r = rowsOf(res[2 + i])[0];
      if (!r) throw new SwitchError(`${this.#where}: port ${JSON.stringify(p)} does not exist`);
      const uuid = uuidOf(r._uuid);
      if (!members.has(uuid)) throw new SwitchError(`${this.#where}: port ${JSON.stringify(p)} belongs to another bridge`);
      const tag = setOf(r.tag)[0];
      const mode = setOf(r.vlan_mode)[0];
      rows.set(p, {
        uuid,
        raw: Object.fromEntries(PORT_COLUMNS.map((c) => [c, r[c]])),
        tag: typeof tag === 'number' ? tag : null,
        trunks: setOf(r.trunks).map(Number),
        vlanMode: typeof mode === 'string' ? mode : null,
        protected: r.protected === true,
      });
    });
    return { rows, nextCfg, bridgeIds: bridgeRow.external_ids };
  }

  /**
   * The operations that check and move the bridge's fencing token with a
   * change; refuses at once when a newer generation already changed it.
   */
  #fenceOps(bridgeIds: unknown): OvsdbOp[] {
    const fence = this.#fence;
    if (!fence) return [];
    const pairs = Array.isArray(bridgeIds) && bridgeIds[0] === 'map' ? (bridgeIds[1] as [string, string][]) : [];
    const token = Number(pairs.find(([k]) => k === FENCE_KEY)?.[1] ?? 0);
    if (token > fence.generation) {
      throw new SwitchError(`${this.#where}: claim generation ${fence.generation} is fenced off (generation ${token} changed this bridge since)`);
    }
    const bridge = [['name', '==', this.#bridge]];
    const ops: OvsdbOp[] = [{ op: 'wait', table: 'Bridge', where: bridge, columns: ['external_ids'], until: '==', rows: [{ external_ids: bridgeIds }], timeout: 0 }];
    if (token < fence.generation) {
      const mutations = [
        ['external_ids', 'delete', ['set', [FENCE_KEY]]],
        ['external_ids', 'insert', ['map', [[FENCE_KEY, String(fence.generation)]]]],
      ];
      ops.push({ op: 'mutate', table: 'Bridge', where: bridge, mutations });
    }
    return ops;
  }

  /** Waits (server-side, one request) until ovs-vswitchd has caught up with `cfg`. */
  async #applied(cfg: number): Promise<void> {
    if (!Number.isInteger(cfg)) throw new SwitchError(`${this.#where}: the database has no Open_vSwitch row (run "ovs-vsctl init")`);
    const op = { op: 'wait', table: 'Open_vSwitch', where: [['cur_cfg', '>=', cfg]], columns: [], until: '!=', rows: [], timeout: this.#applyTimeoutMs };
    try {
      await this.client.transact([op], { timeoutMs: this.#applyTimeoutMs + 5000 });
    } catch (err) {
      if ((err as Error).cause && ((err as Error).cause as OvsdbOpError).error === 'timed out') {
        throw new SwitchError(`${this.#where}: ovs-vswitchd did not apply configuration ${cfg} within ${this.#applyTimeoutMs} ms (is ovs-vswitchd running?)`);
      }
      throw err;
    }
  }

  async applyBatch(changes: PortChange[]): Promise<void> {
    if (changes.length === 0) return;
    const steps = changes.map(parseChange); // bad channels fail before any I/O
    const ports = [...new Set(changes.map((c) => c.port))];
    for (let attempt = 1; ; attempt++) {
      const { rows, nextCfg, bridgeIds } = await this.#read(ports);
      const fenceOps = this.#fenceOps(bridgeIds);
      const state = new Map([...rows].map(([p, r]) => [p, effectiveVlans(r)]));
      for (const step of steps) step(state.get(step.port)!);

      const ops: OvsdbOp[] = [{ op: 'comment', comment: `hil: ovs driver, ${changes.length} change(s) on ${this.#bridge}` }];
      const changed: string[] = [];
      for (const [port, row] of rows) {
        const want = render(state.get(port)!);
        if (sameRow(row, want)) continue;
        changed.push(row.uuid);
        ops.push({ op: 'wait', table: 'Port', where: [['_uuid', '==', ['uuid', row.uuid]]], columns: PORT_COLUMNS, until: '==', rows: [row.raw], timeout: 0 });
        ops.push({ op: 'update', table: 'Port', where: [['_uuid', '==', ['uuid', row.uuid]]], row: want });
      }
      if (changed.length === 0) {
        // Already in place (a re-run): still make sure a commit of the earlier run has been applied.
        return this.#applied(nextCfg);
      }
      ops.push(
        ...fenceOps,
        { op: 'wait', table: 'Bridge', where: [['name', '==', this.#bridge], ['ports', 'includes', ['set', changed.map((u) => ['uuid', u])]]], columns: ['name'], until: '==', rows: [{ name: this.#bridge }], timeout: 0 },
        { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
        { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
      );
      let res: Record<string, unknown>[];
      try {
        res = await this.client.transact(ops);
      } catch (err) {
        const cause = (err as Error).cause as OvsdbOpError | undefined;
        if (cause?.error === 'timed out' && ops[cause.opIndex]?.op === 'wait' && attempt < MAX_ATTEMPTS) continue; // someone else edited: re-read
        if (cause?.error === 'timed out' && ops[cause.opIndex]?.op === 'wait') throw new SwitchError(`${this.#where}: ports kept changing under us; gave up after ${attempt} attempts`);
        throw err;
      }
      return this.#applied(Number(rowsOf(res[res.length - 1])[0]?.next_cfg));
    }
  }

  modifyPort(port: string, channel: string, networkId: string | null): Promise<void> {
    return this.applyBatch([{ op: 'modify', port, channel, networkId }]);
  }

  revertPort(port: string): Promise<void> {
    return this.applyBatch([{ op: 'revert', port }]);
  }

  async getPortNetworks(ports: string[]): Promise<Map<string, PortNetwork[]>> {
    const out = new Map<string, PortNetwork[]>();
    if (ports.length === 0) return out;
    const { rows } = await this.#read([...new Set(ports)]);
    for (const p of ports) {
      const v = effectiveVlans(rows.get(p)!);
      const list: PortNetwork[] = [];
      if (v.native !== null) list.push({ channel: 'vlan/native', networkId: String(v.native) });
      for (const n of [...v.tagged].sort((a, b) => a - b)) list.push({ channel: `vlan/${n}`, networkId: String(n) });
      if (trunksAll(rows.get(p)!)) list.push(TRUNKS_ALL);
      out.set(p, list);
    }
    return out;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
