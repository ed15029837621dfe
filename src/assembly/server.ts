/**
 * Long-running processes: the API server (with or without the in-process
 * networking worker) and the worker alone. Both stop cleanly on SIGINT/SIGTERM.
 */
import type { Logger } from 'pino';
import { parseListen, type Config } from '../config/config.ts';
import type { BmcDriver } from '../drivers/bmc/interface.ts';
import { createHil, type Hil } from './hil.ts';

/** `bmcDrivers` replaces the built-in BMC types (a test's own BMC, run in real server processes). */
export async function serveApi(config: Config, log: Logger, o: { worker: boolean; migrate: boolean; bmcDrivers?: BmcDriver[] }): Promise<Hil> {
  const hil = await createHil(config, { log, api: true, worker: o.worker, migrate: o.migrate, bmcDrivers: o.bmcDrivers });
  const { host, port } = parseListen(config.server.listen);
  await hil.app!.listen({ host, port });
  log.info({ listen: `${host}:${port}`, database: hil.store.kind, worker: o.worker, auth: config.auth.backend }, 'hil API server listening');
  await warnIfNoAdmin(hil, log);
  stopOnSignal(hil, log);
  return hil;
}

export async function serveNetworks(config: Config, log: Logger, o: { bmcDrivers?: BmcDriver[] } = {}): Promise<Hil> {
  const hil = await createHil(config, { log, api: false, worker: true, bmcDrivers: o.bmcDrivers });
  log.info({ database: hil.store.kind }, 'hil networking worker running');
  stopOnSignal(hil, log);
  return hil;
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
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    hil.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}
