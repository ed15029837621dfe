/**
 * Server configuration: defaults, then the config file (TOML), then the
 * environment variables of shared/DESIGN.md. Unknown keys are errors, so a
 * typo never silently falls back to a default.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { parseVlanRanges } from '../drivers/allocator/vlan-ranges.ts';

const Strict = { additionalProperties: false } as const;

const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        listen: Type.String(),
        /** Where the embedded SQLite database lives when no database URL is set. */
        data_dir: Type.String(),
        /** Run the networking worker inside `serve` (false: run `serve-networks`). */
        worker: Type.Boolean(),
      },
      Strict,
    ),
    database: Type.Object({ url: Type.Optional(Type.String()) }, Strict),
    auth: Type.Object(
      {
        backend: Type.Union([Type.Literal('database'), Type.Literal('null')]),
        require_authentication: Type.Boolean(),
        /** How long a verified username/password pair is trusted without rehashing. */
        cache_seconds: Type.Number({ minimum: 0, maximum: 3600 }),
        /** How long a cached caller's admin flag and projects are reused (changes through this process apply at once). */
        refresh_ms: Type.Integer({ minimum: 0, maximum: 60000 }),
      },
      Strict,
    ),
    network: Type.Object(
      {
        /** "hil": networks are networks of the upstream HIL (a derived HIL; set by [upstream]). */
        allocator: Type.Union([Type.Literal('vlan_pool'), Type.Literal('null'), Type.Literal('hil')]),
        /** e.g. "1001-1040" or "14,35-40,100-900" */
        vlans: Type.String(),
      },
      Strict,
    ),
    worker: Type.Object(
      {
        /** A switch call that takes longer than this fails the action. */
        action_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
        /** Tries per action before it ends ERROR (1 = no retry). */
        max_attempts: Type.Integer({ minimum: 1, maximum: 10 }),
        /** Delay before the first retry; doubles each time. */
        retry_backoff_ms: Type.Integer({ minimum: 0, maximum: 600000 }),
        /** Switches worked on at the same time. */
        switch_concurrency: Type.Integer({ minimum: 1, maximum: 256 }),
        /** Safety-net poll for actions queued by another process (SQLite only wakes by file watch). */
        poll_ms: Type.Integer({ minimum: 10, maximum: 60000 }),
        /** After a round that found several actions, how long a switch's queue may fill before the next (one at a time never waits). */
        batch_linger_ms: Type.Integer({ minimum: 0, maximum: 1000 }),
      },
      Strict,
    ),
    obm: Type.Object(
      {
        /** A BMC or obmd call that takes longer than this fails with OBMError. */
        timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 600 }),
        /** BMC calls in flight at once, over all nodes (each BMC gets one at a time anyway). */
        max_concurrent: Type.Integer({ minimum: 1, maximum: 1024 }),
        /** Extra tries for a repeatable call (status, on, off, boot device) that failed quickly. */
        retries: Type.Integer({ minimum: 0, maximum: 5 }),
        /** Size of each node's rolling console log, in KiB. */
        console_log_kib: Type.Integer({ minimum: 1, maximum: 65536 }),
      },
      Strict,
    ),
    maintenance: Type.Object(
      {
        /** Project that receives nodes leaving any other project. */
        project: Type.Optional(Type.String()),
        /** Notified by POST {"node": label} when a node enters the maintenance project. */
        url: Type.Optional(Type.String()),
      },
      Strict,
    ),
    /** The image registry (docs/images.md): content-addressed files under <dir>/sha256/. */
    images: Type.Object(
      {
        /** Where image files live; default <data_dir>/blobs. */
        dir: Type.Optional(Type.String()),
        /** The largest file one upload may store, in MiB. */
        max_file_mib: Type.Integer({ minimum: 1, maximum: 1048576 }),
      },
      Strict,
    ),
    /** A derived (recursive) HIL: the base HIL it rents its nodes from, as one of the base's projects. */
    upstream: Type.Object(
      {
        endpoint: Type.Optional(Type.String()),
        username: Type.Optional(Type.String()),
        password: Type.Optional(Type.String()),
        /** The base project whose nodes this HIL hands out. */
        project: Type.Optional(Type.String()),
        /** Keep at least this many free nodes, taking more from the base (0: never grow by itself). */
        min_free: Type.Integer({ minimum: 0, maximum: 10000 }),
        /** Return free nodes above this many to the base when nodes are released (unset: never). */
        max_free: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000 })),
        /** Offer the base's free nodes to this HIL's projects, taken from the base when a project asks for one. */
        on_demand: Type.Boolean(),
        /** How often the API server checks min_free/max_free by itself (0: only after allocations and releases). */
        rebalance_seconds: Type.Integer({ minimum: 0, maximum: 86400 }),
        /** A call to the base that takes longer than this fails. */
        timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 600 }),
      },
      Strict,
    ),
    /** Fast provisioning (docs/fast-provisioning.md): nodes wait in the FPBL and are deployed and reclaimed by kexec. */
    provisioning: Type.Object(
      {
        enabled: Type.Boolean(),
        /** The agent endpoint: "host:port" or "unix:/path". */
        listen: Type.String(),
        /** How nodes reach that endpoint from the provisioning network, e.g. "http://10.128.0.1". */
        url: Type.Optional(Type.String()),
        /** The network every NIC of a node HIL holds is on (admin-owned, no project access). */
        network: Type.Optional(Type.String()),
        /** The FPBL's vmlinuz and initrd.img (hil-admin fpbl build); default <data_dir>/fpbl. */
        fpbl_dir: Type.Optional(Type.String()),
        /** From a power cycle (or a kexec back) to the FPBL reporting in. */
        boot_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
        /** From "deploy" to the node handed to the tenant's networks. */
        deploy_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
        /** How long a reclaim waits for the customer OS's return agent before power-cycling into the FPBL. */
        return_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
        /** From "wipe" to "wiped". */
        wipe_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 86400 }),
        /** Moving a node's NICs between networks. */
        network_timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600 }),
        /** How often deadlines and network moves are checked. */
        tick_ms: Type.Integer({ minimum: 10, maximum: 60000 }),
      },
      Strict,
    ),
    log: Type.Object(
      {
        level: Type.Union([
          Type.Literal('fatal'),
          Type.Literal('error'),
          Type.Literal('warn'),
          Type.Literal('info'),
          Type.Literal('debug'),
          Type.Literal('trace'),
          Type.Literal('silent'),
        ]),
      },
      Strict,
    ),
  },
  Strict,
);

