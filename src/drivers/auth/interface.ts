/** Turns a request's credentials into a Principal (spec §4). */
import type { Principal } from '../../core/principal.ts';

export interface AuthBackend {
  /** Upstream extension name for GET /v0/active_extensions. */
  readonly extensionName: string;
  /** null: the credentials are missing or wrong. */
  authenticate(authorizationHeader: string | undefined): Promise<Principal | null>;
  /** Forget what is cached about a user (or everyone) after a change to users or projects. */
  invalidate(username?: string): void;
}
