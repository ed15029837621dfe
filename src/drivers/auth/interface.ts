/**
 * Auth backends: who a request's caller is (spec §4). Adding one: a file
 * implementing AuthBackend, one line in ./index.ts, and a run of the
 * authorization matrix with it.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../store/schema.ts';
import type { KeystoneSettings, OidcSettings } from './settings.ts';

/** Who is calling, as the backend established it; core/principal.ts states the rules. */
export interface Principal {
  /** False only for anonymous callers when authentication is optional. */
  readonly authenticated: boolean;
  readonly isAdmin: boolean;
  readonly username?: string;
  readonly userId?: number;
  readonly projectIds: ReadonlySet<number>;
}

export const ANONYMOUS: Principal = Object.freeze({ authenticated: false, isAdmin: false, projectIds: new Set<number>() });

/** An administrator acting for HIL itself (the pool manager, provisioning) or for null auth. */
export function admin(username = 'admin'): Principal {
  return { authenticated: true, isAdmin: true, username, projectIds: new Set<number>() };
}

export interface AuthBackend {
  /** The configured name (`[auth] backend`). */
  readonly type: string;
  /** Upstream extension name for GET /v0/active_extensions. */
  readonly extensionName: string;
  /**
   * null: the credentials are missing or wrong. Throws ServiceUnavailableError
   * when the service that would confirm them (Keystone, the OpenID provider)
   * did not answer in time.
   */
  authenticate(headers: CredentialHeaders): Promise<Principal | null>;
  /** Forget what is cached about a user (or everyone) after a change to users or projects. */
  invalidate(username?: string): void;
}

/** The request headers credentials come in (Node's IncomingHttpHeaders fits). */
export interface CredentialHeaders {
  /** "Basic …" (database), "Bearer …" (oidc, keystone). */
  authorization?: string;
  /** A Keystone token, as upstream's clients send it. */
  'x-auth-token'?: string | string[];
}

/** What auth backends may be built with. */
export interface AuthContext {
  db: Kysely<Database>;
  log?: Logger;
  /** The [keystone] settings, when that is the backend. */
  keystone?: KeystoneSettings;
  /** The [oidc] settings, when that is the backend. */
  oidc?: OidcSettings;
  /** How long a verified credential is trusted without checking it again. */
  cacheMs: number;
  /** How long a cached caller's admin flag and projects are reused. */
  refreshMs: number;
}
