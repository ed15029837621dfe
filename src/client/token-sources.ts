/**
 * Where a client gets a bearer token when it has no HIL password: from
 * Keystone with the OpenStack variables (as upstream's CLI did), or from an
 * OpenID provider with the client-credentials grant (a derived HIL, a
 * script). Each source is a function for HilClient's `token` option: it
 * fetches a token on first use, keeps it, and fetches a new one shortly
 * before it expires. Secrets go only into request bodies.
 */
import * as oidc from 'openid-client';
import { isSecureOrLoopback } from '../util/secure-url.ts';

export type TokenSource = () => Promise<string>;

export class TokenSourceError extends Error {}

/** A token this close to its expiry is replaced before use. */
const RENEW_BEFORE_MS = 30_000;

/** Caches what `fetchToken` returns until shortly before it expires; concurrent callers share one fetch. */
function renewing(fetchToken: () => Promise<{ token: string; expiresAt: number }>): TokenSource {
  let current: { token: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;
  return () => {
    if (current && current.expiresAt - RENEW_BEFORE_MS > Date.now()) return Promise.resolve(current.token);
    pending ??= fetchToken()
      .then((t) => {
        current = t;
        return t.token;
      })
      .finally(() => (pending = undefined));
    return pending;
  };
}

export interface KeystonePassword {
  /** OS_AUTH_URL: Keystone's endpoint, with or without /v3. */
  authUrl: string;
  username: string;
  password: string;
  project: string;
  /** OS_USER_DOMAIN_ID / OS_PROJECT_DOMAIN_ID; default "default", as upstream's CLI. */
  userDomainId?: string;
  projectDomainId?: string;
  /** OS_USER_DOMAIN_NAME / OS_PROJECT_DOMAIN_NAME (what Horizon's openrc files set), used when the id is not given. */
  userDomainName?: string;
  projectDomainName?: string;
  timeoutMs?: number;
}

/** A project-scoped Keystone v3 token for a user's password (POST /v3/auth/tokens). */
export function keystoneToken(k: KeystonePassword): TokenSource {
  const base = k.authUrl.replace(/\/+$/, '').replace(/(\/v3)?$/, '/v3');
  const domain = (id?: string, name?: string) => (id ? { id } : name ? { name } : { id: 'default' });
  return renewing(async () => {
    const body = {
      auth: {
        identity: { methods: ['password'], password: { user: { name: k.username, domain: domain(k.userDomainId, k.userDomainName), password: k.password } } },
        scope: { project: { name: k.project, domain: domain(k.projectDomainId, k.projectDomainName) } },
      },
    };
    let res: Response;
    try {
      res = await fetch(`${base}/auth/tokens?nocatalog`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(k.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new TokenSourceError(`cannot reach Keystone at ${base}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
    }
    const token = res.headers.get('x-subject-token');
    if (res.status !== 201 || !token) {
      const text = await res.text().catch(() => '');
      let msg = text;
      try {
        msg = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // not JSON: keep the text
      }
      throw new TokenSourceError(`Keystone at ${base} refused a token for ${k.username} on project ${k.project}: ${res.status} ${msg}`.trim());
    }
    const { token: t } = (await res.json()) as { token: { expires_at: string } };
    return { token, expiresAt: Date.parse(t.expires_at) };
  });
}

export interface OidcClientCredentials {
  /** The provider's issuer URL (its discovery document is found from it). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** RFC 8707 resource indicator: which API the token is for (the HIL's `oidc.audience`), when the provider wants one. */
  resource?: string;
  scope?: string;
  timeoutMs?: number;
}

/** An access token from the client-credentials grant (RFC 6749 §4.4), through the provider's discovery document. */
export function oidcClientCredentialsToken(c: OidcClientCredentials): TokenSource {
  let config: Promise<oidc.Configuration> | undefined;
  const configure = () => {
    const issuer = new URL(c.issuer);
    // Anywhere but loopback, plain HTTP would carry the secret in clear.
    if (!isSecureOrLoopback(issuer)) throw new TokenSourceError(`the OpenID provider ${c.issuer} must be https (plain http is accepted on loopback only)`);
    config ??= oidc
      .discovery(issuer, c.clientId, undefined, oidc.ClientSecretPost(c.clientSecret), {
        execute: issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
        timeout: Math.ceil((c.timeoutMs ?? 30_000) / 1000),
      })
      .catch((err) => {
        config = undefined;
        throw new TokenSourceError(`cannot use the OpenID provider ${c.issuer}: ${(err as Error).message}`);
      });
    return config;
  };
  return renewing(async () => {
    const cfg = await configure();
    const params: Record<string, string> = {};
    if (c.resource) params.resource = c.resource;
    if (c.scope) params.scope = c.scope;
    let tokens: Awaited<ReturnType<typeof oidc.clientCredentialsGrant>>;
    try {
      tokens = await oidc.clientCredentialsGrant(cfg, params);
    } catch (err) {
      // An OAuth error answer carries its code and description (RFC 6749 §5.2): say those, not the library's summary.
      const e = err as Error & { error?: string; error_description?: string };
      const why = e.error ? [e.error, e.error_description].filter(Boolean).join(': ') : e.message;
      throw new TokenSourceError(`the OpenID provider ${c.issuer} refused a token for client ${c.clientId}: ${why}`);
    }
    const expiresIn = tokens.expiresIn() ?? 60;
    return { token: tokens.access_token, expiresAt: Date.now() + expiresIn * 1000 };
  });
}
