/**
 * Server configuration: defaults, then the config file (TOML), then the
 * environment variables of shared/DESIGN.md. Unknown keys are errors, so a
 * typo never silently falls back to a default.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { Value } from 'typebox/value';
import { ConfigError } from '../errors.ts';
import { AUTH_BACKEND_NAMES, ConfigSchema, defaultConfig, LOG_FORMATS, LOG_LEVELS, type Config } from './schema.ts';
import { dotted, expectation, tomlProblem, unknownKey } from './messages.ts';

export { defaultConfig, type Config };
import { isSecureOrLoopback } from '../util/secure-url.ts';
import { parseVlanRanges } from '../drivers/allocator/vlan-ranges.ts';

export { ConfigError };

type Section = Record<string, unknown>;

function mergeSections(base: Config, file: Record<string, unknown>): unknown {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(base)) out[k] = { ...(v as Section) };
  for (const [k, v] of Object.entries(file)) {
    out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && k in out ? { ...(out[k] as Section), ...(v as Section) } : v;
  }
  return out;
}

function oneOf<const V extends readonly string[]>(variable: string, value: string, allowed: V): V[number] {
  if (!allowed.includes(value)) throw new ConfigError(`${variable} must be one of ${allowed.join(', ')}, not ${JSON.stringify(value)}`);
  return value;
}

/** The environment variables of shared/DESIGN.md, applied over the file. */
function applyEnv(cfg: Config, env: NodeJS.ProcessEnv): void {
  if (env.HIL_DATABASE_URL) cfg.database.url = env.HIL_DATABASE_URL;
  if (env.HIL_LISTEN) cfg.server.listen = env.HIL_LISTEN;
  if (env.HIL_METRICS_LISTEN) cfg.metrics.listen = env.HIL_METRICS_LISTEN;
  if (env.HIL_DATA_DIR) cfg.server.data_dir = env.HIL_DATA_DIR;
  if (env.HIL_IMAGES_DIR) cfg.images.dir = env.HIL_IMAGES_DIR;
  if (env.HIL_AUTH) cfg.auth.backend = oneOf('HIL_AUTH', env.HIL_AUTH, AUTH_BACKEND_NAMES);
  // The service user's password, kept out of the file (and, like every secret, out of argv).
  if (env.HIL_KEYSTONE_PASSWORD) cfg.keystone.password = env.HIL_KEYSTONE_PASSWORD;
  if (env.HIL_VLAN_POOL) {
    cfg.network.allocator = 'vlan_pool';
    cfg.network.vlans = env.HIL_VLAN_POOL;
  }
  if (env.HIL_UPSTREAM_ENDPOINT) cfg.upstream.endpoint = env.HIL_UPSTREAM_ENDPOINT;
  if (env.HIL_UPSTREAM_USERNAME) cfg.upstream.username = env.HIL_UPSTREAM_USERNAME;
  if (env.HIL_UPSTREAM_PASSWORD) cfg.upstream.password = env.HIL_UPSTREAM_PASSWORD;
  if (env.HIL_UPSTREAM_PROJECT) cfg.upstream.project = env.HIL_UPSTREAM_PROJECT;
  if (env.HIL_UPSTREAM_OIDC_CLIENT_SECRET) cfg.upstream.oidc_client_secret = env.HIL_UPSTREAM_OIDC_CLIENT_SECRET;
  // A derived HIL's networks are its base's: the upstream makes "hil" the allocator.
  if (cfg.upstream.endpoint && !env.HIL_VLAN_POOL) cfg.network.allocator = 'hil';
  if (env.HIL_PROVISIONING_LISTEN) cfg.provisioning.listen = env.HIL_PROVISIONING_LISTEN;
  if (env.HIL_PROVISIONING_URL) cfg.provisioning.url = env.HIL_PROVISIONING_URL;
  if (env.HIL_PROVISIONING_NETWORK) cfg.provisioning.network = env.HIL_PROVISIONING_NETWORK;
  if (env.HIL_FPBL_DIR) cfg.provisioning.fpbl_dir = env.HIL_FPBL_DIR;
  if (env.HIL_PROVISIONING) cfg.provisioning.enabled = env.HIL_PROVISIONING === '1' || env.HIL_PROVISIONING === 'true';
  if (env.HIL_LOG_LEVEL) cfg.log.level = oneOf('HIL_LOG_LEVEL', env.HIL_LOG_LEVEL, LOG_LEVELS);
  if (env.HIL_LOG_FORMAT) cfg.log.format = oneOf('HIL_LOG_FORMAT', env.HIL_LOG_FORMAT, LOG_FORMATS);
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
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'it is a directory' : e.message;
      throw new ConfigError(`cannot read the configuration file ${file}: ${why}`);
    }
    let parsed: Record<string, unknown>;
    try {
      parsed = parseToml(text);
    } catch (err) {
      throw new ConfigError(`the configuration file ${file} is not valid TOML: ${tomlProblem(err as Error)}`);
    }
    const unknown = unknownKey(ConfigSchema, parsed);
    if (unknown) throw new ConfigError(`${unknown} (in ${file})`);
    merged = mergeSections(defaultConfig(), parsed);
  }
  if (!Value.Check(ConfigSchema, merged)) {
    const first = Value.Errors(ConfigSchema, merged)[0];
    const path = first?.instancePath ?? '';
    throw new ConfigError(`configuration key ${dotted(path)} ${expectation(ConfigSchema, path, first?.message ?? 'is not valid')}${file ? ` (in ${file})` : ''}`);
  }
  const cfg = merged as Config;
  applyEnv(cfg, env);
  validateSemantics(cfg);
  return cfg;
}

