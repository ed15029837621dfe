/**
 * Everything a HIL process does between requests, started and stopped in
 * one place: the networking worker and its wake-ups, the consoles of nodes
 * whose OBM is enabled, fast provisioning's tick and agent endpoint, a
 * derived HIL's pool policy, and tidying the image store.
 */
import type { Logger } from 'pino';
import type { Services } from '../api/services.ts';
import type { Settings } from '../config/settings.ts';
import type { PoolManager } from '../core/pool.service.ts';
import type { BlobStore } from '../images/blob-store.ts';
import { subscribe, type Subscription } from '../network/wakeup.ts';
import type { NetworkWorker } from '../network/worker.ts';
import type { Claims } from '../claims/claims.ts';
import type { ExportKeeper } from '../exports/keeper.ts';
import type { BootNetworkKeeper } from '../exports/boot-networks.ts';
import { startAgentServer, type AgentServer } from '../provisioning/agent-server.ts';
import type { Store } from '../store/db.ts';

/** Uploads cut short by a crash leave temporary files behind; a day is longer than any upload. */
const STALE_UPLOAD_MS = 24 * 3600 * 1000;

export interface BackgroundParts {
  settings: Settings;
  store: Store;
  log: Logger;
  services: Services;
  blobs: BlobStore;
  worker?: NetworkWorker;
  /** The disks' exports and snapshots, in a process that serves them. */
  exports?: ExportKeeper;
  /** The boot networks' DHCP, boot scripts and storage-host links, in a process that serves exports. */
  boot?: BootNetworkKeeper;
  claims: Claims;
  /** Headnodes' VMs and VPN endpoints, in a process that runs them. */
  keepers?: Array<{ start(): Promise<void>; stop(): Promise<void> } | undefined>;
  pool?: PoolManager;
  /** Whether this process serves the API (it then holds consoles, the pool policy and provisioning). */
  api: boolean;
}

export interface Background {
  /** What serves the API side (consoles, provisioning, the pool policy); before the HTTP server closes. */
  stopServing(): Promise<void>;
  /** The networking worker and its wake-ups; after the HTTP server closed. */
  stopWorking(): Promise<void>;
}

export async function startBackground(p: BackgroundParts): Promise<Background> {
  // Before any work: a dead predecessor's claims are found free on the first look.
  await p.claims.start();
  let subscription: Subscription | undefined;
  if (p.worker) {
    const worker = p.worker;
    // Listen first, then start (which scans the queue): an action committed
    // in between is then found by the scan or announced to the listener,
    // never missed until the safety poll (a loaded CI machine hit that).
    subscription = await subscribe(p.store, () => worker.kick());
    await worker.start();
  }
  // Exports come back (or move here from a dead process) before the API answers.
  await p.exports?.start();
  await p.boot?.start();
  for (const k of p.keepers ?? []) await k?.start();
  const stopWorking = async () => {
    for (const k of p.keepers ?? []) await k?.stop();
    await subscription?.close();
    await p.worker?.stop(p.settings.shutdownGraceMs);
    await p.boot?.stop();
    await p.exports?.stop();
    await p.claims.stop(); // released, not left to expire: others take over at once
  };
  if (!p.api) return { stopServing: async () => {}, stopWorking };

  // Consoles of OBM-enabled nodes nobody holds (at start, or after their holder died) are taken here.
  await p.services.obm.reconcileConsoles();
  const consoles = setInterval(
    () => void p.services.obm.reconcileConsoles().catch((err: Error) => p.log.warn({ err: err.message }, 'consoles: reconcile failed')),
    p.settings.claims.heartbeatMs,
  );
  void p.blobs.removeStaleTemporaries(STALE_UPLOAD_MS).catch((err: Error) => p.log.warn({ err: err.message }, 'could not clean the image store'));

  // A derived HIL keeps its pool within its policy, also between requests.
  const u = p.settings.upstream;
  const pool = p.pool;
  const rebalancing = pool && u && u.rebalanceMs > 0 && (u.minFree > 0 || u.maxFree !== undefined) ? setInterval(() => void pool.rebalance(), u.rebalanceMs) : undefined;
  if (rebalancing) void pool!.rebalance();

  let agentServer: AgentServer | undefined;
  const provisioning = p.services.provisioning;
  if (provisioning) {
    agentServer = await startAgentServer(provisioning, { listen: p.settings.provisioning!.listen, blobPath: (sha) => p.blobs.path(sha), log: p.log });
    provisioning.start();
  }

  return {
    async stopServing() {
      clearInterval(rebalancing);
      clearInterval(consoles);
      await provisioning?.stop();
      await agentServer?.close();
      await p.services.obm.close(); // ends console streams (which would keep the server from closing) and lets others take the consoles
    },
    stopWorking,
  };
}
