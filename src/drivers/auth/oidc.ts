/**
 * OpenID Connect bearer tokens: "Authorization: Bearer <JWT>", checked here
 * against the provider's published keys, with no call to the provider per
 * request.
 *
 * - The provider is found through its discovery document (whose `issuer`
 *   must be the configured one) and its keys through `jwks_uri`; jose keeps
 *   the key set, and fetches it again when a token names a key it has not
 *   seen (rotation), at most every `jwksCooldownMs`.
 * - A token must carry the configured `iss` and `aud`, be within `exp` and
 *   `nbf` (give or take `clockToleranceSeconds`) and be signed with one of
 *   `algorithms`; an unsigned token ("alg": "none") never passes.
 * - Claims become a principal: `claims.projects` lists HIL project labels
 *   (optionally prefixed), and `adminRole` among `claims.roles` makes an
 *   administrator. Projects HIL does not know are ignored; a token that
 *   grants nothing here is not authenticated (as Keystone's is not).
 */
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { ServiceUnavailableError } from '../../errors.ts';
import type { Database } from '../../store/schema.ts';
import type { AuthBackend, Principal } from './interface.ts';
import type { OidcSettings } from './settings.ts';
import { tokenBackend, tokenCache } from './token-cache.ts';

interface OidcIdentity {
  user: string;
  projects: string[];
  admin: boolean;
}

/** A claim by dotted path ("realm_access.roles"), as a list of strings (a single string is a list of one). */
export function claimStrings(payload: JWTPayload, path: string): string[] {
  let value: unknown = payload;
  for (const part of path.split('.')) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function identityOf(payload: JWTPayload, s: OidcSettings): OidcIdentity {
  const prefix = s.claims.projectPrefix;
  const projects = claimStrings(payload, s.claims.projects)
    .filter((p) => p.startsWith(prefix))
    .map((p) => p.slice(prefix.length));
  return { user: claimStrings(payload, s.claims.username)[0] ?? '', projects, admin: claimStrings(payload, s.claims.roles).includes(s.adminRole) };
}

/** The provider's key set, found through its discovery document on first use (and again after a failure). */
function providerKeys(s: OidcSettings) {
  let keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  const discover = async () => {
    const url = `${s.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let doc: { issuer?: string; jwks_uri?: string };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(s.timeoutMs), headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
      doc = (await res.json()) as typeof doc;
    } catch (err) {
      const e = err as Error;
      const why = e.name === 'TimeoutError' ? `did not answer within ${s.timeoutMs / 1000} s` : `failed: ${(e.cause as Error | undefined)?.message ?? e.message}`;
      throw new ServiceUnavailableError(`The OpenID provider's discovery document (${url}) ${why}`);
    }
    // A document naming another issuer is a misconfiguration or an impostor (OpenID Connect Discovery §4.3).
    if (doc.issuer !== s.issuer || typeof doc.jwks_uri !== 'string') {
      throw new ServiceUnavailableError(`The discovery document at ${url} names issuer ${JSON.stringify(doc.issuer)} (HIL expects ${JSON.stringify(s.issuer)}) or no jwks_uri`);
    }
    return createRemoteJWKSet(new URL(doc.jwks_uri), { timeoutDuration: s.timeoutMs, cooldownDuration: s.jwksCooldownMs });
  };
  return () => {
    keys ??= discover().catch((err) => {
      keys = undefined;
      throw err;
    });
    return keys;
  };
}

export function oidcAuth(o: { db: Kysely<Database>; settings: OidcSettings; cacheMs: number; refreshMs: number; log?: Logger }): AuthBackend {
  const s = o.settings;
  const keys = providerKeys(s);

  const cache = tokenCache<OidcIdentity>({
    cacheMs: o.cacheMs,
    refreshMs: o.refreshMs,
    async confirm(token) {
      const jwks = await keys();
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer: s.issuer,
          audience: s.audience,
          algorithms: s.algorithms,
          clockTolerance: s.clockToleranceSeconds,
          // A token that never expires is not accepted.
          requiredClaims: ['exp'],
        });
        return { identity: identityOf(payload, s), expiresAt: (payload.exp! + s.clockToleranceSeconds) * 1000 };
      } catch (err) {
        if (err instanceof joseErrors.JWKSTimeout) throw new ServiceUnavailableError(`The OpenID provider's key set did not answer within ${s.timeoutMs / 1000} s`);
        if (err instanceof joseErrors.JOSEError) {
          o.log?.debug({ reason: err.code }, 'bearer token refused');
          return null;
        }
        // The key set could not be fetched (refused, reset): the provider's trouble, not the caller's.
        throw new ServiceUnavailableError(`The OpenID provider's key set could not be fetched: ${(err as Error).message}`);
      }
    },
    async grant(id): Promise<Principal | null> {
      const rows = id.projects.length ? await o.db.selectFrom('project').select('id').where('label', 'in', id.projects).execute() : [];
      if (!id.admin && rows.length === 0) return null;
      return Object.freeze({ authenticated: true, isAdmin: id.admin, username: id.user, projectIds: new Set(rows.map((r) => r.id)) });
    },
  });

  // Tokens come in Authorization: Bearer only; X-Auth-Token is Keystone's.
  return tokenBackend({ type: 'oidc', extensionName: 'hil.ext.auth.oidc', cache, xAuthToken: false });
}
