/**
 * A HIL server process for the chaos test: exactly what `hil-admin serve`
 * (`api`) and `hil-admin serve-networks` (`worker`) run
 * (src/assembly/server.ts), with the test's line BMC (./line-bmc-driver.ts)
 * among the BMC types, since the BMC must live outside the processes that
 * the test kills. The schema is migrated by the test beforehand.
 *
 *   node test/chaos/hil-process.ts api|worker CONFIG_FILE
 */
import { loadConfig } from '../../src/config/config.ts';
import { serveApi, serveNetworks } from '../../src/assembly/server.ts';
import { bmcCatalog } from '../../src/drivers/bmc/index.ts';
import { createLogger } from '../../src/util/log.ts';
import { lineBmcDriver } from './line-bmc-driver.ts';

const [role, file] = process.argv.slice(2);
if ((role !== 'api' && role !== 'worker') || !file) {
  console.error('usage: hil-process.ts api|worker CONFIG_FILE');
  process.exit(2);
}
const config = loadConfig({ file });
const log = createLogger(config.log.level);
const bmcDrivers = [...bmcCatalog({ timeoutMs: config.obm.timeout_seconds * 1000 }).all(), lineBmcDriver()];
if (role === 'api') await serveApi(config, log, { worker: config.server.worker, migrate: false, bmcDrivers });
else await serveNetworks(config, log, { bmcDrivers });
