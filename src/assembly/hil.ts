/**
 * Assembles a HIL from its configuration: the database, the drivers, the
 * use-cases, the HTTP app and what runs in the background (./background.ts).
 * A derived HIL (docs/recursive.md) is the same assembly with an upstream.
 */
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from '../api/app.ts';
import { consolePeersClient } from '../api/console-peers.ts';
import { Drain } from '../api/drain.ts';
import { buildOperationsApp, type OperationsAppOptions } from '../api/operations-app.ts';
import { buildServices, type Services } from '../api/services.ts';
import type { Config } from '../config/config.ts';
import { settingsFrom, type Settings } from '../config/settings.ts';
import { ConsoleHub } from '../core/console-hub.ts';
import type { CoreDeps } from '../core/context.ts';
import { poolManager, type PoolManager } from '../core/pool.service.ts';
import type { BmcDriver } from '../drivers/bmc/interface.ts';
import { webhookNotifier } from '../drivers/notify/webhook.ts';
import { BlobStore } from '../images/blob-store.ts';
import { DiskStorage, storagePrefix } from '../images/disk-storage.ts';
import { storageBackends } from '../drivers/storage/index.ts';
import { ExportKeeper } from '../exports/keeper.ts';
import { tenantAccess } from './tenant-access.ts';
import { bootKeeper } from './boot.ts';
import { instanceMetrics, type InstanceMetrics } from '../metrics/instance.ts';
import { notifier } from '../network/wakeup.ts';
import { NetworkWorker } from '../network/worker.ts';
import { Claims } from '../claims/claims.ts';
import { openStore, type Store } from '../store/db.ts';
import { migrate, pendingMigrations } from '../store/migrate.ts';
import { VERSION } from '../version.ts';
import { SchemaOutdatedError } from '../errors.ts';
import { startBackground } from './background.ts';
import { activeExtensions, buildDrivers, MIGRATION_SETS, type Drivers } from './drivers.ts';
import { readiness } from './readiness.ts';

export interface Hil extends Drivers {
  config: Config;
  settings: Settings;
  store: Store;
  deps: CoreDeps;
  services: Services;
  /** The image store's files. */
  blobs: BlobStore;
  /** Where disk images, disks and snapshots live. */
  storage: DiskStorage;
  /** The exports this process serves, when it runs a worker and exports are enabled. */
  exports?: ExportKeeper;
  /** The networking worker, when this process runs one. */
  worker?: NetworkWorker;
  /** This process's claims (switches it drains, consoles it holds, BMCs it drives). */
  claims: Claims;
  /** A derived HIL's pool manager (its nodes come from its base). */
  pool?: PoolManager;
  app?: FastifyInstance;
  /** The metrics listener (metrics.listen): /metrics and the probes; ./server.ts listens on it. */
  operationsApp?: FastifyInstance;
  /** This HIL's own metrics (the process-wide ones: src/metrics/process.ts). */
  metrics: InstanceMetrics;
  /** Stops gracefully: new requests refused, those in flight finished (up to server.shutdown_grace_seconds), then the background, then the database. */
  close(): Promise<void>;
}

export interface HilOptions {
  log: Logger;
  /** Build the HTTP app (serve); false for the worker-only process. */
  api: boolean;
  worker: boolean;
  /** Apply migrations at start (tests, quick start); otherwise refuse an outdated schema. */
  migrate?: boolean;
  /** BMC drivers instead of the built-in ones (tests). */
  bmcDrivers?: BmcDriver[];
}

export { SchemaOutdatedError };

/** How the API authenticates, from the settings. */
function authOptions(settings: Settings) {
  return { requireAuthentication: settings.auth.requireAuthentication, keystoneProjectTable: settings.auth.keystone?.projectMapping === 'table' };
}

