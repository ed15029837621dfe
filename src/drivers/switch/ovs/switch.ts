/**
 * The Open vSwitch switch (upstream hil.ext.switches.ovs), driven over OVSDB
 * (RFC 7047) instead of upstream's `sudo ovs-vsctl` per change.
 *
 * Fields: `ovs_bridge` (required) and `ovsdb` (`unix:/path` or
 * `tcp:HOST:PORT`, default unix:/var/run/openvswitch/db.sock).
 *
 * A port's VLANs are kept as { native, tagged } and written as whole Port
 * rows, never as the edits upstream made:
 *
 * | VLANs                | vlan_mode       | tag | trunks  | protected |
 * |----------------------|-----------------|-----|---------|-----------|
 * | native V only        | access          | V   | []      | false     |
 * | native V + tagged T  | native-untagged | V   | T       | false     |
 * | tagged T only        | trunk           | []  | T       | false     |
 * | none                 | trunk           | []  | [4095]  | true      |
 *
 * Why "none" is not simply an empty row: in OVS an empty `trunks` on a
 * trunk or native-* port means "trunk ALL VLANs", so upstream's revert (and
 * its native-only ports) left ports carrying every VLAN. An isolated port
 * here trunks only VLAN 4095, which HIL never hands out (a network on 4095 is
 * refused), and is `protected`, so isolated ports cannot reach each other on
 * 4095 either. A native-only port is `access` for the same reason: a
 * native-untagged port with empty trunks would trunk everything. Ports this
 * driver does not manage (an uplink left at "trunk all") still see 4095, as
 * they see every VLAN. getPortNetworks reports a port that trunks every VLAN
 * as the pseudo-channel "vlan/all" (see TRUNKS_ALL), so verify finds it.
 *
 * Unlike upstream, which looked ports up by name anywhere in OVS, a port must
 * belong to the configured bridge. A batch is read in one round trip,
 * computed, and written in one transaction guarded by `wait` operations (so a
 * concurrent edit makes it retry rather than be overwritten); then, like
 * ovs-vsctl, we wait until ovs-vswitchd has applied it (cur_cfg >= next_cfg).
 */
import { Type, type Static } from 'typebox';
import { BadArgumentError, SwitchError } from '../../../errors.ts';
import { driverParams, MUST } from '../../params.ts';
import { TYPE_PREFIX, type PortChange, type PortNetwork, type SwitchDriver, type SwitchRecord, type SwitchSession } from '../interface.ts';
import { OvsdbClient, parseEndpoint, type OvsdbOp, type OvsdbOpError } from './ovsdb-client.ts';

/** The VLAN an isolated port trunks; never a network's VLAN. */
export const ISOLATION_VLAN = 4095;
export const DEFAULT_OVSDB = 'unix:/var/run/openvswitch/db.sock';
const OvsParams = Type.Object({
  ovs_bridge: Type.String({ minLength: 1, description: 'The bridge whose ports HIL manages.' }),
  ovsdb: Type.Optional(Type.String({ [MUST]: 'an endpoint string "unix:/path" or "tcp:HOST:PORT"', description: `The OVSDB server; default ${DEFAULT_OVSDB}.` })),
});
export type OvsParams = Static<typeof OvsParams>;
const PORT_NAME = /^[^\s\p{Cc}]+$/u;
const PORT_COLUMNS = ['tag', 'trunks', 'vlan_mode', 'protected'];
/** Attempts when a concurrent edit invalidates what we read. */
const MAX_ATTEMPTS = 3;

export interface OvsDriverOptions {
  /** How long to wait for ovs-vswitchd to apply a commit; default 10000 ms. */
  applyTimeoutMs?: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
}

/** A session, plus its OVSDB client (tests count its transactions). */
export interface OvsSession extends SwitchSession {
  readonly client: OvsdbClient;
  applyBatch(changes: PortChange[]): Promise<void>;
}

