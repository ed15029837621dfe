/**
 * The storage host's side of the boot networks (docs/images.md "Booting a
 * node from its disk"), done by the one process that holds the claim
 * `boot-networks` (every process that serves exports runs on the storage
 * host and tries to take it; a survivor takes over within the claim's TTL).
 * Each heartbeat, and when told, it makes what the database asks for true:
 *
 * - the storage host's NIC (`[exports.boot] node`/`nic`) is on every boot
 *   network that has nodes, tagged, and on nothing else: one networking
 *   action at a time, through the ordinary worker and switch drivers;
 * - the host has `<interface>.<vlan>` with the network's first address for
 *   each network the NIC is on, and no other `<interface>.*`;
 * - each of those networks has its DHCP (boot-dhcp.ts) and HTTP boot server
 *   (boot-http.ts);
 * - a boot network whose project has no diskless node any more is taken
 *   apart: the NIC leaves it, then the network and its row go.
 *
 * Every step is idempotent and looks at what is there now, so a restart
 * (or another process taking over) simply carries on.
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Claim, Claims } from '../claims/claims.ts';
import { insertAction } from '../core/action-queue.ts';
import { held } from '../core/lookup.ts';
import type { NetworkAllocator } from '../drivers/allocator/interface.ts';
import { BOOT_NETMASK, bootAddress, storageAddress } from '../disks/boot-addresses.ts';
import type { Database } from '../store/schema.ts';
import { Coalesced } from '../util/coalesced.ts';
import { BootDhcp } from './boot-dhcp.ts';
import { startBootHttp } from './boot-http.ts';
import { BootLinks, type LinkSettings } from './boot-links.ts';
import type { BootSubnets } from '../disks/boot-addresses.ts';
import { bootFilesOf, isDeployed } from './boot-scripts.ts';

export interface BootNetworkOptions {
  db: Kysely<Database>;
  claims: Claims;
  log: Logger;
  intervalMs: number;
  /** `[exports.boot]` (BootSettings in src/config/settings.ts). */
  boot: { subnets: BootSubnets; node: string; nic: string; httpPort: number; links: LinkSettings };
  /** Where each network's dnsmasq keeps its files, and the firewall its ruleset. */
  runDir: string;
  /** `[exports] ports`: a boot network's nodes may reach these (and DHCP, TFTP, HTTP) on its storage address. */
  exportPorts: { first: number; last: number };
  allocator: NetworkAllocator;
  /** The VLAN a HIL network is on (its id here, or its base network's VLAN in a derived HIL). */
  vlanOf(networkId: string): Promise<number>;
  /** Deletes a HIL network, as an administrator would. */
  deleteNetwork(label: string): Promise<void>;
  openBlob(sha256: string): Promise<NodeJS.ReadableStream & { destroy(): void }>;
  /** `[provisioning] listen` when fast provisioning is on: the boot servers relay returning nodes' reports there. */
  agentEndpoint?: string;
  actionsQueued(): void;
}

export const BOOT_CLAIM = 'boot-networks';

interface BootNet {
  id: number;
  label: string;
  networkId: number;
  /** The allocator's id (a VLAN, or a base network's name). */
  allocatorId: string;
  subnet: number;
  nodes: number;
}

/** What runs for one boot network here. */
interface Running {
  vlan: number;
  dhcp: BootDhcp;
  http: Server;
}

const STEP_TIMEOUT_MS = 30_000;

/** The storage host's IPv6 ULA on boot subnet k (only router advertisements use it). */
const ulaAddress = (subnet: number) => `fd48:494c:b007:${subnet.toString(16)}::1`;

export class BootNetworkKeeper {
  readonly #o: BootNetworkOptions;
  readonly #run: Coalesced;
  readonly #running = new Map<number, Running>();
  readonly #vlans = new Map<string, number>();
  readonly #links: BootLinks;
  #claim: Claim | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #warnedNoTrunk = false;

  constructor(o: BootNetworkOptions) {
    this.#o = o;
    this.#links = new BootLinks(o.boot.links);
    this.#run = new Coalesced(() => this.#reconcile(), { onError: (err) => o.log.warn({ err: (err as Error).message }, 'boot networks: reconcile failed') });
  }

  async start(): Promise<void> {
    this.#run.kick();
    await this.#run.settled();
    this.#timer = setInterval(() => this.#run.kick(), this.#o.intervalMs);
  }

  kick(): void {
    this.#run.kick();
  }

