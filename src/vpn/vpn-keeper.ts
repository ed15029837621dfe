/**
 * Makes this host's WireGuard endpoints match the `vpn_network` and `vpn`
 * rows (docs/headnodes.md "VPN"), in the process with `[vpn] run` that holds
 * a network's claim (`vpn:<network id>`): an endpoint per network with
 * peers, exactly those peers, and nothing for a network without any. A
 * daemon that kept running through a restart is adopted (./host.ts); what
 * no row names any more (a revoked last VPN, a crash mid-teardown) is
 * swept: namespace, links, switch port, firewall rules, daemon — of the
 * endpoints this HIL recorded in its run_dir, never another's.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Claims } from '../claims/claims.ts';
import { ClaimKeeper } from '../claims/claim-keeper.ts';
import type { HostSwitchSettings } from '../config/headnode-settings.ts';
import type { Database } from '../store/schema.ts';
import { runTool } from '../util/run-tool.ts';
import { vpnAddresses, type VpnPlan } from './addresses.ts';
import { applyNetworkVpn, removeNetworkVpn, type SwitchPlace } from './host.ts';
import { listRecords, pidFileVlans } from './state.ts';

export const vpnClaim = (networkId: number) => `vpn:${networkId}`;

export interface VpnKeeperOptions {
  db: Kysely<Database>;
  claims: Claims;
  plan: VpnPlan;
  hostSwitch: HostSwitchSettings;
  stateDir: string;
  log: Logger;
  intervalMs: number;
}

export class VpnKeeper extends ClaimKeeper<number> {
  readonly #o: VpnKeeperOptions;
  /** What was last applied per network (its spec, as JSON): an unchanged one is not applied again. */
  readonly #applied = new Map<number, string>();
  #switch: SwitchPlace | undefined;

  constructor(o: VpnKeeperOptions) {
    super({ claims: o.claims, log: o.log, intervalMs: o.intervalMs, what: 'vpn', resource: vpnClaim });
    this.#o = o;
  }

  protected override taken(id: number): void {
    this.#applied.delete(id); // another process may have changed it meanwhile
  }

  async #place(): Promise<SwitchPlace> {
    if (this.#switch) return this.#switch;
    const s = this.#o.hostSwitch;
    const db = s.ovsdb ? [`--db=${s.ovsdb}`] : [];
    const datapath = await runTool('ovs-vsctl', [...db, '--timeout=20', 'get', 'bridge', s.bridge, 'datapath_type'], { timeoutMs: 30_000 });
    this.#switch = { ovsdb: s.ovsdb, netns: s.netns, netdevDatapath: datapath.trim().replace(/"/g, '') === 'netdev' };
    return this.#switch;
  }

  protected async reconcile(): Promise<void> {
    const db = this.#o.db;
    const endpoints = await db.selectFrom('vpn_network').innerJoin('network', 'network.id', 'vpn_network.network_id').selectAll('vpn_network').select('network.network_id as vlan').execute();
    const wanted = new Set<number>();
    for (const e of endpoints) {
      const vlan = Number(e.vlan);
      wanted.add(vlan);
      const claim = await this.claim(e.network_id);
      if (!claim) continue;
      const peers = await db.selectFrom('vpn').select(['public_key', 'host']).where('network_id', '=', e.network_id).orderBy('host').execute();
      const a = vpnAddresses(this.#o.plan, e.slot, e.lan_address);
      const spec = {
        vlan,
        bridge: this.#o.hostSwitch.bridge,
        slot: e.slot,
        lanAddress: e.lan_address,
        tunnelAddress: a.gateway,
        listenPort: a.listenPort,
        privateKey: e.private_key,
        peers: peers.map((p) => ({ publicKey: p.public_key, address: a.peer(p.host) })),
        stateDir: this.#o.stateDir,
        switch: await this.#place(),
      };
      const key = JSON.stringify(spec);
      if (this.#applied.get(e.network_id) === key || !claim.valid) continue;
      try {
        await applyNetworkVpn(spec);
        this.#applied.set(e.network_id, key);
        this.#o.log.info({ vlan, peers: peers.length, port: a.listenPort }, 'vpn: endpoint applied');
      } catch (err) {
        this.#o.log.warn({ vlan, err: (err as Error).message }, 'vpn: could not apply an endpoint');
      }
    }
    const ids = new Set(endpoints.map((e) => e.network_id));
    for (const id of this.heldKeys()) {
      if (ids.has(id)) continue;
      this.#applied.delete(id);
      await this.letGo(id);
    }
    // Only what this HIL made (its records and pid files, which outlive a crash): another HIL on the host, or a test, keeps its own.
    const ours = new Set([...listRecords(this.#o.stateDir).map((r) => r.vlan), ...pidFileVlans(this.#o.stateDir)]);
    for (const vlan of ours) {
      if (wanted.has(vlan)) continue;
      await removeNetworkVpn(vlan, this.#o.stateDir, await this.#place());
      this.#o.log.info({ vlan }, 'vpn: endpoint removed');
    }
  }
}