export type Config = Static<typeof ConfigSchema>;

export function defaultConfig(): Config {
  return {
    server: { listen: '127.0.0.1:5000', data_dir: '.hil-data', worker: true },
    database: {},
    images: { max_file_mib: 1024 },
    auth: { backend: 'database', require_authentication: true, cache_seconds: 60, refresh_ms: 1000 },
    network: { allocator: 'vlan_pool', vlans: '1001-1040' },
    worker: { action_timeout_seconds: 30, max_attempts: 2, retry_backoff_ms: 200, switch_concurrency: 16, poll_ms: 1000, batch_linger_ms: 5 },
    obm: { timeout_seconds: 15, max_concurrent: 16, retries: 1, console_log_kib: 256 },
    maintenance: {},
    upstream: { min_free: 0, on_demand: false, rebalance_seconds: 60, timeout_seconds: 30 },
    provisioning: {
      enabled: false,
      listen: '127.0.0.1:5080',
      boot_timeout_seconds: 300,
      deploy_timeout_seconds: 300,
      return_timeout_seconds: 30,
      wipe_timeout_seconds: 1800,
      network_timeout_seconds: 120,
      tick_ms: 100,
    },
    log: { level: 'info' },
  };
}

export class ConfigError extends Error {}

type Section = Record<string, unknown>;

function mergeSections(base: Config, file: Record<string, unknown>): unknown {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(base)) out[k] = { ...(v as Section) };
  for (const [k, v] of Object.entries(file)) {
    out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && k in out ? { ...(out[k] as Section), ...(v as Section) } : v;
  }
  return out;
}

/** The environment variables of shared/DESIGN.md, applied over the file. */
function applyEnv(cfg: Config, env: NodeJS.ProcessEnv): void {
  if (env.HIL_DATABASE_URL) cfg.database.url = env.HIL_DATABASE_URL;
  if (env.HIL_LISTEN) cfg.server.listen = env.HIL_LISTEN;
  if (env.HIL_DATA_DIR) cfg.server.data_dir = env.HIL_DATA_DIR;
  if (env.HIL_IMAGES_DIR) cfg.images.dir = env.HIL_IMAGES_DIR;
  if (env.HIL_AUTH) {
    if (env.HIL_AUTH !== 'database' && env.HIL_AUTH !== 'null') {
      throw new ConfigError(`HIL_AUTH must be "database" or "null", not ${JSON.stringify(env.HIL_AUTH)}`);
    }
    cfg.auth.backend = env.HIL_AUTH;
  }
  if (env.HIL_VLAN_POOL) {
    cfg.network.allocator = 'vlan_pool';
    cfg.network.vlans = env.HIL_VLAN_POOL;
  }
  if (env.HIL_UPSTREAM_ENDPOINT) cfg.upstream.endpoint = env.HIL_UPSTREAM_ENDPOINT;
  if (env.HIL_UPSTREAM_USERNAME) cfg.upstream.username = env.HIL_UPSTREAM_USERNAME;
  if (env.HIL_UPSTREAM_PASSWORD) cfg.upstream.password = env.HIL_UPSTREAM_PASSWORD;
  if (env.HIL_UPSTREAM_PROJECT) cfg.upstream.project = env.HIL_UPSTREAM_PROJECT;
  // A derived HIL's networks are its base's: the upstream makes "hil" the allocator.
  if (cfg.upstream.endpoint && !env.HIL_VLAN_POOL) cfg.network.allocator = 'hil';
  if (env.HIL_PROVISIONING_LISTEN) cfg.provisioning.listen = env.HIL_PROVISIONING_LISTEN;
  if (env.HIL_PROVISIONING_URL) cfg.provisioning.url = env.HIL_PROVISIONING_URL;
  if (env.HIL_PROVISIONING_NETWORK) cfg.provisioning.network = env.HIL_PROVISIONING_NETWORK;
  if (env.HIL_FPBL_DIR) cfg.provisioning.fpbl_dir = env.HIL_FPBL_DIR;
  if (env.HIL_PROVISIONING) cfg.provisioning.enabled = env.HIL_PROVISIONING === '1' || env.HIL_PROVISIONING === 'true';
  if (env.HIL_LOG_LEVEL) cfg.log.level = env.HIL_LOG_LEVEL as Config['log']['level'];
}

