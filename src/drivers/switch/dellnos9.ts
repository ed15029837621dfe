/**
 * Dell S3048-ON and other switches running Dell Networking OS9, driven over
 * OS9's REST API (upstream hil.ext.switches.dellnos9; the API is in
 * ./dellnos9-api.ts).
 *
 * Fields, as upstream: `hostname` (the REST server's URL with its port,
 * e.g. http://sw:8008; HTTPS listens on 8888), `username`, `password`,
 * `interface_type` (one of INTERFACE_TYPES: a switch with several port
 * speeds is registered once per type); and, an extension, `save` (default
 * true: `write` after each batch of changes, even one that found every port
 * already as asked, since an earlier failed batch may have left it
 * unsaved). The URL carries no credentials (refused at registration: the
 * URL appears in messages). Ports are "unit/slot[/port]" ("1/3").
 *
 * OS9 is VLAN-centric: a port joins VLAN V with `interface vlan V` then
 * `untagged <type> <port>` (its native VLAN) or `tagged <type> <port>`.
 * Its rules, which this driver follows:
 * - a port must be in Layer 2 mode (`switchport`) to join a VLAN, and must
 *   be a hybrid port (`portmode hybrid`, set only while it has no VLAN
 *   memberships) to be untagged in one VLAN and tagged in others;
 * - a Layer 2 port is always untagged somewhere: `no untagged` sends it
 *   back to the default VLAN (VLAN 1), where every other Layer 2 port is;
 * - only untagged ports belong to the default VLAN;
 * - a fresh port is shut down and in Layer 3 mode: it carries nothing.
 * So a port carries nothing only when shut down (or in Layer 3 mode):
 * "no networks" is a shut-down port, as upstream did; its VLAN memberships
 * are removed too, so it comes back up carrying only what it is given.
 *
 * What a port carries is read from the switch, never from HIL's database:
 * the interface resource (shutdown, switchport, hybrid) and
 * `show interfaces switchport <type> <port>` (its U and T VLANs). A port
 * that is shut down or not in Layer 2 mode reads as carrying nothing,
 * whatever VLANs its configuration names.
 *
 * Unlike upstream (each a compat note):
 * - a port being turned on is made Layer 2 and hybrid while still shut
 *   down, given its VLANs, and only then brought up, so it never carries
 *   the default VLAN in between (upstream turned it on first, and a
 *   failure then left it on VLAN 1: #883); a port being turned off is shut
 *   down first;
 * - a port's changes go in one CLI request (removals, then additions),
 *   after one read; a refused request is followed by a best-effort undo to
 *   what the port carried before, and every changed port is read back;
 * - the old native VLAN is read from the switch, not from HIL's database;
 * - `?with-defaults` is sent as such (upstream sent `\?with-defaults`);
 * - an unknown interface_type is refused at registration (upstream failed
 *   later, with a KeyError);
 * - `write` after each batch unless `save` is false (upstream's save ran on
 *   disconnect, which its sessionless drivers never did).
 * Capabilities: none (no "nativeless-trunk-mode"): tagged VLANs need a
 * native one, as upstream enforced; a port asked to carry tagged VLANs
 * without a native one is refused, since OS9 would put it on VLAN 1.
 */
import { Type, type Static } from 'typebox';
import { BadArgumentError, SwitchError } from '../../errors.ts';
import { driverParams, MUST, Secret } from '../params.ts';
import { TYPE_PREFIX, type PortChange, type PortNetwork, type SwitchDriver, type SwitchSession } from './interface.ts';
import { applyChange, asPortNetworks, formatVlanList, sameVlans, type PortVlans } from './port-vlans.ts';
import { cliBatches, INTERFACE_PATH, Os9Api } from './dellnos9-api.ts';
import { carried, DEFAULT_VLAN, INTERFACE_TYPES, membershipCommands, parseInterface, parseSwitchport, type InterfaceType, type PortConfig, type PortMode } from './dellnos9-port.ts';

const TYPE_NAMES = Object.keys(INTERFACE_TYPES) as InterfaceType[];


const PORT_NAME = /^\d+\/\d+(\/\d+)?$/;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30000;
const HOSTNAME_NO_CREDENTIALS = 'an http or https URL with the port and without credentials (give them as username and password), e.g. http://switch:8008';

const Nos9Params = Type.Object({
  hostname: Type.String({ pattern: '^https?://[^/\\s]+/?$', [MUST]: 'an http or https URL with the port, e.g. http://switch:8008', description: "The switch's REST API, e.g. http://switch:8008 (HTTPS: port 8888)." }),
  username: Type.String({ minLength: 1, description: 'A switch account with privilege level 2 or more (read-write REST access).' }),
  password: Secret({ description: "The account's password." }),
  interface_type: Type.Union(
    TYPE_NAMES.map((t) => Type.Literal(t)),
    { [MUST]: `one of ${TYPE_NAMES.join(', ')}`, description: 'The type of the ports HIL manages on this switch (register the switch once per type).' },
  ),
  save: Type.Optional(Type.Boolean({ description: 'Save the running configuration (`write`) after each batch of changes (default true).' })),
});
export type Nos9Params = Static<typeof Nos9Params>;

