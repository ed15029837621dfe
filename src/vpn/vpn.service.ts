/**
 * VPN access to a project network (docs/headnodes.md "VPN"): a WireGuard
 * peer of the network's endpoint, which runs in a namespace plugged into
 * the network's VLAN on this host's switch (./vpn-keeper.ts does that).
 * The calls change rows only. A network's endpoint (`vpn_network`: its
 * slot, address on the network and server key) comes with its first VPN
 * and goes with its last.
 *
 * The tenant either sends its public key (its private key never leaves its
 * laptop) or gets a key pair made here, whose private half is in this one
 * answer and stored nowhere.
 */
import { AuthorizationError, BadArgumentError, BlockedError, DuplicateError, NotFoundError, NotImplementedError } from '../errors.ts';
import { inTx, type CoreDeps, type Tx } from '../core/context.ts';
import { absentOrConflict, getNetwork, getProject, insertUnique } from '../core/lookup.ts';
import { hasProjectAccess, requireProjectAccess, type Principal } from '../core/principal.ts';
import { Service } from '../core/service.ts';
import { requireCidr, requireUsableNetwork } from '../core/tenant-networks.ts';
import type { VpnNetworkRow, VpnRow } from '../store/schema.ts';
import { generateKeyPair, isWireguardKey } from './keys.ts';
import { vpnAddresses, vpnPlan, type VpnPlan } from './addresses.ts';
import { renderClientConfig } from './client-config.ts';

export interface VpnOptions {
  plan: VpnPlan;
  /** A network's endpoint or its peers changed: its holder should look now. */
  changed(): void;
}

export interface VpnCreated extends VpnView {
  /** A wg-quick configuration for the tenant; holds the private key when it was made here. */
  config: string;
}

export interface VpnView {
  name: string;
  network: string;
  project: string;
  public_key: string;
  /** The peer's tunnel address. */
  address: string;
  endpoint: string;
  /** What the tunnel reaches: the network's subnet, as the endpoint's address on it says. */
  allowed_ips: string[];
}

export class VpnService extends Service {
  readonly #o: VpnOptions;

  constructor(deps: CoreDeps, o: VpnOptions | undefined) {
    super(deps);
    this.#o = o ?? { plan: vpnPlan({ endpointHost: '', ports: { first: 0, last: -1 }, tunnels: { first: 0, count: 0 }, defaultLanAddress: '' }), changed: () => {} };
  }

