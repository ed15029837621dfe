/**
 * What the token backends are configured with, as src/config/settings.ts
 * computes it from the [keystone] and [oidc] sections (docs/auth.md).
 */

/** HIL's own Keystone user, whose token validates callers' tokens. */
export interface KeystoneService {
  username: string;
  password: string;
  userDomain: string;
  project: string;
  projectDomain: string;
}

export interface KeystoneSettings {
  /** The v3 endpoint, without a trailing slash. */
  url: string;
  service: KeystoneService;
  projectMapping: 'id' | 'name' | 'table';
  admin: { role: string; project: string; projectDomain: string };
  timeoutMs: number;
}

export interface OidcSettings {
  issuer: string;
  audience: string;
  algorithms: string[];
  claims: { username: string; projects: string; projectPrefix: string; roles: string };
  adminRole: string;
  clockToleranceSeconds: number;
  /** The JWT header's typ every token must have; "" for any. */
  tokenType: string;
  jwksCooldownMs: number;
  /** How long a fetched key set is used before it is fetched again: a key removed from it stops working within this (plus auth.cache_seconds). */
  jwksMaxAgeMs: number;
  timeoutMs: number;
}
