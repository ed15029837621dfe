/**
 * The two Keystone v3 calls HIL makes: get a token for its own service user
 * (POST /auth/tokens, kept until shortly before it expires), and confirm a
 * caller's token with it (GET /auth/tokens, X-Subject-Token).
 *
 * One deadline covers everything one confirmation does (getting a service
 * token, asking, asking again with a new one, reading the answers). A
 * Keystone that misses it, cannot be reached, or answers with an error is a
 * ServiceUnavailableError (503) whose message says only that; what Keystone
 * answered, and its address, go to the log for the operator. After
 * Keystone refuses the service user's password, HIL does not try it again
 * for SERVICE_LOGIN_BACKOFF_MS: retrying on every request would lock the
 * account where Keystone locks out failed logins. The password goes only
 * into the request body.
 */
import type { Logger } from 'pino';
import { ServiceUnavailableError } from '../../errors.ts';
import type { KeystoneService } from './settings.ts';

/** The parts of a v3 token body HIL reads. */
export interface KeystoneToken {
  expires_at: string;
  user: { id: string; name: string; domain?: { id: string; name: string } };
  /** Absent for unscoped, domain- and system-scoped tokens. */
  project?: { id: string; name: string; domain: { id: string; name: string } };
  roles?: Array<{ id: string; name: string }>;
}

export interface KeystoneApi {
  /** The token's body, or null when Keystone does not confirm it (unknown, expired, revoked). */
  validate(token: string): Promise<KeystoneToken | null>;
}

/** A service token this close to its expiry is replaced before use. */
const RENEW_BEFORE_MS = 60_000;
/** How long a refused service login is not tried again. */
export const SERVICE_LOGIN_BACKOFF_MS = 10_000;

export function keystoneApi(o: { url: string; service: KeystoneService; timeoutMs: number; log?: Logger }): KeystoneApi {
  let service: { token: string; expiresAt: number } | undefined;
  let issuing: Promise<string> | undefined;
  let refusedUntil = 0;

  const unavailable = (detail: string) => {
    o.log?.warn({ keystone: o.url, detail }, 'Keystone cannot confirm tokens');
    return new ServiceUnavailableError(`The identity service (Keystone) could not confirm the token within ${o.timeoutMs / 1000} s; try again later`);
  };

  /** A request and its JSON body, both within `signal`'s deadline. */
  const call = async <T>(path: string, init: RequestInit, signal: AbortSignal): Promise<{ res: Response; body?: T }> => {
    try {
      const res = await fetch(`${o.url}${path}`, { ...init, signal });
      const text = await res.text();
      let body: T | undefined;
      try {
        body = text ? (JSON.parse(text) as T) : undefined;
      } catch {
        // not JSON (a proxy's error page): the status says enough
      }
      return { res, body };
    } catch (err) {
      const e = err as Error;
      throw unavailable(e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${o.timeoutMs} ms` : ((e.cause as Error | undefined)?.message ?? e.message));
    }
  };

  const issueServiceToken = async (signal: AbortSignal): Promise<string> => {
    if (Date.now() < refusedUntil) throw unavailable("HIL's service user was refused moments ago; not retried yet");
    const s = o.service;
    const auth = {
      auth: {
        identity: { methods: ['password'], password: { user: { name: s.username, domain: { name: s.userDomain }, password: s.password } } },
        scope: { project: { name: s.project, domain: { name: s.projectDomain } } },
      },
    };
    const { res, body } = await call<{ token: KeystoneToken }>('/auth/tokens?nocatalog', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(auth) }, signal);
    const token = res.headers.get('x-subject-token');
    if (res.status !== 201 || !token || !body?.token) {
      if (res.status === 401) refusedUntil = Date.now() + SERVICE_LOGIN_BACKOFF_MS;
      throw unavailable(`Keystone refused HIL's service user ${s.username}: ${res.status}`);
    }
    service = { token, expiresAt: Date.parse(body.token.expires_at) };
    return token;
  };

  const serviceToken = (signal: AbortSignal): Promise<string> => {
    if (service && service.expiresAt - RENEW_BEFORE_MS > Date.now()) return Promise.resolve(service.token);
    issuing ??= issueServiceToken(signal).finally(() => (issuing = undefined));
    return issuing;
  };

  const ask = async (token: string, signal: AbortSignal) => {
    const used = await serviceToken(signal);
    const answer = await call<{ token: KeystoneToken }>('/auth/tokens?nocatalog', { method: 'GET', headers: { 'x-auth-token': used, 'x-subject-token': token } }, signal);
    return { used, ...answer };
  };

  return {
    async validate(token) {
      const signal = AbortSignal.timeout(o.timeoutMs);
      let answer = await ask(token, signal);
      if (answer.res.status === 401) {
        // Our own token was refused (revoked, expired early, Keystone's keys rotated): once more with a new one,
        // unless another request has already replaced it.
        if (service?.token === answer.used) service = undefined;
        answer = await ask(token, signal);
      }
      if (answer.res.status === 404) return null;
      if (answer.res.status !== 200 || !answer.body?.token) throw unavailable(`Keystone answered ${answer.res.status} to a token validation`);
      return answer.body.token;
    },
  };
}