  async create(p: Principal, label: string, body: { network: string; project?: string; public_key?: string; address?: string }): Promise<VpnCreated> {
    if (this.#o.plan.slots === 0) throw new NotImplementedError('VPNs are not offered by this server (its configuration has no [vpn] section).');
    if (body.public_key !== undefined && !isWireguardKey(body.public_key)) throw new BadArgumentError('public_key is not a WireGuard public key (base64 of 32 bytes, as `wg pubkey` prints)');
    if (body.address !== undefined) requireCidr('address', body.address);
    const pair = body.public_key === undefined ? generateKeyPair() : undefined;
    const publicKey = body.public_key ?? pair!.publicKey;
    const view = await inTx(this.deps, async (tx) => {
      await absentOrConflict(tx.selectFrom('vpn').select('id').where('label', '=', label).executeTakeFirst(), `VPN "${label}" already exists.`);
      const net = await getNetwork(tx, body.network, 'update');
      const project = await this.#projectFor(tx, p, net, body.project);
      await requireUsableNetwork(tx, net, project.id, this.deps.provisioningNetwork);
      const endpoint = await this.#endpoint(tx, net.id, body.address);
      const taken = new Set((await tx.selectFrom('vpn').select('host').where('network_id', '=', net.id).execute()).map((r) => r.host));
      const host = [...Array(253).keys()].map((i) => i + 2).find((h) => !taken.has(h));
      if (host === undefined) throw new BlockedError(`Network ${net.label} has 253 VPNs, as many as its tunnel holds.`);
      await insertUnique(
        tx.insertInto('vpn').values({ label, network_id: net.id, project_id: project.id, public_key: publicKey, host, created_at: Date.now() }).execute(),
        `VPN "${label}" already exists, or that public key is already a VPN's.`,
      );
      return this.#view({ label, public_key: publicKey, host }, endpoint, net.label, project.label);
    });
    this.#o.changed();
    return { ...view, config: renderClientConfig({ privateKey: pair?.privateKey, address: view.address, serverPublicKey: await this.#serverKey(body.network), endpoint: view.endpoint, allowedIps: view.allowed_ips }) };
  }

  async delete(p: Principal, label: string): Promise<void> {
    await inTx(this.deps, async (tx) => {
      const vpn = await this.#get(tx, label);
      requireProjectAccess(p, vpn.project_id);
      await tx.deleteFrom('vpn').where('id', '=', vpn.id).execute();
      const left = await tx.selectFrom('vpn').select('id').where('network_id', '=', vpn.network_id).executeTakeFirst();
      // The endpoint goes with its last peer; its holder tears the namespace down when it sees that.
      if (!left) await tx.deleteFrom('vpn_network').where('network_id', '=', vpn.network_id).execute();
    });
    this.#o.changed();
  }

  async show(p: Principal, label: string): Promise<VpnView> {
    const db = this.deps.db;
    const vpn = await this.#get(db, label);
    requireProjectAccess(p, vpn.project_id);
    const endpoint = await db.selectFrom('vpn_network').selectAll().where('network_id', '=', vpn.network_id).executeTakeFirstOrThrow();
    const net = await db.selectFrom('network').select('label').where('id', '=', vpn.network_id).executeTakeFirstOrThrow();
    const project = await db.selectFrom('project').select('label').where('id', '=', vpn.project_id).executeTakeFirstOrThrow();
    return this.#view(vpn, endpoint, net.label, project.label);
  }

  /** The network's VPNs the caller may see (admins: all; others: their projects'), if it may see the network (as GET /network). */
  async list(p: Principal, network: string): Promise<string[]> {
    const db = this.deps.db;
    const net = await getNetwork(db, network);
    const access = await db.selectFrom('network_access').select('project_id').where('network_id', '=', net.id).execute();
    if (access.length && !access.some((a) => hasProjectAccess(p, a.project_id))) throw new AuthorizationError('You do not have access to this network.');
    const rows = await db.selectFrom('vpn').select(['label', 'project_id']).where('network_id', '=', net.id).orderBy('label').execute();
    return rows.filter((r) => hasProjectAccess(p, r.project_id)).map((r) => r.label);
  }

  /** The VPN's project: the one named, or the network's owner; the caller needs access to it. */
  async #projectFor(tx: Tx, p: Principal, net: { owner_id: number | null; label: string }, named: string | undefined) {
    if (named !== undefined) {
      const project = await getProject(tx, named);
      requireProjectAccess(p, project.id);
      return project;
    }
    if (net.owner_id === null) throw new BadArgumentError(`Network ${net.label} belongs to the administrators: say which project the VPN is for ("project").`);
    const project = await tx.selectFrom('project').selectAll().where('id', '=', net.owner_id).executeTakeFirstOrThrow();
    requireProjectAccess(p, project.id);
    return project;
  }

  /** The network's endpoint, made with its first VPN (a free slot, a server key). */
  async #endpoint(tx: Tx, networkId: number, address: string | undefined): Promise<VpnNetworkRow> {
    const found = await tx.selectFrom('vpn_network').selectAll().where('network_id', '=', networkId).executeTakeFirst();
    if (found) {
      if (address !== undefined && address !== found.lan_address) throw new DuplicateError(`The network's VPN endpoint already has the address ${found.lan_address} on it; leave "address" out or give that one.`);
      return found;
    }
    const taken = new Set((await tx.selectFrom('vpn_network').select('slot').execute()).map((r) => r.slot));
    const slot = [...Array(this.#o.plan.slots).keys()].find((s) => !taken.has(s));
    if (slot === undefined) throw new BlockedError(`Every VPN endpoint slot is in use (${this.#o.plan.slots}: [vpn] ports and tunnel_subnets).`);
    const keys = generateKeyPair();
    const row = { network_id: networkId, slot, lan_address: address ?? this.#o.plan.defaultLanAddress, private_key: keys.privateKey, public_key: keys.publicKey, created_at: Date.now() };
    await insertUnique(tx.insertInto('vpn_network').values(row).execute(), 'Another VPN endpoint took the same slot at once; try again.');
    return row;
  }

  async #serverKey(network: string): Promise<string> {
    const row = await this.deps.db.selectFrom('vpn_network').innerJoin('network', 'network.id', 'vpn_network.network_id').select('vpn_network.public_key').where('network.label', '=', network).executeTakeFirstOrThrow();
    return row.public_key;
  }

  async #get(tx: Tx, label: string): Promise<VpnRow> {
    const row = await tx.selectFrom('vpn').selectAll().where('label', '=', label).executeTakeFirst();
    if (!row) throw new NotFoundError(`VPN "${label}" does not exist.`);
    return row;
  }

  #view(vpn: Pick<VpnRow, 'label' | 'public_key' | 'host'>, endpoint: VpnNetworkRow, network: string, project: string): VpnView {
    const a = vpnAddresses(this.#o.plan, endpoint.slot, endpoint.lan_address);
    return { name: vpn.label, network, project, public_key: vpn.public_key, address: a.peer(vpn.host), endpoint: a.endpoint, allowed_ips: [a.lanSubnet] };
  }
}

export const vpnService = (deps: CoreDeps, o: VpnOptions | undefined) => new VpnService(deps, o);
