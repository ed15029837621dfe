/**
 * The two Keystone v3 calls HIL makes: get a token for its own service user
 * (POST /auth/tokens, kept until shortly before it expires), and confirm a
 * caller's token with it (GET /auth/tokens, X-Subject-Token). Every call has
 * a deadline; a Keystone that does not answer, or answers with a server
 * error, is ServiceUnavailableError (503) with Keystone's address, never a
 * hang. The service password goes only into the request body.
 */
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

export function keystoneApi(o: { url: string; service: KeystoneService; timeoutMs: number }): KeystoneApi {
  let service: { token: string; expiresAt: number } | undefined;
  let issuing: Promise<string> | undefined;

  const call = async (path: string, init: RequestInit): Promise<Response> => {
    try {
      return await fetch(`${o.url}${path}`, { ...init, signal: AbortSignal.timeout(o.timeoutMs) });
    } catch (err) {
      const e = err as Error;
      const why = e.name === 'TimeoutError' ? `did not answer within ${o.timeoutMs / 1000} s` : `could not be reached (${(e.cause as Error | undefined)?.message ?? e.message})`;
      throw new ServiceUnavailableError(`Keystone at ${o.url} ${why}`);
    }
  };

  const unavailable = async (res: Response, what: string) => {
    const text = (await res.text().catch(() => '')).slice(0, 200);
    return new ServiceUnavailableError(`Keystone at ${o.url} refused ${what}: ${res.status} ${text}`.trim());
  };

  const issueServiceToken = async (): Promise<string> => {
    const s = o.service;
    const body = {
      auth: {
        identity: { methods: ['password'], password: { user: { name: s.username, domain: { name: s.userDomain }, password: s.password } } },
        scope: { project: { name: s.project, domain: { name: s.projectDomain } } },
      },
    };
    const res = await call('/auth/tokens?nocatalog', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const token = res.headers.get('x-subject-token');
    if (res.status !== 201 || !token) throw await unavailable(res, "HIL's service user");
    const { token: t } = (await res.json()) as { token: KeystoneToken };
    service = { token, expiresAt: Date.parse(t.expires_at) };
    return token;
  };

  const serviceToken = (): Promise<string> => {
    if (service && service.expiresAt - RENEW_BEFORE_MS > Date.now()) return Promise.resolve(service.token);
    issuing ??= issueServiceToken().finally(() => (issuing = undefined));
    return issuing;
  };

  const validateWith = (serviceTok: string, token: string) =>
    call('/auth/tokens?nocatalog', { method: 'GET', headers: { 'x-auth-token': serviceTok, 'x-subject-token': token } });

  return {
    async validate(token) {
      let res = await validateWith(await serviceToken(), token);
      if (res.status === 401) {
        // Our own token was refused (expired early, revoked, Keystone's keys rotated): once more with a new one.
        await res.body?.cancel();
        service = undefined;
        res = await validateWith(await serviceToken(), token);
      }
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      if (res.status !== 200) throw await unavailable(res, 'to validate a token');
      return ((await res.json()) as { token: KeystoneToken }).token;
    },
  };
}
