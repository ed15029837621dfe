/**
 * OpenID Connect bearer tokens: "Authorization: Bearer <JWT>", checked here
 * against the provider's published keys, with no call to the provider per
 * request.
 *
 * - The provider is found through its discovery document (whose `issuer`
 *   must be the configured one) and its keys through `jwks_uri`; jose keeps
 *   the key set for `jwksMaxAgeMs`, and fetches it sooner when a token names
 *   a key it has not seen (rotation), at most every `jwksCooldownMs`.
 * - A token must carry the configured `iss` and `aud`, be within `exp` and
 *   `nbf` (give or take `clockToleranceSeconds`), have the header `typ`
 *   `tokenType` (at+jwt: an access token, not an ID token), and be signed
 *   with one of `algorithms`; an unsigned token ("alg": "none") never passes.
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

/**
 * The provider's trouble, not the caller's: 503 with what a caller may know
 * (that the provider failed, and the deadline), the details (addresses, what
 * it answered) in the log for the operator.
 */
function unavailable(log: Logger | undefined, detail: string, s: OidcSettings): ServiceUnavailableError {
  log?.warn({ issuer: s.issuer, detail }, 'the OpenID provider cannot be used');
  return new ServiceUnavailableError(`The OpenID provider could not be used to check the token (within ${s.timeoutMs / 1000} s); try again later`);
}

/** What went wrong fetching something, in words: "did not answer within 5 s", "ECONNREFUSED", "500 Internal Server Error". */
function fetchProblem(err: unknown, s: OidcSettings): string {
  const e = err as Error;
  return e.name === 'TimeoutError' ? `did not answer within ${s.timeoutMs / 1000} s` : ((e.cause as Error | undefined)?.message ?? e.message);
}

/** The provider's key set, found through its discovery document on first use (and again after a failure). */
function providerKeys(s: OidcSettings, log: Logger | undefined) {
  let keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  const discover = async () => {
    const url = `${s.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let doc: { issuer?: string; jwks_uri?: string };
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(s.timeoutMs), headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
      doc = (await res.json()) as typeof doc;
    } catch (err) {
      throw unavailable(log, `discovery document ${url}: ${fetchProblem(err, s)}`, s);
    }
    // A document naming another issuer is a misconfiguration or an impostor (OpenID Connect Discovery §4.3).
    if (doc.issuer !== s.issuer) throw unavailable(log, `the discovery document at ${url} names issuer ${JSON.stringify(doc.issuer)}, not ${JSON.stringify(s.issuer)}`, s);
    let jwksUri: URL;
    try {
      jwksUri = new URL(String(doc.jwks_uri));
    } catch {
      throw unavailable(log, `the discovery document at ${url} has no usable jwks_uri (${JSON.stringify(doc.jwks_uri)})`, s);
    }
    // Keys from plain HTTP only where the issuer itself is plain HTTP (loopback, config.ts): never downgraded.
    if (jwksUri.protocol !== new URL(s.issuer).protocol) throw unavailable(log, `jwks_uri ${jwksUri} does not use the issuer's scheme`, s);
    return createRemoteJWKSet(jwksUri, { timeoutDuration: s.timeoutMs, cooldownDuration: s.jwksCooldownMs, cacheMaxAge: s.jwksMaxAgeMs });
  };
  return () => {
    keys ??= discover().catch((err) => {
      keys = undefined;
      throw err;
    });
    return keys;
  };
}

/** jose's errors about the key set itself (its fetch or its contents), as opposed to the token. */
const KEY_SET_PROBLEMS = new Set(['ERR_JWKS_INVALID', 'ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC']);

export function oidcAuth(o: { db: Kysely<Database>; settings: OidcSettings; cacheMs: number; refreshMs: number; log?: Logger }): AuthBackend {
  const s = o.settings;
  const keys = providerKeys(s, o.log);

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
          // An ID token for the same audience is not an access token (RFC 9068 §4); "" accepts any.
          typ: s.tokenType || undefined,
        });
        return { identity: identityOf(payload, s), expiresAt: (payload.exp! + s.clockToleranceSeconds) * 1000 };
      } catch (err) {
        if (err instanceof joseErrors.JOSEError && !KEY_SET_PROBLEMS.has(err.code)) {
          o.log?.debug({ reason: err.code }, 'bearer token refused');
          return null;
        }
        // The key set could not be fetched, or what came is no key set: the provider's trouble.
        throw unavailable(o.log, `key set: ${fetchProblem(err, s)}`, s);
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