  settled(): Promise<void> {
    return this.#run.settled();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#run.stop();
    await this.#run.settled();
    for (const id of [...this.#running.keys()]) await this.#stopServices(id);
    await this.#claim?.release();
    this.#claim = undefined;
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    if (!this.#claim?.valid) {
      this.#claim = (await this.#o.claims.take(BOOT_CLAIM)) ?? undefined;
      if (!this.#claim) {
        for (const id of [...this.#running.keys()]) await this.#stopServices(id); // another process has them
        return;
      }
      this.#claim.signal.addEventListener('abort', () => this.#run.kick());
    }
    const nets = await this.#bootNetworks();
    const trunk = await this.#storageNic();
    this.#reportTrunk(trunk !== undefined, nets);
    // Without the storage NIC nothing is served, but boot networks nobody uses still go.
    const attached = trunk ? await this.#stepTrunk(trunk, nets) : new Set<number>();
    const live = nets.filter((n) => n.nodes > 0 && attached.has(n.networkId));
    await this.#makeLinks(live);
    for (const n of live) await this.#services(n);
    for (const id of [...this.#running.keys()]) if (!live.some((n) => n.id === id)) await this.#stopServices(id);
    await this.#retire(nets.filter((n) => n.nodes === 0 && !attached.has(n.networkId)));
  }

  /** Says once (not every heartbeat) that nodes wait for a storage NIC that is not registered. */
  #reportTrunk(found: boolean, nets: BootNet[]): void {
    const waiting = !found && nets.some((n) => n.nodes > 0);
    if (waiting && !this.#warnedNoTrunk) {
      this.#o.log.warn({ node: this.#o.boot.node, nic: this.#o.boot.nic }, 'boot networks: the storage host ([exports.boot] node and nic) is not registered with a cabled NIC; no diskless node can boot');
    }
    this.#warnedNoTrunk = waiting;
  }

  async #bootNetworks(): Promise<BootNet[]> {
    const rows = await this.#o.db
      .selectFrom('boot_network')
      .innerJoin('network', 'network.id', 'boot_network.network_id')
      .select((eb) => [
        'boot_network.id',
        'network.label',
        'boot_network.network_id as networkId',
        'network.network_id as allocatorId',
        'boot_network.subnet',
        eb.selectFrom('node_boot').select((e) => e.fn.countAll<number>().as('n')).whereRef('node_boot.boot_network_id', '=', 'boot_network.id').as('nodes'),
      ])
      .orderBy('boot_network.id')
      .execute();
    return rows.map((r) => ({ ...r, subnet: Number(r.subnet), nodes: Number(r.nodes ?? 0) }));
  }

  async #storageNic(): Promise<{ id: number } | undefined> {
    return this.#o.db
      .selectFrom('nic')
      .innerJoin('node', 'node.id', 'nic.node_id')
      .select('nic.id')
      .where('node.label', '=', this.#o.boot.node)
      .where('nic.label', '=', this.#o.boot.nic)
      .where('nic.port_id', 'is not', null)
      .executeTakeFirst();
  }

  /**
   * One step of putting the storage NIC on exactly the boot networks that
   * have nodes, tagged; answers the networks it is on now.
   */
  async #stepTrunk(nic: { id: number }, nets: BootNet[]): Promise<Set<number>> {
    const db = this.#o.db;
    const rows = await db.selectFrom('network_attachment').select(['network_id', 'channel']).where('nic_id', '=', nic.id).execute();
    const attached = new Set(rows.map((r) => Number(r.network_id)));
    const action = await db.selectFrom('networking_action').select(['id', 'status', 'error']).where('nic_id', '=', nic.id).executeTakeFirst();
    if (action?.status === 'PENDING') return attached;
    if (action?.status === 'ERROR') this.#o.log.warn({ err: action.error }, 'boot networks: moving the storage NIC failed; trying again');
    const wanted = new Set(nets.filter((n) => n.nodes > 0).map((n) => n.networkId));
    const missing = nets.find((n) => wanted.has(n.networkId) && !attached.has(n.networkId));
    const extra = rows.find((r) => !wanted.has(Number(r.network_id)));
    if (!missing && !extra) return attached;
    await db.transaction().execute(async (tx) => {
      if (action) await tx.deleteFrom('networking_action').where('id', '=', action.id).execute();
      if (missing) {
        const channel = this.#o.allocator.legalChannels(missing.allocatorId).find((c) => c !== this.#o.allocator.defaultChannel());
        if (!channel) throw new Error(`network ${missing.label} offers no tagged channel`);
        await insertAction(tx, { nicId: nic.id, type: 'modify_port', channel, newNetworkId: missing.networkId });
      } else if (extra) {
        await insertAction(tx, { nicId: nic.id, type: 'modify_port', channel: extra.channel, newNetworkId: null });
      }
    });
    this.#o.actionsQueued();
    return attached;
  }

  async #vlan(n: BootNet): Promise<number> {
    let vlan = this.#vlans.get(n.allocatorId);
    if (vlan === undefined) {
      vlan = await this.#o.vlanOf(n.allocatorId);
      this.#vlans.set(n.allocatorId, vlan);
    }
    return vlan;
  }

  /** Exactly the live networks' links (and the firewall that guards them) on this host. */
  async #makeLinks(live: BootNet[]): Promise<void> {
    const { subnets } = this.#o.boot;
    const wanted = [];
    for (const n of live) wanted.push({ vlan: await this.#vlan(n), address: storageAddress(subnets, n.subnet), broadcast: bootAddress(subnets, n.subnet, 255), ipv6: ulaAddress(n.subnet) });
    await this.#links.sync(wanted, { httpPort: this.#o.boot.httpPort, exportPorts: this.#o.exportPorts, dir: this.#o.runDir }, AbortSignal.timeout(STEP_TIMEOUT_MS));
  }

  async #services(n: BootNet): Promise<void> {
    const vlan = await this.#vlan(n);
    const hosts = await this.#hosts(n);
    const running = this.#running.get(n.id);
    if (running && running.vlan === vlan && running.dhcp.running) return running.dhcp.setHosts(hosts);
    if (running) await this.#stopServices(n.id);
    const server = storageAddress(this.#o.boot.subnets, n.subnet);
    const port = this.#o.boot.httpPort;
    const http = await startBootHttp({
      address: server,
      port,
      filesOf: (mac) => bootFilesOf(this.#o.db, n.id, mac, `http://${server}:${port}`),
      deployed: (mac) => isDeployed(this.#o.db, n.id, mac),
      agentEndpoint: this.#o.agentEndpoint,
      open: (sha) => this.#o.openBlob(sha),
      onError: (err) => this.#o.log.warn({ network: n.label, err: err.message }, 'boot networks: the boot server failed a request'),
    });
    const dhcp = await BootDhcp.start(
      { ifname: this.#links.name(vlan), server, network: bootAddress(this.#o.boot.subnets, n.subnet, 0), netmask: BOOT_NETMASK, httpPort: port, dir: join(this.#o.runDir, `net-${n.id}`) },
      hosts,
    );
    this.#running.set(n.id, { vlan, dhcp, http });
    this.#o.log.info({ network: n.label, vlan, server }, 'boot networks: serving DHCP and boot scripts');
  }

  async #hosts(n: BootNet) {
    const rows = await this.#o.db.selectFrom('node_boot').innerJoin('nic', 'nic.id', 'node_boot.nic_id').select(['nic.macaddr', 'node_boot.host']).where('node_boot.boot_network_id', '=', n.id).orderBy('node_boot.host').execute();
    return rows.filter((r) => r.macaddr).map((r) => ({ mac: r.macaddr!.toLowerCase(), address: bootAddress(this.#o.boot.subnets, n.subnet, Number(r.host)) }));
  }

  async #stopServices(id: number): Promise<void> {
    const running = this.#running.get(id);
    if (!running) return;
    this.#running.delete(id);
    running.http.closeAllConnections();
    await new Promise<void>((resolve) => running.http.close(() => resolve()));
    await running.dhcp.stop();
  }

  /** Boot networks with no nodes and the storage NIC off them: the row goes (if still nodeless), then the network. */
  async #retire(nets: BootNet[]): Promise<void> {
    for (const n of nets) {
      const gone = await this.#o.db.transaction().execute(async (tx) => {
        // Locked as a node joining it locks it (boot-disk.service.ts): either it joins first and this sees it, or it finds the row gone.
        const row = await held(tx, tx.selectFrom('boot_network').select('id').where('id', '=', n.id), 'update').executeTakeFirst();
        if (!row) return false;
        const users = await tx.selectFrom('node_boot').select('node_id').where('boot_network_id', '=', n.id).executeTakeFirst();
        // A NIC still on it (a boot NIC's detach not applied yet) or an action under way: next time.
        const onIt = await tx.selectFrom('network_attachment').select('nic_id').where('network_id', '=', n.networkId).executeTakeFirst();
        const moving = await tx.selectFrom('networking_action').select('id').where('new_network_id', '=', n.networkId).where('status', '=', 'PENDING').executeTakeFirst();
        if (users || onIt || moving) return false;
        await tx.deleteFrom('boot_network').where('id', '=', n.id).execute();
        return true;
      });
      if (!gone) continue;
      try {
        await this.#o.deleteNetwork(n.label);
        this.#o.log.info({ network: n.label }, 'boot networks: removed a boot network no node uses');
      } catch (err) {
        // Kept as an admin-owned network: the project's next boot disk takes it back.
        this.#o.log.warn({ network: n.label, err: (err as Error).message }, 'boot networks: could not delete a boot network no node uses');
      }
    }
  }
}
