/**
 * Headnodes and VPNs (docs/headnodes.md): their use-cases' options and, in
 * a process that runs them (a worker process with `[headnode] run` /
 * `[vpn] run` and a `[host_switch]`), their keepers.
 */
import type { Logger } from 'pino';
import type { Claims } from '../claims/claims.ts';
import type { Settings } from '../config/settings.ts';
import type { Store } from '../store/db.ts';
import { HeadnodeKeeper } from '../headnodes/keeper.ts';
import type { HeadnodeOptions } from '../headnodes/headnode.service.ts';
import { vpnPlan } from '../vpn/addresses.ts';
import { VpnKeeper } from '../vpn/vpn-keeper.ts';
import type { VpnOptions } from '../vpn/vpn.service.ts';

export interface TenantAccess {
  headnodes: HeadnodeOptions;
  vpn?: VpnOptions;
  headnodeKeeper?: HeadnodeKeeper;
  vpnKeeper?: VpnKeeper;
}

export function tenantAccess(settings: Settings, store: Store, claims: Claims, log: Logger, worker: boolean): TenantAccess {
  const h = settings.headnode;
  const v = settings.vpn;
  const intervalMs = settings.claims.heartbeatMs;
  const hostSwitch = h?.hostSwitch ?? v?.hostSwitch;
  const headnodeKeeper =
    worker && h?.run && hostSwitch ? new HeadnodeKeeper({ db: store.db, claims, settings: { ...h, hostSwitch }, log: log.child({ component: 'headnodes' }), intervalMs }) : undefined;
  const plan = v && vpnPlan({ endpointHost: v.endpoint, ports: v.ports, tunnels: v.tunnels, defaultLanAddress: v.defaultLanAddress });
  const vpnKeeper =
    worker && plan && v.run && hostSwitch ? new VpnKeeper({ db: store.db, claims, plan, hostSwitch, stateDir: v.runDir, log: log.child({ component: 'vpn' }), intervalMs }) : undefined;
  return {
    headnodes: {
      baseImages: h?.baseImages ?? [],
      perProject: h?.perProject,
      runDir: h?.runDir ?? '/nonexistent',
      consoleLogBytes: settings.obm.consoleLogBytes,
      changed: () => headnodeKeeper?.kick(),
    },
    vpn: plan && { plan, changed: () => vpnKeeper?.kick() },
    headnodeKeeper,
    vpnKeeper,
  };
}