export interface OvsSwitchDriver extends SwitchDriver<OvsParams> {
  openSession(sw: SwitchRecord<OvsParams>): Promise<OvsSession>;
}

export function ovsSwitchDriver(o: OvsDriverOptions = {}): OvsSwitchDriver {
  return {
    type: `${TYPE_PREFIX}ovs`,
    extensionName: 'hil.ext.switches.ovs',

    params: driverParams('ovs switch', OvsParams, (p, fail) => {
      if (p.ovsdb !== undefined && !parseEndpoint(p.ovsdb)) fail('ovsdb', 'an endpoint string "unix:/path" or "tcp:HOST:PORT"');
      return p;
    }),

    validatePortName(port) {
      if (!PORT_NAME.test(port)) throw new BadArgumentError(`Invalid port name ${JSON.stringify(port)} for an ovs switch (empty, or has whitespace or control characters)`);
    },

    capabilities() {
      return ['nativeless-trunk-mode'];
    },

    async openSession(sw) {
      const endpoint = sw.params.ovsdb ?? DEFAULT_OVSDB;
      const client = await OvsdbClient.connect(endpoint, { connectTimeoutMs: o.connectTimeoutMs, requestTimeoutMs: o.requestTimeoutMs });
      return ovsSession(client, sw.params.ovs_bridge, o.applyTimeoutMs ?? 10000);
    },
  };
}

/** A port's VLANs, as HIL sees them. */
interface Vlans {
  native: number | null;
  tagged: Set<number>;
}

interface PortRow {
  uuid: string;
  /** The columns as OVSDB returned them, for the `wait` guard. */
  raw: Record<string, unknown>;
  tag: number | null;
  trunks: number[];
  vlanMode: string | null;
  protected: boolean;
}

