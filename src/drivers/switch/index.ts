/**
 * The switch models this server knows, by upstream type URL (or its short
 * name, "mock"). Adding one: a file implementing SwitchDriver
 * (./interface.ts), one line in SWITCH_DRIVERS, one row in the switch
 * contract suite.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
import { Catalog } from '../catalog.ts';
import type { Upstream } from '../hil/upstream.ts';
import { hilSwitchDriver } from '../hil/switch.ts';
import { TYPE_PREFIX, type SwitchDriver } from './interface.ts';
import { mockSwitchDriver } from './mock.ts';
import { MOCK_SWITCH_MIGRATIONS, type MockSwitchTables } from './mock-schema.ts';
import type { MigrationSet } from '../../store/migrate.ts';
import { ovsSwitchDriver } from './ovs/switch.ts';
import type { CliDriverContext, CliLog } from './cli/cli-driver.ts';
import { dbHostKeyStore, SWITCH_HOST_KEY_MIGRATIONS } from './cli/host-keys.ts';
import { nexusSwitchDriver } from './nexus.ts';
import { os10SwitchDriver } from './os10.ts';
import { powerconnectSwitchDriver } from './powerconnect.ts';
import { n3000SwitchDriver } from './n3000.ts';
import { brocadeSwitchDriver } from './brocade.ts';
import { dellNos9SwitchDriver } from './dellnos9.ts';

/** What switch drivers may be built with. */
export interface SwitchDriverContext {
  db: Kysely<Database>;
  /** A derived HIL's base (absent otherwise: no `hil` switches then). */
  upstream?: Upstream;
  /** Where drivers say what an admin should know (a host key seen for the first time, a session that broke). */
  log?: CliLog;
}

const quiet: CliLog = { info() {}, warn() {} };
/** The SSH CLI drivers' shared context: host keys recorded in HIL's database. */
const cli = (ctx: SwitchDriverContext): CliDriverContext => ({ hostKeys: dbHostKeyStore(ctx.db), log: ctx.log ?? quiet });

const SWITCH_DRIVERS: Array<(ctx: SwitchDriverContext) => SwitchDriver | undefined> = [
  (ctx) => mockSwitchDriver(ctx.db.withTables<MockSwitchTables>()),
  () => ovsSwitchDriver(),
  (ctx) => (ctx.upstream ? hilSwitchDriver(ctx.upstream) : undefined),
  (ctx) => nexusSwitchDriver(cli(ctx)),
  (ctx) => powerconnectSwitchDriver(cli(ctx)),
  (ctx) => n3000SwitchDriver(cli(ctx)),
  (ctx) => os10SwitchDriver(cli(ctx)),
  () => brocadeSwitchDriver(),
  () => dellNos9SwitchDriver(),
];

/** The schemas switch drivers keep in the database (applied with HIL's own). */
export const SWITCH_MIGRATIONS: MigrationSet[] = [MOCK_SWITCH_MIGRATIONS, SWITCH_HOST_KEY_MIGRATIONS];

export type SwitchCatalog = Catalog<SwitchDriver>;

export function switchCatalog(ctx: SwitchDriverContext, drivers = SWITCH_DRIVERS.map((make) => make(ctx))): SwitchCatalog {
  return new Catalog(drivers, {
    unknown: (name) => `${JSON.stringify(name)} is not a valid switch type.`,
    canonical: (name) => TYPE_PREFIX + name,
  });
}