/**
 * An identity service over plain HTTP could be impersonated by anyone on the
 * path (it says who is admin) and would see the service password.
 */
function secureOrLoopback(key: string, url: string): void {
  if (isSecureOrLoopback(new URL(url))) return;
  throw new ConfigError(`${key} must be an https URL (plain http only on loopback), not ${JSON.stringify(url)}`);
}

function validateAuth(cfg: Config): void {
  const k = cfg.keystone;
  if (cfg.auth.backend === 'keystone') {
    if (!k.url || !k.username || !k.password) throw new ConfigError('auth.backend "keystone" needs keystone.url, keystone.username and keystone.password (or HIL_KEYSTONE_PASSWORD)');
    secureOrLoopback('keystone.url', k.url);
  }
  if (cfg.auth.backend === 'oidc') {
    if (!cfg.oidc.issuer || !cfg.oidc.audience) throw new ConfigError('auth.backend "oidc" needs oidc.issuer and oidc.audience');
    secureOrLoopback('oidc.issuer', cfg.oidc.issuer);
  }
}

const isHostPort = (listen: string) => /^[^:]+:\d+$/.test(listen) || /^\[[^\]]+\]:\d+$/.test(listen);

function validateSemantics(cfg: Config): void {
  if (!isHostPort(cfg.server.listen)) {
    throw new ConfigError(`listen address ${JSON.stringify(cfg.server.listen)} must be HOST:PORT`);
  }
  const ml = cfg.metrics.listen;
  if (ml !== undefined && !isHostPort(ml)) throw new ConfigError(`metrics.listen ${JSON.stringify(ml)} must be HOST:PORT`);
  if (ml !== undefined && ml === cfg.server.listen) throw new ConfigError('metrics.listen must differ from server.listen (leave it unset to serve /metrics on the API port)');
  if (cfg.network.allocator === 'vlan_pool') {
    try {
      parseVlanRanges(cfg.network.vlans);
    } catch (err) {
      throw new ConfigError(`network.vlans: ${(err as Error).message}`);
    }
  }
  validateAuth(cfg);
  const u = cfg.upstream;
  const oidcKeys = [u.oidc_issuer, u.oidc_client_id, u.oidc_client_secret];
  const byOidc = oidcKeys.some((v) => v !== undefined) || u.oidc_resource !== undefined;
  if (byOidc && oidcKeys.some((v) => v === undefined)) {
    throw new ConfigError('upstream by OpenID Connect needs oidc_issuer, oidc_client_id and oidc_client_secret (or HIL_UPSTREAM_OIDC_CLIENT_SECRET)');
  }
  if (byOidc && (u.username !== undefined || u.password !== undefined)) throw new ConfigError('upstream takes username/password or oidc_*, not both');
  if (byOidc && (u.endpoint === undefined || u.project === undefined)) throw new ConfigError('upstream needs endpoint and project (HIL_UPSTREAM_ENDPOINT, _PROJECT) besides its oidc_* credentials');
  if (u.oidc_issuer !== undefined) secureOrLoopback('upstream.oidc_issuer', u.oidc_issuer);
  const upstreamKeys = [u.endpoint, u.username, u.password, u.project];
  if (!byOidc && upstreamKeys.some((v) => v !== undefined) && upstreamKeys.some((v) => v === undefined)) {
    throw new ConfigError('upstream needs endpoint, username, password and project (HIL_UPSTREAM_ENDPOINT, _USERNAME, _PASSWORD, _PROJECT), or none of them');
  }
  if (u.endpoint !== undefined && !/^https?:\/\//.test(u.endpoint)) throw new ConfigError('upstream.endpoint must be an http(s) URL');
  if (cfg.network.allocator === 'hil' && u.endpoint === undefined) throw new ConfigError('network.allocator "hil" needs an [upstream]');
  if (u.endpoint !== undefined && cfg.network.allocator !== 'hil') {
    // Its switches are the base's: a network here must be a network there, which only the hil allocator makes.
    throw new ConfigError(`a derived HIL (one with an [upstream]) takes its networks from its base: network.allocator must be "hil", not "${cfg.network.allocator}" (unset HIL_VLAN_POOL)`);
  }
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

/** Where the local storage backend keeps disks: images.disks_dir, or <data_dir>/disks. */
export function disksDir(cfg: Config): string {
  return resolve(cfg.images.disks_dir ?? join(cfg.server.data_dir, 'disks'));
}

/** Where export servers keep their sockets and key files: exports.run_dir, or <data_dir>/exports. */
export function exportsRunDir(cfg: Config): string {
  return resolve(cfg.exports.run_dir ?? join(cfg.server.data_dir, 'exports'));
}

export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}