export async function createHil(config: Config, o: HilOptions): Promise<Hil> {
  const settings = settingsFrom(config);
  const store = openStore(settings.databaseUrl);
  try {
    return await assemble(config, settings, store, o);
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** Applies every migration (HIL's and its drivers') and fills the VLAN pool: `hil-admin db migrate`. */
export async function migrateDatabase(config: Config): Promise<string[]> {
  const settings = settingsFrom(config);
  const store = openStore(settings.databaseUrl);
  try {
    const applied = await migrate(store, MIGRATION_SETS);
    await buildDrivers(settings, store.db).allocator.populate(store.db);
    return applied;
  } finally {
    await store.close();
  }
}

async function assemble(config: Config, settings: Settings, store: Store, o: HilOptions): Promise<Hil> {
  if (o.migrate) await migrate(store, MIGRATION_SETS);
  const pending = await pendingMigrations(store, MIGRATION_SETS);
  if (pending.length) throw new SchemaOutdatedError(`The database schema is not up to date (pending: ${pending.join(', ')}); run "hil-admin db migrate".`);

  const drivers = buildDrivers(settings, store.db, { bmcDrivers: o.bmcDrivers, log: o.log });
  await drivers.allocator.populate(store.db);
  let worker: NetworkWorker | undefined;
  const claims = new Claims({
    store,
    log: o.log.child({ component: 'claims' }),
    role: [o.api && 'api', o.worker && 'worker'].filter(Boolean).join('+'),
    address: o.api ? advertisedUrl(settings) : undefined,
    ...settings.claims,
    // A dead process's switches may have work waiting: look now, not at the next poll.
    onChange: () => worker?.kick(),
  });
  if (o.worker) worker = new NetworkWorker({ db: store.db, switches: drivers.switches, log: o.log.child({ component: 'networking-worker' }), claims, onSettled: () => services.provisioning?.kick(), ...settings.worker });
  const deps = coreDeps(settings, store, drivers, o.log, worker, claims);
  const pool = drivers.upstream ? poolManager(deps, drivers.upstream, settings.upstream!) : undefined;
  deps.nodeSupply = pool?.supply;
  const { blobs, storage, exports, boot, serviceOptions } = await storageParts(settings, store, claims, o, deps, drivers);
  const access = tenantAccess(settings, store, claims, o.log, o.worker);
  const services = buildServices(deps, { ...serviceOptions, provisioning: o.api ? settings.provisioning : undefined, ...access });
  const ops = operations(settings, store, drivers, o, worker, claims);
  const app = o.api
    ? await buildApp({
        services,
        auth: drivers.auth,
        ...authOptions(settings),
        log: o.log,
        extensions: () => activeExtensions(drivers),
        driverTypes: { switches: drivers.switches.all(), bmcs: drivers.bmcs.all() },
        version: VERSION,
        internalToken: claims.internalToken,
        drain: ops.drain,
        probes: { ...ops.probes, metrics: settings.metrics.listen ? undefined : ops.probes.metrics },
        metrics: ops.metrics,
      })
    : undefined;
  const operationsApp = settings.metrics.listen ? await buildOperationsApp({ ...ops.probes, version: VERSION, log: o.log }) : undefined;
  const background = await startBackground({ settings, store, log: o.log, services, blobs, worker, exports, boot, claims, pool, api: o.api, keepers: [access.headnodeKeeper, access.vpnKeeper] });
  ops.workerStarted();

  const log = o.log;
  return {
    ...drivers,
    config,
    settings,
    store,
    deps,
    services,
    blobs,
    storage,
    exports,
    worker,
    claims,
    pool,
    app,
    operationsApp,
    metrics: ops.metrics,
    async close() {
      ops.stop();
      log.info('stopping: consoles, fast provisioning and the pool policy');
      await background.stopServing();
      if (app) {
        log.info({ graceMs: settings.shutdownGraceMs }, 'stopping: the API server accepts no new connections and finishes the requests it has');
        await ops.drain.close(app, { graceMs: settings.shutdownGraceMs, log, name: 'the API server' });
      }
      if (worker) log.info('stopping: waiting for the networking worker to finish the switches it is working on');
      await background.stopWorking();
      if (operationsApp) {
        log.info('stopping: the metrics listener');
        await operationsApp.close();
      }
      log.info('stopping: closing the database');
      await store.close();
    },
  };
}

/** The image store's files, the storage backend for disk images and disks, and (in a process with a worker) the keeper of their exports. */
async function storageParts(settings: Settings, store: Store, claims: Claims, o: HilOptions, deps: CoreDeps, drivers: Drivers) {
  const blobs = new BlobStore(settings.images.dir, { maxFileBytes: settings.images.maxFileBytes });
  const backend = storageBackends.resolve(settings.images.backend).create(settings.images);
  const storage = new DiskStorage(backend, await storagePrefix(store.db), { timeoutMs: settings.images.timeoutMs, log: o.log.child({ component: 'storage' }) });
  const exports =
    o.worker && settings.exports.enabled
      ? new ExportKeeper({ db: store.db, claims, storage, exports: settings.exports, log: o.log.child({ component: 'exports' }), intervalMs: settings.claims.heartbeatMs })
      : undefined;
  const boot = exports && settings.exports.boot ? bootKeeper(settings, store, claims, o, deps, drivers, blobs) : undefined;
  const disksChanged = () => {
    exports?.kick();
    boot?.kick();
  };
  const serviceOptions = { blobs, storage, maxDiskBytes: settings.images.maxDiskBytes, maxVirtualBytes: settings.images.maxVirtualBytes, exports: settings.exports, disksChanged };
  return { blobs, storage, exports, boot, serviceOptions };
}

/** Where other HIL processes reach this one's API (for the console relay). */
function advertisedUrl(s: Settings): string {
  if (s.claims.advertiseUrl) return s.claims.advertiseUrl.replace(/\/+$/, '');
  const { host, port } = s.listen;
  const reachable = host === '0.0.0.0' || host === '::' ? hostname() : host.includes(':') ? `[${host}]` : host;
  return `http://${reachable}:${port}`;
}

/**
 * What the probes and /metrics of this HIL read, and its shutdown state:
 * once stop() is called, /healthz and /readyz say so and ../api/drain.ts
 * refuses new API requests.
 */
function operations(settings: Settings, store: Store, drivers: Drivers, o: HilOptions, worker: NetworkWorker | undefined, claims: Claims) {
  let stopping = false;
  let workerRunning = false;
  const isStopping = () => stopping;
  const metrics = instanceMetrics({
    db: store.db,
    poolStats: store.poolStats,
    warn: (what, err) => o.log.warn({ err: (err as Error).message }, `metrics: ${what} could not be read`),
  });
  const probes: Omit<OperationsAppOptions, 'version' | 'log'> = {
    stopping: isStopping,
    readiness: readiness({ store, migrations: MIGRATION_SETS, worker: worker && { running: () => workerRunning }, claims, stopping: isStopping, log: o.log }),
    metrics: { render: metrics.render, contentType: metrics.contentType, requireAuth: settings.metrics.requireAuth, auth: drivers.auth, observeRequest: metrics.observeRequest },
  };
  return {
    metrics,
    probes,
    drain: new Drain(isStopping),
    workerStarted: () => void (workerRunning = worker !== undefined),
    stop: () => {
      stopping = true;
      workerRunning = false;
    },
  };
}

function coreDeps(s: Settings, store: Store, d: Drivers, log: Logger, worker: NetworkWorker | undefined, claims: Claims): CoreDeps {
  const notifyOthers = notifier(store);
  return {
    db: store.db,
    allocator: d.allocator,
    switches: d.switches,
    bmcs: d.bmcs,
    obmTimeoutMs: s.obm.timeoutMs,
    obmConcurrency: s.obm.maxConcurrent,
    obmRetries: s.obm.retries,
    claims,
    consoles: new ConsoleHub({ logBytes: s.obm.consoleLogBytes, log }),
    consolePeers: consolePeersClient(),
    switchTimeoutMs: s.worker.actionTimeoutMs,
    quotas: s.quotas,
    maintenance: s.maintenance && { project: s.maintenance.project, notifier: webhookNotifier(s.maintenance.url, { timeoutMs: s.obm.timeoutMs, log }) },
    log,
    provisioningNetwork: s.provisioning?.network,
    usersChanged: (username) => d.auth.invalidate(username),
    // Wakes this process's worker at once, or tells the others' (PostgreSQL NOTIFY; SQLite's WAL watch needs nothing).
    actionsQueued: () => (worker ? worker.kick() : notifyOthers()),
  };
}
