/**
 * Brocade VDX switches running Network OS, over the switch's XML REST API
 * (upstream hil.ext.switches.brocade, spec §11.3).
 *
 * Fields, as upstream: `hostname` (the switch's URL with its scheme,
 * "https://vdx.example.com"), `username`, `password`, `interface_type` (the
 * Network OS interface type of the ports, e.g. "TenGigabitEthernet"; a switch
 * with ports of several speeds is registered once per type). Extension:
 * `save` (default true) copies the running configuration to the startup
 * configuration after each batch of changes (the `bna-config-cmd` RPC, as
 * `copy running-config startup-config`), even one that found every port
 * already as asked: an earlier, failed batch may have written it unsaved.
 * Network OS keeps its configuration database across reboots by itself;
 * the copy keeps the startup-config file, which the switch boots from after
 * a `copy default-config` or a firmware change, in step. Upstream never saved.
 *
 * Ports are rbridge/slot/port ("1/0/10"). Every change reads the ports it
 * touches (GET on the interface), computes what each must forward, writes
 * the difference (./brocade/port-config.ts says how, and in which order, and
 * why), reads the ports again and fails naming the port unless it forwards
 * what was asked. A VLAN a port is to carry is created first (POST of
 * interface Vlan), so that an invalid VLAN is refused before any port
 * changes. Capabilities are []: a VDX trunk without a native VLAN carries
 * VLAN 1, so tagged networks need a native one (refused otherwise).
 */
import { Type, type Static } from 'typebox';
import { BadArgumentError, SwitchError } from '../../errors.ts';
import { driverParams, MUST, scrubSecrets, Secret } from '../params.ts';
import { TYPE_PREFIX, type PortChange, type PortNetwork, type SwitchDriver, type SwitchRecord, type SwitchSession } from './interface.ts';
import { applyChange, asPortNetworks, sameVlans, type PortVlans } from './port-vlans.ts';
import { forwards, planPort, readInterface, refuseNativeless, TRUNK_ALL, type VdxPortConfig } from './brocade/port-config.ts';
import { VdxRest } from './brocade/rest.ts';
import { el, find } from './xml.ts';

export const BROCADE_TYPE = `${TYPE_PREFIX}brocade`;

const URL_MUST = 'an http or https URL of the switch, without credentials, e.g. "https://vdx.example.com"';
const TYPE_MUST = 'a Network OS interface type, e.g. "TenGigabitEthernet"';

const BrocadeFields = Type.Object({
  hostname: Type.String({ minLength: 1, [MUST]: URL_MUST, description: 'The switch\'s REST API: its URL with the scheme ("https://vdx.example.com", or "http://…").' }),
  username: Type.String({ minLength: 1, description: 'The account HIL uses; it needs configuration rights.' }),
  password: Secret({ description: 'The account\'s password (sent as HTTP Basic authentication).' }),
  interface_type: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9-]*$', [MUST]: TYPE_MUST, description: 'The Network OS interface type of the ports HIL manages on this switch, e.g. "TenGigabitEthernet" or "FortyGigabitEthernet".' }),
  save: Type.Optional(Type.Boolean({ description: 'Copy the running configuration to the startup configuration after each change (default true).' })),
});
export type BrocadeParams = Static<typeof BrocadeFields>;

/** Ports are rbridge-id/slot/port, or slot/port on a standalone switch. */
const PORT_NAME = /^\d+\/\d+(\/\d+)?$/;

/** Enough Resource-Depth to see interface > switchport > trunk > allowed > vlan > add. */
const INTERFACE_DEPTH = 6;

export interface BrocadeDriverOptions {
  /** One HTTP request; default 30000 ms. */
  requestTimeoutMs?: number;
  /** The whole save (the copy and polling its status); default 120000 ms. */
  saveTimeoutMs?: number;
  /** Between polls of the save's status; default 250 ms. */
  savePollMs?: number;
}

export function brocadeSwitchDriver(o: BrocadeDriverOptions = {}): SwitchDriver<BrocadeParams> {
  const params = driverParams('brocade switch', BrocadeFields, (p, fail) => {
    let url: URL;
    try {
      url = new URL(p.hostname);
    } catch {
      return fail('hostname', URL_MUST);
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash) fail('hostname', URL_MUST);
    // Kept as given (upstream bodies stay as registered), only without a trailing slash.
    return { ...p, hostname: p.hostname.replace(/\/+$/, '') };
  });
  return {
    type: BROCADE_TYPE,
    extensionName: 'hil.ext.switches.brocade',
    params,
    validatePortName(port) {
      if (!PORT_NAME.test(port)) throw new BadArgumentError(`Invalid port name ${JSON.stringify(port)} for a brocade switch (rbridge/slot/port, e.g. "1/0/10")`);
    },
    capabilities: () => [],
    async openSession(sw: SwitchRecord<BrocadeParams>) {
      const p = sw.params;
      const scrub = (text: string) => scrubSecrets(text, p as Record<string, unknown>, params.secretFields);
      const rest = new VdxRest(p.hostname, p.username, p.password, { requestTimeoutMs: o.requestTimeoutMs, scrub });
      return new BrocadeSession(rest, p, o);
    },
  };
}

/**
 * Sessionless on the switch's side (each request authenticates); the
 * session is the conversation: it ends after a request that timed out, or
 * when closed (which aborts a request in flight: an abandoned batch sends
 * nothing more).
 */
export class BrocadeSession implements SwitchSession {
  readonly #rest: VdxRest;
  readonly #p: BrocadeParams;
  readonly #o: BrocadeDriverOptions;
  /** VLANs known to exist on the switch (created or found by this session). */
  readonly #vlans = new Set<number>();