export interface Nos9DriverOptions {
  /** Each HTTP request's timeout; default 30000 ms. */
  requestTimeoutMs?: number;
}

export interface Nos9Session extends SwitchSession {
  /** HTTP requests sent so far, by method. */
  readonly requests: { GET: number; PUT: number; POST: number };
  applyBatch(changes: PortChange[]): Promise<void>;
}

export function dellNos9SwitchDriver(o: Nos9DriverOptions = {}): SwitchDriver<Nos9Params> {
  return {
    type: `${TYPE_PREFIX}dellnos9`,
    extensionName: 'hil.ext.switches.dellnos9',
    params: driverParams('dellnos9 switch', Nos9Params, (p, fail) => {
      // The base URL appears in messages: credentials belong in username and password, never in it.
      // (The pattern leaves no path, so an "@" can only end user information.)
      if (p.hostname.includes('@')) fail('hostname', HOSTNAME_NO_CREDENTIALS);
      return { ...p, hostname: p.hostname.replace(/\/+$/, '') };
    }),
    validatePortName(port) {
      if (!PORT_NAME.test(port)) throw new BadArgumentError(`Invalid port name ${JSON.stringify(port)} for a dellnos9 switch (it must look like "1/3" or "1/1/3")`);
    },
    capabilities: () => [],
    async openSession(sw) {
      return new Os9Session(sw.params, o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
    },
  };
}

/** The OS9 session: sessionless HTTP underneath, one client whose failure ends it. */
class Os9Session implements Nos9Session {
  readonly #api: Os9Api;
  readonly #p: Nos9Params;
  #closed = false;

  constructor(p: Nos9Params, timeoutMs: number) {
    this.#p = p;
    this.#api = new Os9Api({ base: p.hostname, username: p.username, password: p.password, params: p as unknown as Record<string, unknown> }, timeoutMs);
  }

  get requests() {
    return { ...this.#api.counts };
  }

  modifyPort(port: string, channel: string, networkId: string | null): Promise<void> {
    return this.applyBatch([{ op: 'modify', port, channel, networkId }]);
  }

  revertPort(port: string): Promise<void> {
    return this.applyBatch([{ op: 'revert', port }]);
  }

  async applyBatch(changes: PortChange[]): Promise<void> {
    this.#open();
    const ports = [...new Set(changes.map((c) => c.port))];
    // Every port is read before anything is written: a port the switch lacks fails the batch untouched.
    const before = new Map<string, PortConfig>();
    for (const p of ports) before.set(p, await this.#read(p));
    const want = new Map<string, PortVlans>();
    for (const c of changes) want.set(c.port, applyChange(want.get(c.port) ?? carried(before.get(c.port)!), c));
    for (const [p, w] of want) {
      if (w.native === null && w.tagged.length) throw new SwitchError(`dellnos9 switch: port ${p} cannot carry tagged VLANs ${formatVlanList(w.tagged)} without a native VLAN (OS9 would put it on its default VLAN ${DEFAULT_VLAN})`);
    }
    for (const p of ports) {
      const from = before.get(p)!;
      const to = want.get(p)!;
      if (sameVlans(carried(from), to)) continue;
      await this.#change(p, from, to);
    }
    // Written even when every port already was as asked: an earlier, failed
    // batch (or session) may have changed it without saving, and the worker
    // retries it change by change; OS9 has no cheap "running differs from
    // startup" to ask instead.
    if (changes.length && this.#p.save !== false) await this.#api.cli('exec-command', ['write']);
  }

  async getPortNetworks(ports: string[]): Promise<Map<string, PortNetwork[]>> {
    this.#open();
    const out = new Map<string, PortNetwork[]>();
    for (const p of ports) out.set(p, asPortNetworks(carried(await this.#read(p))));
    return out;
  }

  /** Aborts the request in flight (the worker gave up on the batch); nothing more is sent on this session. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#api.close();
  }

  #open(): void {
    if (this.#closed) throw new SwitchError('dellnos9 switch: the session is closed');
  }

  #resource(port: string): string {
    return INTERFACE_PATH + INTERFACE_TYPES[this.#p.interface_type] + port.replaceAll('/', '-');
  }

  /**
   * The port's configuration: the interface resource, and its VLANs when it
   * is in Layer 2 mode. `mode`, when this session has just set it (and the
   * switch accepted the PUT), saves the GET.
   */
  async #read(port: string, mode?: PortMode): Promise<PortConfig> {
    if (!mode) {
      const url = `${this.#resource(port)}?with-defaults`;
      const a = await this.#api.request('GET', url);
      if (a.status === 404) this.#api.fail(`port ${port} (${this.#p.interface_type} ${port}) does not exist: GET ${url} answered 404${errorWords(a.body)}`);
      if (a.status < 200 || a.status >= 300) this.#api.fail(`port ${port}: GET ${url} answered ${a.status}${errorWords(a.body)}`);
      mode = parseInterface(a.body, port, (m) => this.#api.fail(m));
    }
    if (!mode.switchport) return { ...mode, untagged: null, tagged: [], vlansRead: true };
    // A shut-down port carries nothing: its VLANs are read only when a change needs them (#vlans).
    if (mode.shutdown) return { ...mode, untagged: null, tagged: [], vlansRead: false };
    return this.#vlans(port, mode);
  }

  async #vlans(port: string, mode: PortMode): Promise<PortConfig> {
    const shown = await this.#api.cli('show-command', [`interfaces switchport ${this.#p.interface_type} ${port}`]);
    return { ...mode, ...parseSwitchport(shown, port, (m) => this.#api.fail(m)), vlansRead: true };
  }

  /** Replaces the interface's own configuration (upstream's "port on/off" document). */
  async #put(port: string, mode: PortMode): Promise<void> {
    const name = INTERFACE_TYPES[this.#p.interface_type] + port.replaceAll('/', '-');
    const doc = `<interface><name>${name}</name><portmode><hybrid>${mode.hybrid}</hybrid></portmode>${mode.switchport ? '<switchport></switchport>' : ''}<shutdown>${mode.shutdown}</shutdown></interface>`;
    await this.#api.ok('PUT', this.#resource(port), doc);
  }

  /** Takes one port from what it is to what it must carry; on a refusal, undoes what it can and rethrows. */
  async #change(port: string, from: PortConfig, to: PortVlans): Promise<void> {
    try {
      await this.#steps(port, from, to);
    } catch (err) {
      if (err instanceof SwitchError && !this.#api.broken) await this.#undo(port, carried(from));
      throw err instanceof SwitchError ? new SwitchError(`port ${port}: ${err.message}`) : err;
    }
    // Read back: a port left up is known to be hybrid Layer 2 (its PUTs were accepted), so only its VLANs are shown again.
    const now = carried(await this.#read(port, to.native === null ? undefined : { shutdown: false, switchport: true, hybrid: true }));
    if (!sameVlans(now, to)) this.#api.fail(`port ${port} carries ${describeVlans(now)} after the change, not ${describeVlans(to)}`);
  }

  async #undo(port: string, was: PortVlans): Promise<void> {
    try {
      const now = await this.#read(port);
      if (!sameVlans(carried(now), was)) await this.#steps(port, now, was);
    } catch {
      // Best effort: the error that matters is the one that made us undo; verify reports the rest.
    }
  }

  async #steps(port: string, read: PortConfig, to: PortVlans): Promise<void> {
    const type = this.#p.interface_type;
    const from = read.vlansRead ? read : await this.#vlans(port, read);
    const up = !from.shutdown && from.switchport;
    const shut = { shutdown: true, switchport: from.switchport, hybrid: from.hybrid };
    if (to.native === null) {
      // Off first: the port stops carrying before its memberships go.
      if (up) await this.#put(port, shut);
      await this.#cli(membershipCommands(type, port, from, null));
      return;
    }
    let cfg = from;
    if (!from.switchport || !from.hybrid) {
      // OS9 changes a port's mode only while it has no VLAN memberships: shut it, empty it, make it hybrid Layer 2 (still shut).
      if (up) await this.#put(port, shut);
      if (from.switchport) await this.#cli(membershipCommands(type, port, from, null));
      await this.#put(port, { shutdown: true, switchport: true, hybrid: true });
      cfg = { shutdown: true, switchport: true, hybrid: true, untagged: DEFAULT_VLAN, tagged: [], vlansRead: true };
    }
    await this.#cli(membershipCommands(type, port, cfg, to));
    if (cfg.shutdown) await this.#put(port, { shutdown: false, switchport: true, hybrid: true });
  }

  async #cli(groups: string[][]): Promise<void> {
    for (const batch of cliBatches(groups)) await this.#api.cli('config-commands', batch);
  }
}

function describeVlans(v: PortVlans): string {
  if (v.native === null && !v.tagged.length) return 'nothing';
  return [v.native !== null ? `native ${v.native}` : '', v.tagged.length ? `tagged ${formatVlanList(v.tagged)}` : ''].filter(Boolean).join(', ');
}

function errorWords(body: string): string {
  const m = [...body.matchAll(/<error-message>([\s\S]*?)<\/error-message>/g)].map((x) => x[1]!.trim());
  return m.length ? `: ${m.join('; ')}` : '';
}