export interface LoadOptions {
  /** Explicit config file; otherwise $HIL_CONFIG, then ./hil.toml if it exists. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.HIL_CONFIG ?? (existsSync('hil.toml') ? 'hil.toml' : undefined);
  let merged: unknown = defaultConfig();
  if (file) {
    let parsed: Record<string, unknown>;
    try {
      parsed = parseToml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    merged = mergeSections(defaultConfig(), parsed);
  }
  if (!Value.Check(ConfigSchema, merged)) {
    const first = Value.Errors(ConfigSchema, merged)[0];
    const where = first?.instancePath || '/';
    throw new ConfigError(`invalid configuration at ${where}: ${first?.message ?? 'unknown error'}${file ? ` (in ${file})` : ''}`);
  }
  const cfg = merged as Config;
  applyEnv(cfg, env);
  validateSemantics(cfg);
  return cfg;
}

function validateSemantics(cfg: Config): void {
  if (!/^[^:]+:\d+$/.test(cfg.server.listen) && !/^\[[^\]]+\]:\d+$/.test(cfg.server.listen)) {
    throw new ConfigError(`listen address ${JSON.stringify(cfg.server.listen)} must be HOST:PORT`);
  }
  if (cfg.network.allocator === 'vlan_pool') {
    try {
      parseVlanRanges(cfg.network.vlans);
    } catch (err) {
      throw new ConfigError(`network.vlans: ${(err as Error).message}`);
    }
  }
  const u = cfg.upstream;
  const upstreamKeys = [u.endpoint, u.username, u.password, u.project];
  if (upstreamKeys.some((v) => v !== undefined) && upstreamKeys.some((v) => v === undefined)) {
    throw new ConfigError('upstream needs endpoint, username, password and project (HIL_UPSTREAM_ENDPOINT, _USERNAME, _PASSWORD, _PROJECT), or none of them');
  }
  if (u.endpoint !== undefined && !/^https?:\/\//.test(u.endpoint)) throw new ConfigError('upstream.endpoint must be an http(s) URL');
  if (cfg.network.allocator === 'hil' && u.endpoint === undefined) throw new ConfigError('network.allocator "hil" needs an [upstream]');
  if (u.max_free !== undefined && u.max_free < u.min_free) throw new ConfigError('upstream.max_free must not be below upstream.min_free');
  const pv = cfg.provisioning;
  if (pv.enabled) {
    if (!pv.url || !/^http:\/\/[^/]+$/.test(pv.url)) throw new ConfigError('provisioning.url must be set, as http://HOST[:PORT] (no path): how nodes reach the agent endpoint');
    if (!pv.network) throw new ConfigError('provisioning.network must name the provisioning network');
    if (!/^unix:\/./.test(pv.listen) && !/^[^:]+:\d+$/.test(pv.listen)) throw new ConfigError('provisioning.listen must be HOST:PORT or unix:/PATH');
  }
  const m = cfg.maintenance;
  if ((m.project === undefined) !== (m.url === undefined)) {
    throw new ConfigError('maintenance needs both "project" and "url", or neither');
  }
  if (m.url !== undefined && !/^https?:\/\//.test(m.url)) {
    throw new ConfigError('maintenance.url must be an http(s) URL');
  }
}

/** The database URL in force: the configured one, or SQLite in the data directory. */
export function databaseUrl(cfg: Config): string {
  return cfg.database.url ?? `sqlite:${join(resolve(cfg.server.data_dir), 'hil.db')}`;
}

/** Where the FPBL files are: provisioning.fpbl_dir, or <data_dir>/fpbl. */
export function fpblDir(cfg: Config): string {
  return resolve(cfg.provisioning.fpbl_dir ?? join(cfg.server.data_dir, 'fpbl'));
}

/** Where image files are: images.dir, or <data_dir>/blobs. */
export function imagesDir(cfg: Config): string {
  return resolve(cfg.images.dir ?? join(cfg.server.data_dir, 'blobs'));
}

export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}
