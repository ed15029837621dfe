/**
 * Makes headnodes' VMs match their rows (docs/headnodes.md "How it runs"),
 * in whichever process with `[headnode] run` holds a headnode's claim
 * (`headnode:<id>`): a VM is started for `power = on`, ended for `off`,
 * reset when `resets` moves, and its taps follow its hnics' networks.
 * Every process that runs headnodes runs a keeper; each heartbeat it takes
 * the headnodes that want to run and that nobody holds, and finds a VM that
 * kept running through a restart by its pid file. What nothing names any
 * more (a deleted headnode, a crash mid-delete) is ended and removed by the
 * sweep: its VM, its taps' switch ports, its files.
 */
import { readdirSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { heldBy, type Claim, type Claims } from '../claims/claims.ts';
import { ClaimKeeper } from '../claims/claim-keeper.ts';
import type { HeadnodeSettings } from '../config/headnode-settings.ts';
import type { Database, HeadnodeRow } from '../store/schema.ts';
import { HostSwitch } from './host-switch.ts';
import { readHeadnodeImage } from './image/build.ts';
import { removeVmFiles, resetVm, runningPid, startVm, stopVm } from './vm.ts';
import { tapName, TAP_PREFIX, vmDir } from './paths.ts';

export const headnodeClaim = (id: number) => `headnode:${id}`;

interface Hnic {
  id: number;
  label: string;
  mac: string;
  address: string | null;
  vlan: number | null;
}

export interface HeadnodeKeeperOptions {
  db: Kysely<Database>;
  claims: Claims;
  settings: HeadnodeSettings & { hostSwitch: NonNullable<HeadnodeSettings['hostSwitch']> };
  log: Logger;
  intervalMs: number;
}

export class HeadnodeKeeper extends ClaimKeeper<number> {
  readonly #o: HeadnodeKeeperOptions;
  readonly #switch: HostSwitch;
  /** What this process last did to each running VM: its taps' VLANs, the reset count it acted on. */
  readonly #applied = new Map<number, { vlans: Map<string, number | null>; resets: number }>();

  constructor(o: HeadnodeKeeperOptions) {
    super({ claims: o.claims, log: o.log, intervalMs: o.intervalMs, what: 'headnodes', resource: headnodeClaim });
    this.#o = o;
    this.#switch = new HostSwitch(o.settings.hostSwitch);
  }

  protected override taken(id: number): void {
    this.#applied.delete(id); // another process may have changed its taps meanwhile
  }

  protected async reconcile(): Promise<void> {
    const rows = await this.#o.db.selectFrom('headnode').selectAll().execute();
    for (const hn of rows) {
      try {
        await this.#tend(hn);
      } catch (err) {
        this.#o.log.warn({ headnode: hn.label, err: (err as Error).message }, 'headnodes: could not tend a headnode');
      }
    }
    const ids = new Set(rows.map((r) => r.id));
    for (const id of this.heldKeys()) if (!ids.has(id)) await this.letGo(id);
    await this.#sweep(new Set(rows.map((r) => r.uuid))).catch((err: Error) => this.#o.log.warn({ err: err.message }, 'headnodes: the sweep failed'));
  }

  async #tend(hn: HeadnodeRow): Promise<void> {
    const dir = vmDir(this.#o.settings.runDir, hn.uuid);
    if (hn.power === 'off' && hn.state === 'stopped' && runningPid(dir, hn.uuid) === null) {
      await this.letGo(hn.id); // nothing to do, nor to hold (no claim taken for every stopped headnode)
      return;
    }
    const claim = await this.claim(hn.id);
    if (!claim) return; // another process runs it
    if (hn.power === 'off') {
      if (runningPid(dir, hn.uuid) !== null || hn.state !== 'stopped') await this.#end(hn, claim);
      await this.letGo(hn.id);
      return;
    }
    const hnics = await this.#hnics(hn.id);
    const pid = runningPid(dir, hn.uuid);
    if (pid === null) {
      if (hn.state === 'failed') return; // until the tenant starts it again, once the cause is fixed
      await this.#boot(hn, hnics, claim);
      return;
    }
    const applied = this.#applied.get(hn.id) ?? { vlans: new Map(), resets: hn.resets };
    this.#applied.set(hn.id, applied);
    await this.#plugAll(hnics, applied.vlans, claim);
    if (applied.resets !== hn.resets) {
      await resetVm(dir, claim.signal);
      applied.resets = hn.resets;
      this.#o.log.info({ headnode: hn.label }, 'headnodes: reset');
    }
    if (hn.state !== 'running') await this.#record(claim, hn.id, { state: 'running', error: null, started: true });
  }

  async #boot(hn: HeadnodeRow, hnics: Hnic[], claim: Claim): Promise<void> {
    const s = this.#o.settings;
    try {
      if (hn.state !== 'starting') await this.#record(claim, hn.id, { state: 'starting', error: null });
      const image = readHeadnodeImage(`${s.imageDir}/${hn.base_img}`);
      const seed = {
        instanceId: hn.uuid,
        hostname: hn.label.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63),
        sshAuthorizedKeys: JSON.parse(hn.ssh_keys) as string[],
        interfaces: hnics.map((h) => ({ name: h.label, mac: h.mac, address: h.address ?? undefined })),
      };
      const nics = hnics.map((h) => ({ tap: tapName(h.id), mac: h.mac }));
      const pid = await startVm({ uuid: hn.uuid, dir: vmDir(s.runDir, hn.uuid), image, memoryMib: s.memoryMib, cpus: s.cpus, accel: s.accel, nics, seed, netns: s.hostSwitch.netns }, claim.signal);
      const vlans = new Map<string, number | null>();
      this.#applied.set(hn.id, { vlans, resets: hn.resets });
      await this.#plugAll(hnics, vlans, claim);
      await this.#record(claim, hn.id, { state: 'running', error: null, started: true });
      this.#o.log.info({ headnode: hn.label, pid }, 'headnodes: started');
    } catch (err) {
      await this.#record(claim, hn.id, { state: 'failed', error: tenantWords(err) });
      throw err;
    }
  }

  async #plugAll(hnics: Hnic[], applied: Map<string, number | null>, claim: Claim): Promise<void> {
    for (const h of hnics) {
      const tap = tapName(h.id);
      if (applied.has(tap) && applied.get(tap) === h.vlan) continue;
      if (!claim.valid) return;
      await this.#switch.plug(tap, h.vlan, claim.signal);
      applied.set(tap, h.vlan);
    }
  }

  async #end(hn: HeadnodeRow, claim: Claim): Promise<void> {
    await stopVm(vmDir(this.#o.settings.runDir, hn.uuid), hn.uuid, this.#o.settings.stopTimeoutMs);
    for (const h of await this.#hnics(hn.id)) await this.#switch.unplug(tapName(h.id));
    this.#applied.delete(hn.id);
    await this.#record(claim, hn.id, { state: 'stopped', error: null });
    this.#o.log.info({ headnode: hn.label }, 'headnodes: stopped');
  }

  /** VMs and switch ports of headnodes and hnics that no longer exist. */
  async #sweep(uuids: Set<string>): Promise<void> {
    const runDir = this.#o.settings.runDir;
    let dirs: string[] = [];
    try {
      dirs = readdirSync(runDir);
    } catch {
      // nothing was ever started here
    }
    for (const uuid of dirs) {
      if (uuids.has(uuid)) continue;
      // Asked again: a headnode created since this pass read the rows may be starting in another process here.
      if (await this.#o.db.selectFrom('headnode').select('id').where('uuid', '=', uuid).executeTakeFirst()) continue;
      await stopVm(vmDir(runDir, uuid), uuid, 0);
      removeVmFiles(vmDir(runDir, uuid));
      this.#o.log.info({ uuid }, 'headnodes: removed a deleted headnode’s VM and files');
    }
    const known = new Set((await this.#o.db.selectFrom('hnic').select('id').execute()).map((r) => tapName(r.id)));
    for (const port of await this.#switch.ports(TAP_PREFIX)) if (!known.has(port)) await this.#switch.unplug(port);
  }

  async #hnics(headnodeId: number): Promise<Hnic[]> {
    const rows = await this.#o.db
      .selectFrom('hnic')
      .leftJoin('network', 'network.id', 'hnic.network_id')
      .select(['hnic.id', 'hnic.label', 'hnic.mac', 'hnic.address', 'network.network_id as vlan'])
      .where('hnic.headnode_id', '=', headnodeId)
      .orderBy('hnic.id')
      .execute();
    return rows.map((r) => ({ ...r, vlan: r.vlan === null ? null : Number(r.vlan) }));
  }

  async #record(claim: Claim, id: number, fields: Partial<Pick<HeadnodeRow, 'state' | 'error' | 'started'>>): Promise<void> {
    await this.#o.db.updateTable('headnode').set(fields).where('id', '=', id).where(heldBy(claim)).execute();
  }
}

/** What a tenant reads of a failure: the tool's words, without the server's paths. */
function tenantWords(err: unknown): string {
  return (err as Error).message.replace(/(?:\/[\w.@:+-]+){2,}/g, '…').slice(0, 500);
}
