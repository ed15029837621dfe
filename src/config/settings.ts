/**
 * The configuration as the program uses it, computed once: durations in
 * milliseconds, sizes in bytes, paths resolved, optional parts present only
 * when configured. Nothing else converts units.
 */
import { headnodeSettings, slash24s, vpnSettings, type HeadnodeSettings, type VpnSettings } from './headnode-settings.ts';
import { databaseUrl, disksDir, exportsRunDir, fpblDir, imagesDir, parseListen } from './config.ts';
import type { Config } from './schema.ts';
import type { UpstreamConnection } from '../drivers/hil/upstream.ts';
import type { KeystoneSettings, OidcSettings } from '../drivers/auth/settings.ts';
import { ConfigError } from '../errors.ts';

/** A derived HIL's base (how to reach it) and its pool policy. */
export interface UpstreamSettings extends UpstreamConnection {
  minFree: number;
  maxFree?: number;
  onDemand: boolean;
  /** 0: only after allocations and releases. */
  rebalanceMs: number;
}

export interface ProvisioningSettings {
  url: string;
  network: string;
  listen: string;
  fpblDir: string;
  bootTimeoutMs: number;
  deployTimeoutMs: number;
  returnTimeoutMs: number;
  wipeTimeoutMs: number;
  networkTimeoutMs: number;
  tickMs: number;
  prefetchBytes: number;
}

export interface Settings {
  databaseUrl: string;
  listen: { host: string; port: number };
  /** How long in-flight requests may run on after SIGTERM/SIGINT. */
  shutdownGraceMs: number;
  /** GET /metrics: whether it needs an administrator, and its own listener (absent: the API port serves it). */
  metrics: { requireAuth: boolean; listen?: { host: string; port: number } };
  auth: {
    backend: string;
    requireAuthentication: boolean;
    cacheMs: number;
    refreshMs: number;
    /** Present when the backend is keystone. */
    keystone?: KeystoneSettings;
    /** Present when the backend is oidc. */
    oidc?: OidcSettings;
  };
  network: { allocator: string; vlans: string };
  worker: { actionTimeoutMs: number; maxAttempts: number; retryBackoffMs: number; switchConcurrency: number; pollMs: number; batchLingerMs: number };
  obm: { timeoutMs: number; maxConcurrent: number; retries: number; consoleLogBytes: number };
  claims: { ttlMs: number; heartbeatMs: number; advertiseUrl?: string };
  maintenance?: { project: string; url: string };
  /** Per project; absent: no limit. */
  quotas: { networksPerProject?: number; nodesPerProject?: number };
  images: {
    dir: string;
    maxFileBytes: number;
    maxDiskBytes: number;
    maxVirtualBytes: number;
    backend: 'local' | 'rbd';
    disksDir: string;
    rbd: { pool: string; conf: string; id: string };
    timeoutMs: number;
  };
  exports: ExportSettings;
  upstream?: UpstreamSettings;
  provisioning?: ProvisioningSettings;
  headnode?: HeadnodeSettings;
  vpn?: VpnSettings;
}

export interface ExportSettings {
  /** Whether this process serves exports (with its networking worker). */
  enabled: boolean;
  address: string;
  advertiseAddress: string;
  ports: { first: number; last: number };
  runDir: string;
  boot?: BootSettings;
}

/** How the storage host's per-boot-network links are made (LinkSettings in src/exports/boot-links.ts, which the layers keep from importing this). */
export type LinkSettings = { kind: 'vlan'; interface: string } | { kind: 'ovs'; interface: string; bridge: string; ovsdb: string; netns?: string };

/** `[exports.boot]`: where diskless nodes' boot networks come from. */
export interface BootSettings {
  /** The first /24 of the range, as a 32-bit number, and how many /24s it holds. */
  subnets: { first: number; count: number };
  node: string;
  nic: string;
  httpPort: number;
  links: LinkSettings;
}

const seconds = (s: number) => Math.round(s * 1000);

function claimSettings(cfg: Config): Settings['claims'] {
  const c = cfg.claims;
  const ttlMs = seconds(c.ttl_seconds);
  // A claim must survive one missed heartbeat, or a busy moment loses it.
  if (c.heartbeat_ms * 2 > ttlMs) throw new ConfigError(`claims.heartbeat_ms (${c.heartbeat_ms}) must be at most half of claims.ttl_seconds (${c.ttl_seconds} s)`);
  return { ttlMs, heartbeatMs: c.heartbeat_ms, advertiseUrl: c.advertise_url };
}

function exportSettings(cfg: Config): ExportSettings {
  const e = cfg.exports;
  const [first, last] = e.ports.split('-').map(Number) as [number, number];
  if (first < 1 || last > 65535 || first > last) throw new ConfigError(`exports.ports "${e.ports}" must be first-last within 1-65535, first <= last`);
  const boot = e.boot && { subnets: bootSubnets(e.boot.subnets), node: e.boot.node, nic: e.boot.nic, httpPort: e.boot.http_port, links: bootLinks(e.boot) };
  return { enabled: e.enabled, address: e.address, advertiseAddress: e.advertise_address ?? e.address, ports: { first, last }, runDir: exportsRunDir(cfg), boot };
}

function bootLinks(b: NonNullable<Config['exports']['boot']>): LinkSettings {
  if (b.links === 'vlan') return { kind: 'vlan', interface: b.interface };
  if (!b.ovs_bridge || !b.ovsdb) throw new ConfigError('exports.boot.links "ovs" needs exports.boot.ovs_bridge and exports.boot.ovsdb');
  return { kind: 'ovs', interface: b.interface, bridge: b.ovs_bridge, ovsdb: b.ovsdb, netns: b.ovs_netns };
}