  constructor(rest: VdxRest, p: BrocadeParams, o: BrocadeDriverOptions) {
    this.#rest = rest;
    this.#p = p;
    this.#o = o;
  }

  #interface(port: string): string {
    return `/rest/config/running/interface/${this.#p.interface_type}/%22${port}%22`;
  }

  async #read(port: string): Promise<VdxPortConfig> {
    const { doc } = await this.#rest.request({ method: 'GET', path: this.#interface(port), depth: INTERFACE_DEPTH, about: `port ${port}` });
    if (!doc) throw new SwitchError(`Brocade VDX (port ${port}): GET ${this.#interface(port)} answered without a document`);
    return readInterface(doc);
  }

  async getPortNetworks(ports: string[]): Promise<Map<string, PortNetwork[]>> {
    const out = new Map<string, PortNetwork[]>();
    for (const port of ports) {
      const f = forwards(await this.#read(port));
      out.set(port, [...asPortNetworks(f.vlans), ...(f.all ? [TRUNK_ALL] : [])]);
    }
    return out;
  }

  modifyPort(port: string, channel: string, networkId: string | null): Promise<void> {
    return this.applyBatch([{ op: 'modify', port, channel, networkId }]);
  }

  revertPort(port: string): Promise<void> {
    return this.applyBatch([{ op: 'revert', port }]);
  }

  /**
   * Reads every port first (a port the switch lacks fails the batch before
   * anything changes), computes each port's final VLANs, creates the VLANs
   * they need (an invalid VLAN fails the batch before any port changes),
   * writes each port, reads them back, and saves.
   */
  async applyBatch(changes: PortChange[]): Promise<void> {
    const ports = [...new Set(changes.map((c) => c.port))];
    const configs = new Map<string, VdxPortConfig>();
    for (const port of ports) configs.set(port, await this.#read(port));
    const wants = new Map<string, PortVlans>();
    for (const port of ports) {
      let v = forwards(configs.get(port)!).vlans;
      for (const c of changes) if (c.port === port) v = applyChange(v, c);
      refuseNativeless(port, v);
      wants.set(port, v);
    }
    const needed = new Set<number>();
    for (const [port, want] of wants) {
      const now = forwards(configs.get(port)!).vlans;
      for (const v of [want.native, ...want.tagged]) if (v !== null && v !== now.native && !now.tagged.includes(v)) needed.add(v);
    }
    for (const v of [...needed].sort((a, b) => a - b)) await this.#ensureVlan(v);

    const changed: string[] = [];
    for (const port of ports) {
      const plan = planPort(configs.get(port)!, wants.get(port)!);
      if (!plan.length) continue;
      changed.push(port);
      for (const r of plan) await this.#rest.request({ method: r.method, path: this.#interface(port) + r.suffix, body: r.body, already: r.already, about: `port ${port}` });
    }
    for (const port of changed) {
      const got = forwards(await this.#read(port));
      const want = wants.get(port)!;
      if (got.all || !sameVlans(got.vlans, want)) {
        throw new SwitchError(`Brocade VDX (port ${port}): after the change the port forwards ${describe(got.vlans, got.all)}, not ${describe(want, false)} as asked`);
      }
    }
    // Saved even when every port already was as asked: an earlier, failed
    // batch (or session) may have written it without saving, and the
    // worker retries it change by change; Network OS cannot tell cheaply
    // whether running and startup differ.
    if (changes.length && this.#p.save !== false) await this.#save();
  }

  async #ensureVlan(vlan: number): Promise<void> {
    if (this.#vlans.has(vlan)) return;
    await this.#rest.request({ method: 'POST', path: '/rest/config/running/interface', body: el('Vlan', el('name', String(vlan))).xml, already: 'exists', about: `VLAN ${vlan}` });
    this.#vlans.add(vlan);
  }

  /** `copy running-config startup-config`: the bna-config-cmd RPC starts the copy; its status is polled until it ends. */
  async #save(): Promise<void> {
    const deadline = Date.now() + (this.#o.saveTimeoutMs ?? 120000);
    const about = 'saving the configuration';
    const started = await this.#rest.request({ method: 'POST', path: '/rest/operations/bna-config-cmd', body: el('bna-config-cmd', el('src', 'running-config'), el('dest', 'startup-config')).xml, about });
    const session = find(started.doc, 'session-id')?.text.trim();
    let status = find(started.doc, 'status')?.text.trim();
    let said = find(started.doc, 'status-string')?.text.trim();
    while (status === 'in-progress' && session) {
      if (Date.now() > deadline) throw new SwitchError(`Brocade VDX (${about}): the copy of the running configuration did not finish within ${this.#o.saveTimeoutMs ?? 120000} ms`);
      await this.#rest.pause(this.#o.savePollMs ?? 250, about);
      const polled = await this.#rest.request({ method: 'POST', path: '/rest/operations/bna-config-cmd-status', body: el('bna-config-cmd-status', el('session-id', session)).xml, about });
      status = find(polled.doc, 'status')?.text.trim();
      said = find(polled.doc, 'status-string')?.text.trim();
    }
    if (status !== 'completed') throw new SwitchError(`Brocade VDX (${about}): copy running-config startup-config ended ${status ?? 'without a status'}${said ? `: ${said}` : ''}`);
  }

  /** Aborts the request in flight (the worker gave up on the batch); nothing more is sent on this session. */
  async close(): Promise<void> {
    this.#rest.close();
  }
}

function describe(v: PortVlans, all: boolean): string {
  const parts = [v.native === null ? 'no native VLAN' : `native VLAN ${v.native}`, v.tagged.length ? `tagged ${v.tagged.join(',')}` : 'no tagged VLANs'];
  if (all) parts.push('every VLAN (allowed vlan all)');
  return parts.join(', ');
}