function ovsSession(client: OvsdbClient, bridge: string, applyTimeoutMs: number): OvsSession {
  const where = `OVS bridge ${JSON.stringify(bridge)} at ${client.endpoint}`;

  /** One round trip: the bridge's membership, next_cfg, and each port's VLAN columns. */
  async function read(ports: string[]): Promise<{ rows: Map<string, PortRow>; nextCfg: number }> {
    const ops: OvsdbOp[] = [
      { op: 'select', table: 'Bridge', where: [['name', '==', bridge]], columns: ['ports'] },
      { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
      ...ports.map((p) => ({ op: 'select', table: 'Port', where: [['name', '==', p]], columns: ['_uuid', ...PORT_COLUMNS] })),
    ];
    const res = await client.transact(ops);
    const bridgeRow = rowsOf(res[0])[0];
    if (!bridgeRow) throw new SwitchError(`${where}: the bridge does not exist`);
    const members = new Set(setOf(bridgeRow.ports).map(uuidOf));
    const nextCfg = Number(rowsOf(res[1])[0]?.next_cfg); // NaN without an Open_vSwitch row: applied() says so
    const rows = new Map<string, PortRow>();
    ports.forEach((p, i) => {
      const r = rowsOf(res[2 + i])[0];
      if (!r) throw new SwitchError(`${where}: port ${JSON.stringify(p)} does not exist`);
      const uuid = uuidOf(r._uuid);
      if (!members.has(uuid)) throw new SwitchError(`${where}: port ${JSON.stringify(p)} belongs to another bridge`);
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
    return { rows, nextCfg };
  }

  /** Waits (server-side, one request) until ovs-vswitchd has caught up with `cfg`. */
  async function applied(cfg: number): Promise<void> {
    if (!Number.isInteger(cfg)) throw new SwitchError(`${where}: the database has no Open_vSwitch row (run "ovs-vsctl init")`);
    const op = { op: 'wait', table: 'Open_vSwitch', where: [['cur_cfg', '>=', cfg]], columns: [], until: '!=', rows: [], timeout: applyTimeoutMs };
    try {
      await client.transact([op], { timeoutMs: applyTimeoutMs + 5000 });
    } catch (err) {
      if ((err as Error).cause && ((err as Error).cause as OvsdbOpError).error === 'timed out') {
        throw new SwitchError(`${where}: ovs-vswitchd did not apply configuration ${cfg} within ${applyTimeoutMs} ms (is ovs-vswitchd running?)`);
      }
      throw err;
    }
  }

  async function applyBatch(changes: PortChange[]): Promise<void> {
    if (changes.length === 0) return;
    const steps = changes.map(parseChange); // bad channels fail before any I/O
    const ports = [...new Set(changes.map((c) => c.port))];
    for (let attempt = 1; ; attempt++) {
      const { rows, nextCfg } = await read(ports);
      const state = new Map([...rows].map(([p, r]) => [p, effectiveVlans(r)]));
      for (const step of steps) step(state.get(step.port)!);

      const ops: OvsdbOp[] = [{ op: 'comment', comment: `hil: ovs driver, ${changes.length} change(s) on ${bridge}` }];
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
        return applied(nextCfg);
      }
      ops.push(
        { op: 'wait', table: 'Bridge', where: [['name', '==', bridge], ['ports', 'includes', ['set', changed.map((u) => ['uuid', u])]]], columns: ['name'], until: '==', rows: [{ name: bridge }], timeout: 0 },
        { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
        { op: 'select', table: 'Open_vSwitch', where: [], columns: ['next_cfg'] },
      );
      let res: Record<string, unknown>[];
      try {
        res = await client.transact(ops);
      } catch (err) {
        const cause = (err as Error).cause as OvsdbOpError | undefined;
        if (cause?.error === 'timed out' && ops[cause.opIndex]?.op === 'wait' && attempt < MAX_ATTEMPTS) continue; // someone else edited: re-read
        if (cause?.error === 'timed out' && ops[cause.opIndex]?.op === 'wait') throw new SwitchError(`${where}: ports kept changing under us; gave up after ${attempt} attempts`);
        throw err;
      }
      return applied(Number(rowsOf(res[res.length - 1])[0]?.next_cfg));
    }
  }

  return {
    client,
    applyBatch,

    modifyPort(port, channel, networkId) {
      return applyBatch([{ op: 'modify', port, channel, networkId }]);
    },

    revertPort(port) {
      return applyBatch([{ op: 'revert', port }]);
    },

    async getPortNetworks(ports) {
      const out = new Map<string, PortNetwork[]>();
      if (ports.length === 0) return out;
      const { rows } = await read([...new Set(ports)]);
      for (const p of ports) {
        const v = effectiveVlans(rows.get(p)!);
        const list: PortNetwork[] = [];
        if (v.native !== null) list.push({ channel: 'vlan/native', networkId: String(v.native) });
        for (const n of [...v.tagged].sort((a, b) => a - b)) list.push({ channel: `vlan/${n}`, networkId: String(n) });
        if (trunksAll(rows.get(p)!)) list.push(TRUNKS_ALL);
        out.set(p, list);
      }
      return out;
    },

    close() {
      return client.close();
    },
  };
}

type Step = ((v: Vlans) => void) & { port: string };

/** Turns a change into a function on the port's VLANs; throws SwitchError on a channel OVS cannot carry. */
function parseChange(c: PortChange): Step {
  let f: (v: Vlans) => void;
  if (c.op === 'revert') {
    f = (v) => {
      v.native = null;
      v.tagged.clear();
    };
  } else if (c.channel === 'vlan/native') {
    const vlan = c.networkId === null ? null : parseVlan(c.networkId, c);
    f = (v) => void (v.native = vlan);
  } else if (c.channel.startsWith('vlan/')) {
    const vlan = parseVlan(c.channel.slice(5), c);
    if (c.networkId !== null && parseVlan(c.networkId, c) !== vlan) {
      throw new SwitchError(`ovs switch: channel ${c.channel} cannot carry network ${JSON.stringify(c.networkId)} (port ${c.port})`);
    }
    f = c.networkId === null ? (v) => void v.tagged.delete(vlan) : (v) => void v.tagged.add(vlan);
  } else {
    throw new SwitchError(`ovs switch: unsupported channel ${JSON.stringify(c.channel)} on port ${c.port} (the ovs driver needs the vlan_pool allocator)`);
  }
  return Object.assign(f, { port: c.port });
}

function parseVlan(s: string, c: PortChange): number {
  const n = /^\d{1,4}$/.test(s) ? Number(s) : NaN;
  if (n === ISOLATION_VLAN) throw new SwitchError(`ovs switch: VLAN ${ISOLATION_VLAN} is reserved for isolating ports (port ${c.port})`);
  if (!(n >= 1 && n <= 4094)) throw new SwitchError(`ovs switch: ${JSON.stringify(s)} is not a VLAN id 1-4094 (port ${c.port})`);
  return n;
}

/**
 * Reported for a port that trunks every VLAN (a freshly added OVS port, or
 * upstream's revert): no channel can say "all", yet drift detection must see
 * that such a port is not isolated. HIL never attaches this channel, so it is
 * always a difference, and repairing the port (revert, then the expected
 * channels) removes it.
 */
export const TRUNKS_ALL: PortNetwork = { channel: 'vlan/all', networkId: 'all' };

/** In OVS an empty `trunks` on a non-access port means every VLAN. */
function trunksAll(r: PortRow): boolean {
  const mode = r.vlanMode ?? (r.tag !== null ? 'access' : 'trunk');
  return r.trunks.length === 0 && (mode === 'trunk' || mode === 'native-untagged' || mode === 'native-tagged');
}

/** What the port really carries, by OVS's rules (access ignores trunks, trunk ignores tag; no vlan_mode = access iff tagged). */
function effectiveVlans(r: PortRow): Vlans {
  const mode = r.vlanMode ?? (r.tag !== null ? 'access' : 'trunk');
  return {
    native: mode === 'trunk' ? null : r.tag,
    tagged: new Set(mode === 'access' ? [] : r.trunks.filter((n) => n !== ISOLATION_VLAN)),
  };
}

interface WantRow {
  tag: number | ['set', []];
  trunks: ['set', number[]];
  vlan_mode: string;
  protected: boolean;
}

function render(v: Vlans): WantRow {
  const tagged = [...v.tagged].sort((a, b) => a - b);
  if (v.native !== null) {
    return { tag: v.native, trunks: ['set', tagged], vlan_mode: tagged.length ? 'native-untagged' : 'access', protected: false };
  }
  if (tagged.length) return { tag: ['set', []], trunks: ['set', tagged], vlan_mode: 'trunk', protected: false };
  return { tag: ['set', []], trunks: ['set', [ISOLATION_VLAN]], vlan_mode: 'trunk', protected: true };
}

function sameRow(r: PortRow, w: WantRow): boolean {
  const wantTag = typeof w.tag === 'number' ? w.tag : null;
  const have = [...r.trunks].sort((a, b) => a - b);
  const want = w.trunks[1];
  return r.tag === wantTag && r.vlanMode === w.vlan_mode && r.protected === w.protected && have.length === want.length && have.every((n, i) => n === want[i]);
}

/** OVSDB JSON: a set is ["set", [...]] or, with one element, the bare atom. */
function setOf(v: unknown): unknown[] {
  if (Array.isArray(v) && v[0] === 'set') return v[1] as unknown[];
  return v === undefined ? [] : [v];
}

function uuidOf(v: unknown): string {
  return Array.isArray(v) && v[0] === 'uuid' ? String(v[1]) : String(v);
}

function rowsOf(r: Record<string, unknown> | undefined): Record<string, unknown>[] {
  return (r?.rows as Record<string, unknown>[] | undefined) ?? [];
}
