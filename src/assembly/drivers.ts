/**
 * The drivers a HIL runs with, chosen from the catalogs by its settings: a
 * derived HIL (one with an upstream) gets the `hil` switch, BMC and
 * allocator besides the built-in ones.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Settings } from '../config/settings.ts';
import { allocators } from '../drivers/allocator/index.ts';
import type { NetworkAllocator } from '../drivers/allocator/interface.ts';
import { AUTH_MIGRATIONS, authBackends } from '../drivers/auth/index.ts';
import type { AuthBackend } from '../drivers/auth/interface.ts';
import { bmcCatalog, type BmcCatalog } from '../drivers/bmc/index.ts';
import type { BmcDriver } from '../drivers/bmc/interface.ts';
import { connectUpstream, type Upstream } from '../drivers/hil/upstream.ts';
import { SWITCH_MIGRATIONS, switchCatalog, type SwitchCatalog } from '../drivers/switch/index.ts';
import { CORE_MIGRATIONS, type MigrationSet } from '../store/migrate.ts';
import type { Database } from '../store/schema.ts';

export interface Drivers {
  /** A derived HIL's base; absent otherwise. */
  upstream?: Upstream;
  switches: SwitchCatalog;
  bmcs: BmcCatalog;
  allocator: NetworkAllocator;
  auth: AuthBackend;
}

/** Every schema: HIL's own, then what drivers keep in the database. */
export const MIGRATION_SETS: MigrationSet[] = [CORE_MIGRATIONS, ...SWITCH_MIGRATIONS, ...AUTH_MIGRATIONS];

export function buildDrivers(s: Settings, db: Kysely<Database>, o: { bmcDrivers?: BmcDriver[]; log?: Logger } = {}): Drivers {
  const upstream = s.upstream ? connectUpstream(s.upstream) : undefined;
  return {
    upstream,
    switches: switchCatalog({ db, upstream, log: o.log?.child({ component: 'switches' }) }),
    // A driver's own timeout stops a stuck ipmitool (or request) when the service gives up on it.
    bmcs: bmcCatalog({ timeoutMs: s.obm.timeoutMs, upstream }, o.bmcDrivers),
    allocator: allocators.resolve(s.network.allocator).create({ vlans: s.network.vlans, upstream }),
    auth: authBackends.resolve(s.auth.backend).create({
      db,
      cacheMs: s.auth.cacheMs,
      refreshMs: s.auth.refreshMs,
      keystone: s.auth.keystone,
      oidc: s.auth.oidc,
      log: o.log?.child({ component: 'auth' }),
    }),
  };
}

/** GET /v0/active_extensions: upstream's names for what is loaded (obmd is upstream's core, not an extension). */
export function activeExtensions(d: Drivers): string[] {
  const bmcs = d.bmcs.all().filter((b) => !b.delegate);
  return [d.auth.extensionName, d.allocator.extensionName, ...d.switches.all().map((x) => x.extensionName), ...bmcs.map((b) => `hil.ext.obm.${b.type}`)].sort();
}
