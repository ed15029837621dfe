/**
 * The base HIL as a derived HIL sees it: the typed client, logged in as the
 * derived HIL's user at the base (a password, or an OpenID client-credentials
 * token where the base uses OpenID Connect), and the one base project whose nodes and
 * networks the derived HIL manages. Every driver of a derived HIL (switch,
 * allocator, OBM) and its pool manager talk to the base through this, over
 * the base's public API only: a derived HIL holds no admin rights at its base.
 */
import { HilApiError, HilClient, type NetworkingAction } from '../../client/index.ts';
import { oidcClientCredentialsToken, type OidcClientCredentials } from '../../client/token-sources.ts';
import { UpstreamError } from '../../errors.ts';

export { UpstreamError };

export interface Upstream {
  client: HilClient;
  /** The base project that owns this HIL's nodes and networks. */
  project: string;
  endpoint: string;
  /** How long to wait for one of the base's networking actions. */
  actionTimeoutMs: number;
}

/** How to reach the base HIL, as its user. */
export interface UpstreamConnection {
  endpoint: string;
  /** The base's database user, or this HIL's client at the base's OpenID provider. */
  credentials: { username: string; password: string } | { oidc: OidcClientCredentials };
  project: string;
  /** Bound on each base call, and on waiting for one of the base's networking actions. */
  timeoutMs: number;
}

export function connectUpstream(s: UpstreamConnection): Upstream {
  return {
    client: new HilClient({
      endpoint: s.endpoint,
      ...('oidc' in s.credentials ? { token: oidcClientCredentialsToken({ ...s.credentials.oidc, timeoutMs: s.timeoutMs }) } : s.credentials),
      timeoutMs: s.timeoutMs,
    }),
    project: s.project,
    endpoint: s.endpoint,
    actionTimeoutMs: s.timeoutMs,
  };
}

/** Rewords a failed base call so that whoever reads it knows the base said it. */
export function fromBase(err: unknown, what: string): UpstreamError {
  if (err instanceof UpstreamError) return err;
  if (err instanceof HilApiError) {
    const detail = err.type === 'ConnectionError' ? err.message : `${err.type}: ${err.message}`;
    return new UpstreamError(`base HIL: ${what} failed: ${detail}`, { cause: err });
  }
  return new UpstreamError(`base HIL: ${what} failed: ${(err as Error).message}`, { cause: err });
}

/** Runs a base call, turning its failure into an UpstreamError that says what was tried. */
export async function atBase<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw fromBase(err, what);
  }
}

/** Waits for one of the base's networking actions; throws with the base's error text unless it ends DONE. */
export async function baseActionDone(up: Upstream, what: string, statusId: { status_id: string }): Promise<NetworkingAction> {
  const action = await atBase(what, () => up.client.waitForAction(statusId.status_id, { timeoutMs: up.actionTimeoutMs }));
  if (action.status !== 'DONE') throw new UpstreamError(`base HIL: ${what} ended ${action.status}: ${action.error ?? 'no reason given'}`);
  return action;
}

/** True when the base answered 404 (the thing is already gone: deleting it again is done). */
export function isNotFound(err: unknown): boolean {
  return err instanceof UpstreamError && err.cause instanceof HilApiError && err.cause.status === 404;
}
