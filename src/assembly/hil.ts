/**
 * Assembles a HIL from its configuration: database, allocator, drivers,
 * auth, use-cases, HTTP app and (optionally) the networking worker.
 */
import { ConsoleHub } from '../core/console-hub.ts';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from '../api/app.ts';
import { buildServices, type Services } from '../api/services.ts';
import { imagesDir } from '../config/config.ts';
import { BlobStore } from '../images/blob-store.ts';
import { databaseUrl, fpblDir, type Config } from '../config/config.ts';
import { startAgentServer, type AgentServer } from '../provisioning/agent-server.ts';
import type { ProvisioningOptions } from '../provisioning/provisioning.service.ts';
import type { CoreDeps } from '../core/context.ts';
import type { AuthBackend } from '../drivers/auth/interface.ts';
import { databaseAuth } from '../drivers/auth/database.ts';
import { nullAuth } from '../drivers/auth/null.ts';
import { mockObmDriver } from '../drivers/bmc/mock.ts';
import { ipmiObmDriver } from '../drivers/bmc/ipmi.ts';
import { redfishObmDriver } from '../drivers/bmc/redfish.ts';
import { ObmRegistry } from '../drivers/bmc/index.ts';
import { mockSwitchDriver } from '../drivers/switch/mock.ts';
import { ovsSwitchDriver } from '../drivers/switch/ovs/switch.ts';
import { SwitchRegistry } from '../drivers/switch/index.ts';
import { nullAllocator } from '../drivers/allocator/null.ts';
import { hilUpstreamAllocator } from '../drivers/hil/allocator.ts';
import { hilSwitchDriver } from '../drivers/hil/switch.ts';
import { hilObmDriver } from '../drivers/hil/bmc.ts';
import { connectUpstream, type Upstream } from '../drivers/hil/upstream.ts';
import { poolManager, type PoolManager } from '../core/pool.service.ts';
import { vlanPoolAllocator } from '../drivers/allocator/vlan-pool.ts';
import type { NetworkAllocator } from '../drivers/allocator/interface.ts';
import { notifier, subscribe, type Subscription } from '../network/wakeup.ts';
import { NetworkWorker } from '../network/worker.ts';
import { openStore, type Store } from '../store/db.ts';
import { migrate, pendingMigrations } from '../store/migrate.ts';

import { VERSION } from '../version.ts';

export interface Hil {
  config: Config;
  store: Store;
  deps: CoreDeps;
  services: Services;
  auth: AuthBackend;
  switches: SwitchRegistry;
  obms: ObmRegistry;
  allocator: NetworkAllocator;
  /** The networking worker, when this process runs one. */
  worker?: NetworkWorker;
  /** A derived HIL's pool manager (its nodes come from its base). */
  pool?: PoolManager;
  app?: FastifyInstance;
  close(): Promise<void>;
}

export interface HilOptions {
  log: Logger;
  /** Build the HTTP app (serve); false for the worker-only process. */
  api: boolean;
  worker: boolean;
  /** Apply migrations at start (tests, quick start); otherwise refuse an outdated schema. */
  migrate?: boolean;
  /** Extra built-in OBM drivers (tests). */
  obmDrivers?: ConstructorParameters<typeof ObmRegistry>[0];
}

export class SchemaOutdatedError extends Error {}

function chooseAllocator(config: Config, upstream: Upstream | undefined): NetworkAllocator {
  switch (config.network.allocator) {
    case 'vlan_pool':
      return vlanPoolAllocator(config.network.vlans);
    case 'hil':
      return hilUpstreamAllocator(upstream!); // the config insists on an [upstream] for "hil"
    default:
      return nullAllocator();
  }
}

export async function createHil(config: Config, o: HilOptions): Promise<Hil> {
  const store = openStore(databaseUrl(config));
  try {
    return await assemble(config, o, store);
  } catch (err) {
    await store.close();
    throw err;
  }
}

