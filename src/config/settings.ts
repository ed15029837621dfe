/**
 * The configuration as the program uses it, computed once: durations in
 * milliseconds, sizes in bytes, paths resolved, optional parts present only
 * when configured. Nothing else converts units.
 */
import { databaseUrl, disksDir, exportsRunDir, fpblDir, imagesDir, parseListen } from './config.ts';
import type { Config } from './schema.ts';
import type { UpstreamConnection } from '../drivers/hil/upstream.ts';
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
}

export interface Settings {
  databaseUrl: string;
  listen: { host: string; port: number };
  /** How long in-flight requests may run on after SIGTERM/SIGINT. */
  shutdownGraceMs: number;
  /** GET /metrics: whether it needs an administrator, and its own listener (absent: the API port serves it). */
  metrics: { requireAuth: boolean; listen?: { host: string; port: number } };
  auth: { backend: string; requireAuthentication: boolean; cacheMs: number; refreshMs: number };
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
}

export interface ExportSettings {
  /** Whether this process serves exports (with its networking worker). */
  enabled: boolean;
  address: string;
  advertiseAddress: string;
  ports: { first: number; last: number };
  runDir: string;
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
  return { enabled: e.enabled, address: e.address, advertiseAddress: e.advertise_address ?? e.address, ports: { first, last }, runDir: exportsRunDir(cfg) };
}

export function settingsFrom(cfg: Config): Settings {
  const { auth, worker: w, obm, maintenance: m, upstream: u, provisioning: pv } = cfg;
  return {
    databaseUrl: databaseUrl(cfg),
    listen: parseListen(cfg.server.listen),
    shutdownGraceMs: seconds(cfg.server.shutdown_grace_seconds),
    metrics: { requireAuth: cfg.metrics.require_auth, listen: cfg.metrics.listen === undefined ? undefined : parseListen(cfg.metrics.listen) },
    auth: { backend: auth.backend, requireAuthentication: auth.require_authentication, cacheMs: seconds(auth.cache_seconds), refreshMs: auth.refresh_ms },
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
    upstream:
      u.endpoint !== undefined && u.username !== undefined && u.password !== undefined && u.project !== undefined
        ? {
            endpoint: u.endpoint,
            username: u.username,
            password: u.password,
            project: u.project,
            timeoutMs: seconds(u.timeout_seconds),
            minFree: u.min_free,
            maxFree: u.max_free,
            onDemand: u.on_demand,
            rebalanceMs: seconds(u.rebalance_seconds),
          }
        : undefined,
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
          }
        : undefined,
  };
}