function bootSubnets(cidr: string): BootSettings['subnets'] {
  return slash24s('exports.boot.subnets', cidr);
}

function upstreamSettings(cfg: Config): UpstreamSettings | undefined {
  const u = cfg.upstream;
  // loadConfig checked that the credentials are complete: a password, or the three oidc_ keys.
  if (u.endpoint === undefined || u.project === undefined) return undefined;
  const credentials: UpstreamConnection['credentials'] =
    u.oidc_issuer !== undefined
      ? { oidc: { issuer: u.oidc_issuer, clientId: u.oidc_client_id!, clientSecret: u.oidc_client_secret!, resource: u.oidc_resource } }
      : { username: u.username!, password: u.password! };
  return {
    endpoint: u.endpoint,
    credentials,
    project: u.project,
    timeoutMs: seconds(u.timeout_seconds),
    minFree: u.min_free,
    maxFree: u.max_free,
    onDemand: u.on_demand,
    rebalanceMs: seconds(u.rebalance_seconds),
  };
}

function keystoneSettings(cfg: Config): KeystoneSettings {
  const k = cfg.keystone;
  return {
    // loadConfig refused a keystone backend without these three.
    url: k.url!.replace(/\/+$/, ''),
    service: { username: k.username!, password: k.password!, userDomain: k.user_domain, project: k.project, projectDomain: k.project_domain },
    projectMapping: k.project_mapping,
    admin: { role: k.admin_role, project: k.admin_project, projectDomain: k.admin_project_domain },
    timeoutMs: seconds(k.timeout_seconds),
  };
}

function oidcSettings(cfg: Config): OidcSettings {
  const o = cfg.oidc;
  return {
    issuer: o.issuer!,
    audience: o.audience!,
    algorithms: [...o.algorithms],
    claims: { username: o.username_claim, projects: o.projects_claim, projectPrefix: o.project_prefix, roles: o.roles_claim },
    adminRole: o.admin_role,
    clockToleranceSeconds: o.clock_tolerance_seconds,
    tokenType: o.token_type,
    jwksCooldownMs: seconds(o.jwks_cooldown_seconds),
    jwksMaxAgeMs: seconds(o.jwks_max_age_seconds),
    timeoutMs: seconds(o.timeout_seconds),
  };
}

export function settingsFrom(cfg: Config): Settings {
  const { auth, worker: w, obm, maintenance: m, provisioning: pv } = cfg;
  return {
    databaseUrl: databaseUrl(cfg),
    listen: parseListen(cfg.server.listen),
    shutdownGraceMs: seconds(cfg.server.shutdown_grace_seconds),
    metrics: { requireAuth: cfg.metrics.require_auth, listen: cfg.metrics.listen === undefined ? undefined : parseListen(cfg.metrics.listen) },
    auth: {
      backend: auth.backend,
      requireAuthentication: auth.require_authentication,
      cacheMs: seconds(auth.cache_seconds),
      refreshMs: auth.refresh_ms,
      keystone: auth.backend === 'keystone' ? keystoneSettings(cfg) : undefined,
      oidc: auth.backend === 'oidc' ? oidcSettings(cfg) : undefined,
    },
    network: { allocator: cfg.network.allocator, vlans: cfg.network.vlans },
    worker: {
      actionTimeoutMs: seconds(w.action_timeout_seconds),
      maxAttempts: w.max_attempts,
      retryBackoffMs: w.retry_backoff_ms,
      switchConcurrency: w.switch_concurrency,
      pollMs: w.poll_ms,
      batchLingerMs: w.batch_linger_ms,
    },
    claims: claimSettings(cfg),
    obm: { timeoutMs: seconds(obm.timeout_seconds), maxConcurrent: obm.max_concurrent, retries: obm.retries, consoleLogBytes: obm.console_log_kib * 1024 },
    maintenance: m.project !== undefined && m.url !== undefined ? { project: m.project, url: m.url } : undefined,
    quotas: { networksPerProject: cfg.quotas.networks_per_project || undefined, nodesPerProject: cfg.quotas.nodes_per_project || undefined },
    images: {
      dir: imagesDir(cfg),
      maxFileBytes: cfg.images.max_file_mib * 1024 * 1024,
      maxDiskBytes: cfg.images.max_disk_mib * 1024 * 1024,
      maxVirtualBytes: cfg.images.max_virtual_gib * 2 ** 30,
      backend: cfg.images.backend,
      disksDir: disksDir(cfg),
      rbd: { ...cfg.images.rbd },
      timeoutMs: seconds(cfg.images.timeout_seconds),
    },
    exports: exportSettings(cfg),
    upstream: upstreamSettings(cfg),
    headnode: headnodeSettings(cfg),
    vpn: vpnSettings(cfg),
    provisioning:
      pv.enabled && pv.url !== undefined && pv.network !== undefined
        ? {
            url: pv.url,
            network: pv.network,
            listen: pv.listen,
            fpblDir: fpblDir(cfg),
            bootTimeoutMs: seconds(pv.boot_timeout_seconds),
            deployTimeoutMs: seconds(pv.deploy_timeout_seconds),
            returnTimeoutMs: seconds(pv.return_timeout_seconds),
            wipeTimeoutMs: seconds(pv.wipe_timeout_seconds),
            networkTimeoutMs: seconds(pv.network_timeout_seconds),
            tickMs: pv.tick_ms,
            prefetchBytes: pv.prefetch_mib * 1024 * 1024,
          }
        : undefined,
  };
}