async function assemble(config: Config, o: HilOptions, store: Store): Promise<Hil> {
  if (o.migrate) await migrate(store);
  const pending = await pendingMigrations(store);
  if (pending.length) {
    throw new SchemaOutdatedError(`The database schema is not up to date (pending: ${pending.join(', ')}); run "hil-admin db migrate".`);
  }

  // A derived HIL reaches its base through these (docs/recursive.md).
  const u0 = config.upstream;
  const upstream = u0.endpoint && u0.username && u0.password !== undefined && u0.project
    ? connectUpstream({ endpoint: u0.endpoint, username: u0.username, password: u0.password, project: u0.project, timeoutMs: u0.timeout_seconds * 1000 })
    : undefined;
  const allocator = chooseAllocator(config, upstream);
  await allocator.populate(store.db);
  const switches = new SwitchRegistry([mockSwitchDriver(store.db), ovsSwitchDriver(), ...(upstream ? [hilSwitchDriver(upstream)] : [])]);
  // The drivers' own timeout kills a stuck ipmitool when the service's timeout gives up on it.
  const obms = new ObmRegistry(o.obmDrivers ?? [
      mockObmDriver(),
      ipmiObmDriver({ timeoutMs: config.obm.timeout_seconds * 1000 }),
      redfishObmDriver({ requestTimeoutMs: config.obm.timeout_seconds * 1000 }),
      ...(upstream ? [hilObmDriver(upstream)] : []),
    ]);
  const auth = config.auth.backend === 'database' ? databaseAuth(store.db, { cacheSeconds: config.auth.cache_seconds, refreshMs: config.auth.refresh_ms }) : nullAuth();

  let worker: NetworkWorker | undefined;
  const notifyOthers = notifier(store);
  const deps: CoreDeps = {
    db: store.db,
    allocator,
    switches,
    obms,
    obmTimeoutMs: config.obm.timeout_seconds * 1000,
    obmConcurrency: config.obm.max_concurrent,
    obmRetries: config.obm.retries,
    consoles: new ConsoleHub({ logBytes: config.obm.console_log_kib * 1024, log: o.log }),
    switchTimeoutMs: config.worker.action_timeout_seconds * 1000,
    maintenance: config.maintenance.project && config.maintenance.url ? { project: config.maintenance.project, url: config.maintenance.url } : undefined,
    log: o.log,
    blobs: new BlobStore(imagesDir(config), { maxFileBytes: config.images.max_file_mib * 1024 * 1024 }),
    usersChanged: (username) => auth.invalidate(username),
    actionsQueued: () => {
      if (worker) worker.kick();
      else notifyOthers();
    },
  };
  const pool = upstream ? poolManager(deps, upstream, { minFree: config.upstream.min_free, maxFree: config.upstream.max_free, onDemand: config.upstream.on_demand }) : undefined;
  deps.nodeSupply = pool?.supply;
  const pv = config.provisioning;
  const provisioning: ProvisioningOptions | undefined =
    pv.enabled && o.api
      ? {
          url: pv.url!,
          network: pv.network!,
          fpblDir: fpblDir(config),
          bootTimeoutMs: pv.boot_timeout_seconds * 1000,
          deployTimeoutMs: pv.deploy_timeout_seconds * 1000,
          returnTimeoutMs: pv.return_timeout_seconds * 1000,
          wipeTimeoutMs: pv.wipe_timeout_seconds * 1000,
          networkTimeoutMs: pv.network_timeout_seconds * 1000,
          tickMs: pv.tick_ms,
        }
      : undefined;
  if (pv.enabled) deps.provisioningNetwork = pv.network;
  const services = buildServices(deps, { provisioning });

  let subscription: Subscription | undefined;
  if (o.worker) {
    const w = config.worker;
    worker = new NetworkWorker({
      db: store.db,
      switches,
      log: o.log.child({ component: 'networking-worker' }),
      actionTimeoutMs: w.action_timeout_seconds * 1000,
      maxAttempts: w.max_attempts,
      retryBackoffMs: w.retry_backoff_ms,
      switchConcurrency: w.switch_concurrency,
      pollMs: w.poll_ms,
      batchLingerMs: w.batch_linger_ms,
    });
    // Listen first, then start (which scans the queue): an action committed
    // in between is then found by the scan or announced to the listener,
    // never missed until the safety poll (a loaded CI machine hit that).
    subscription = await subscribe(store, () => worker!.kick());
    await worker.start();
  }

  const extensions = () =>
    [auth.extensionName, allocator.extensionName, ...switches.all().map((d) => d.extensionName), ...obms.types().map((t) => `hil.ext.obm.${t}`)].sort();

  const app = o.api
    ? await buildApp({ services, auth, requireAuthentication: config.auth.require_authentication, log: o.log, extensions, version: VERSION })
    : undefined;
  // The API process holds the consoles of nodes whose OBM is enabled.
  if (app) await services.obm.resumeConsoles();
  // Uploads cut short by a crash leave temporary files behind; a day is longer than any upload.
  if (app) void deps.blobs!.removeStaleTemporaries(24 * 3600 * 1000).catch((err: Error) => o.log.warn({ err: err.message }, 'could not clean the image store'));
  // ... and keeps a derived HIL's pool within its policy, also between requests.
  const u = config.upstream;
  const rebalancing =
    app && pool && u.rebalance_seconds > 0 && (u.min_free > 0 || u.max_free !== undefined)
      ? setInterval(() => void pool.rebalance(), u.rebalance_seconds * 1000)
      : undefined;
  if (rebalancing) void pool!.rebalance();
  // ... and, with fast provisioning, the nodes' agent endpoint and the state machine's tick.
  let agentServer: AgentServer | undefined;
  if (services.provisioning) {
    agentServer = await startAgentServer(services.provisioning, { listen: pv.listen, blobPath: (sha) => deps.blobs!.path(sha), log: o.log });
    services.provisioning.start();
  }

  return {
    config,
    store,
    deps,
    services,
    auth,
    switches,
    obms,
    allocator,
    worker,
    pool,
    app,
    async close() {
      clearInterval(rebalancing);
      await services.provisioning?.stop();
      await agentServer?.close();
      services.obm.close(); // ends console streams, which would keep the server from closing
      await app?.close();
      await subscription?.close();
      await worker?.stop();
      await store.close();
    },
  };
}
