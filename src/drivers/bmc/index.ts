/**
 * The BMC types this server knows, by their registration `type`. Adding one:
 * a file exporting a BmcDriver (./interface.ts), one line in BMC_DRIVERS,
 * one row in the BMC contract suite.
 */
import { Catalog } from '../catalog.ts';
import { hilBmcDriver } from '../hil/bmc.ts';
import type { Upstream } from '../hil/upstream.ts';
import type { BmcDriver } from './interface.ts';
import { ipmiBmcDriver } from './ipmi/bmc.ts';
import { mockBmcDriver } from './mock.ts';
import { obmdBmcDriver } from './obmd.ts';
import { redfishBmcDriver } from './redfish/bmc.ts';

/** What BMC drivers may be built with. */
export interface BmcDriverContext {
  /** The OBM timeout: drivers stop their own work (an ipmitool run, a request) when the service gives up on it. */
  timeoutMs: number;
  /** A derived HIL's base (absent otherwise: no `hil` BMCs then). */
  upstream?: Upstream;
}

const BMC_DRIVERS: Array<(ctx: BmcDriverContext) => BmcDriver | undefined> = [
  () => mockBmcDriver(),
  (ctx) => ipmiBmcDriver({ timeoutMs: ctx.timeoutMs }),
  (ctx) => redfishBmcDriver({ requestTimeoutMs: ctx.timeoutMs }),
  () => obmdBmcDriver(),
  (ctx) => (ctx.upstream ? hilBmcDriver(ctx.upstream) : undefined),
];

export type BmcCatalog = Catalog<BmcDriver>;

/** `drivers` replaces the built-in list (tests that drive a BMC of their own). */
export function bmcCatalog(ctx: BmcDriverContext, drivers = BMC_DRIVERS.map((make) => make(ctx))): BmcCatalog {
  return new Catalog(drivers, { unknown: (name, known) => `${JSON.stringify(name)} is not a known OBM type (known: ${known.join(', ')}).` });
}
