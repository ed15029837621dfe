/**
 * Long-running processes: the API server (with or without the in-process
 * networking worker) and the worker alone, each with the metrics listener
 * when metrics.listen is set. Both stop gracefully on SIGINT/SIGTERM
 * (Hil.close: requests in flight finish within server.shutdown_grace_seconds);
 * a second signal exits at once.
 */
import type { Logger } from 'pino';
import { parseListen, type Config } from '../config/config.ts';
import type { BmcDriver } from '../drivers/bmc/interface.ts';
import { createHil, type Hil } from './hil.ts';
import { listenError } from '../errors.ts';

/** `bmcDrivers` replaces the built-in BMC types (a test's own BMC, run in real server processes). */
export async function serveApi(config: Config, log: Logger, o: { worker: boolean; migrate: boolean; bmcDrivers?: BmcDriver[] }): Promise<Hil> {
  const hil = await createHil(config, { log, api: true, worker: o.worker, migrate: o.migrate, bmcDrivers: o.bmcDrivers });
  const { host, port } = parseListen(config.server.listen);
  await hil.app!.listen({ host, port }).catch((err: unknown) => {
    throw listenError('the API', `${host}:${port}`, '[server] listen or HIL_LISTEN', err);
  });
  log.info({ listen: `${host}:${port}`, database: hil.store.kind, worker: o.worker, auth: config.auth.backend }, 'hil API server listening');
  await listenOperations(hil, log);
  await warnIfNoAdmin(hil, log);
  stopOnSignal(hil, log);
  return hil;
}

export async function serveNetworks(config: Config, log: Logger, o: { bmcDrivers?: BmcDriver[] } = {}): Promise<Hil> {
  const hil = await createHil(config, { log, api: false, worker: true, bmcDrivers: o.bmcDrivers });
  log.info({ database: hil.store.kind }, 'hil networking worker running');
  await listenOperations(hil, log);
  stopOnSignal(hil, log);
  return hil;
}

async function listenOperations(hil: Hil, log: Logger): Promise<void> {
  const at = hil.settings.metrics.listen;
  if (!hil.operationsApp || !at) return;
  await hil.operationsApp.listen({ host: at.host, port: at.port }).catch((err: unknown) => {
    throw listenError('metrics and probes', `${at.host}:${at.port}`, '[metrics] listen or HIL_METRICS_LISTEN', err);
  });
  log.info({ listen: `${at.host}:${at.port}` }, 'hil metrics and probes listening');
}

async function warnIfNoAdmin(hil: Hil, log: Logger): Promise<void> {
  if (hil.config.auth.backend !== 'database') return;
  const anyAdmin = await hil.store.db.selectFrom('user').select('id').where('is_admin', '=', true).executeTakeFirst();
  if (!anyAdmin) {
    log.warn('no administrator exists yet; create one with: HIL_ADMIN_PASSWORD=<password> bin/hil-admin create-admin-user <name>');
  }
}

function stopOnSignal(hil: Hil, log: Logger): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now, without waiting');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, graceMs: hil.settings.shutdownGraceMs }, 'stopping');
    hil.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
