/**
 * Wires the boot networks' host side (src/exports/boot-networks.ts) into a
 * HIL process that serves exports with `[exports.boot]` configured.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Settings } from '../config/settings.ts';
import type { CoreDeps } from '../core/context.ts';
import { networkService } from '../core/network.service.ts';
import { admin } from '../core/principal.ts';
import type { Claims } from '../claims/claims.ts';
import { atBase, type Upstream } from '../drivers/hil/upstream.ts';
import { BootNetworkKeeper } from '../exports/boot-networks.ts';
import type { BlobStore } from '../images/blob-store.ts';
import type { Store } from '../store/db.ts';
import type { Drivers } from './drivers.ts';

/** The host side of the boot networks (src/exports/boot-networks.ts). */
export function bootKeeper(settings: Settings, store: Store, claims: Claims, o: { log: Logger }, deps: CoreDeps, drivers: Drivers, blobs: BlobStore): BootNetworkKeeper {
  const upstream = drivers.upstream;
  return new BootNetworkKeeper({
    db: store.db,
    claims,
    log: o.log.child({ component: 'boot-networks' }),
    intervalMs: settings.claims.heartbeatMs,
    boot: settings.exports.boot!,
    runDir: join(settings.exports.runDir, 'boot'),
    exportPorts: settings.exports.ports,
    allocator: drivers.allocator,
    // A derived HIL's network is a base network: its VLAN is the base's tagged channel.
    vlanOf: upstream ? (id) => baseVlan(upstream, id) : async (id) => Number(id),
    deleteNetwork: (label) => networkService(deps).delete(admin('hil-boot'), label),
    openBlob: (sha) => blobs.open(sha),
    actionsQueued: () => deps.actionsQueued(),
    // Every process reads the same configuration: where the provisioning endpoint listens, whichever process runs it.
    agentEndpoint: settings.provisioning?.listen,
  });
}

/** The VLAN of a base network, from its tagged channel ("vlan/<vid>"). */
async function baseVlan(upstream: Upstream, network: string): Promise<number> {
  const shown = await atBase(`showing network ${network}`, () => upstream.client.network.show(network));
  const vlan = shown.channels.map((c) => /^vlan\/(\d{1,4})$/.exec(c)?.[1]).find((v) => v !== undefined);
  if (vlan === undefined) throw new Error(`base network ${network} names no VLAN among its channels (${shown.channels.join(', ')})`);
  return Number(vlan);
}
