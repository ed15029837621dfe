/**
 * One operation's connection to a Redfish BMC: HTTP(S) requests bounded by a
 * timeout, session or Basic authentication, the ComputerSystem to act on, its
 * Reset action, and the session's end. Secrets never leave in messages.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** What the BMC said when it refused a request (no secrets in here). */
export class RedfishError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'RedfishError';
    this.status = status;
  }
}

/** A BMC's registration fields, parsed. */
export interface RedfishBmc {
  url: URL;
  user: string;
  password: string;
  system: string | undefined;
  insecureTls: boolean;
  auth: 'basic' | 'session';
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
}

const SESSIONS = '/redfish/v1/SessionService/Sessions';
const SERVICE_ROOT = '/redfish/v1/';
const MAX_BODY = 4 * 1024 * 1024;

/** ResetTypes to try, in order, when the action lists its allowable values. */
const RESET_CHOICES: Record<string, string[]> = {
  On: ['On', 'ForceOn', 'PushPowerButton'],
  ForceOff: ['ForceOff', 'GracefulShutdown', 'PushPowerButton'],
  ForceRestart: ['ForceRestart', 'PowerCycle', 'GracefulRestart'],
  GracefulRestart: ['GracefulRestart', 'PowerCycle', 'ForceRestart'],
};

/** The BMC's messages from a Redfish error body: ExtendedInfo, else error.message. */
function redfishMessages(body: any): string[] {
  const err = body && typeof body === 'object' ? body.error : undefined;
  if (!err || typeof err !== 'object') return [];
  const info = Array.isArray(err['@Message.ExtendedInfo']) ? err['@Message.ExtendedInfo'] : [];
  const msgs = info.map((m: any) => (m && typeof m.Message === 'string' ? m.Message : typeof m?.MessageId === 'string' ? m.MessageId : '')).filter(Boolean);
  if (msgs.length) return msgs;
  return typeof err.message === 'string' && err.message ? [err.message] : [];
}

/** One operation's connection to a BMC: auth, requests, clean-up. */
export class RedfishConnection {
  #token: string | undefined;
  #session: string | undefined;
  readonly bmc: RedfishBmc;
  readonly #timeoutMs: number;
  constructor(bmc: RedfishBmc, timeoutMs: number) {
    this.bmc = bmc;
    this.#timeoutMs = timeoutMs;
  }

  /** Removes the secrets from any text that leaves the driver. */
  scrub(s: string): string {
    for (const secret of [this.bmc.password, this.#token]) if (secret) s = s.split(secret).join('<<CENSORED>>');
    return s;
  }

  fail(what: string, status: number | undefined, detail: string): never {
    throw new RedfishError(this.scrub(`Redfish BMC ${this.bmc.url.origin}: ${what}${status ? ` answered ${status}` : ''}${detail ? `: ${detail}` : ''}`), status);
  }

  raw(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
    const url = new URL(path, this.bmc.url);
    const what = `${method} ${url.pathname}`;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const h: Record<string, string> = { accept: 'application/json', 'odata-version': '4.0', ...headers };
    if (payload) {
      h['content-type'] = 'application/json';
      h['content-length'] = String(payload.length);
    }
    const https = url.protocol === 'https:';
    const signal = AbortSignal.timeout(this.#timeoutMs);
    return new Promise<Answer>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        if (signal.aborted) return reject(new RedfishError(`Redfish BMC ${url.origin}: ${what} got no answer within ${this.#timeoutMs} ms`));
        const hint = https && !this.bmc.insecureTls && /certificate|self.signed|CERT|UNABLE_TO_VERIFY/i.test(`${err.code} ${err.message}`) ? ' (set insecure_tls to accept a self-signed certificate)' : '';
        reject(new RedfishError(this.scrub(`Redfish BMC ${url.origin}: ${what} failed: ${err.code ?? err.message}${hint}`)));
      };
      const req = (https ? httpsRequest : httpRequest)(url, { method, headers: h, signal, ...(https && this.bmc.insecureTls ? { rejectUnauthorized: false, agent: false } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new Error('answer too large'));
          else chunks.push(c);
        });
        res.on('error', onError);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = undefined;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: an error page; the status says enough
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      });
      req.on('error', onError);
      req.end(payload);
    });
  }

  async login(): Promise<void> {
    const res = await this.raw('POST', SESSIONS, { UserName: this.bmc.user, Password: this.bmc.password }, {});
    if (res.status < 200 || res.status >= 300) this.fail(`login (POST ${SESSIONS})`, res.status, redfishMessages(res.body).join('; '));
    const token = res.headers['x-auth-token'];
    if (typeof token !== 'string' || !token) this.fail(`login (POST ${SESSIONS})`, undefined, 'no X-Auth-Token in the answer');
    this.#token = token;
    const location = typeof res.headers.location === 'string' ? res.headers.location : res.body?.['@odata.id'];
    this.#session = typeof location === 'string' ? new URL(location, this.bmc.url).pathname : undefined;
  }

  /** An authenticated request; a session that expired is renewed once. */
  async call(method: string, path: string, body?: unknown): Promise<any> {
    if (this.bmc.auth === 'session' && !this.#token) await this.login();
    let res = await this.raw(method, path, body, this.authHeader());
    if (res.status === 401 && this.bmc.auth === 'session') {
      await this.login();
      res = await this.raw(method, path, body, this.authHeader());
    }
    if (res.status < 200 || res.status >= 300) this.fail(`${method} ${new URL(path, this.bmc.url).pathname}`, res.status, redfishMessages(res.body).join('; '));
    return res.body;
  }

  authHeader(): Record<string, string> {
    if (this.bmc.auth === 'basic') return { authorization: 'Basic ' + Buffer.from(`${this.bmc.user}:${this.bmc.password}`).toString('base64') };
    return { 'x-auth-token': this.#token! };
  }

  /** Ends the session, if any (best effort). */
  async logout(): Promise<void> {
    const [token, session] = [this.#token, this.#session];
    if (!token || !session) return;
    await this.raw('DELETE', session, undefined, { 'x-auth-token': token }).catch(() => {});
  }

  async systemPath(): Promise<string> {
    const s = this.bmc.system;
    if (s) return s.startsWith('/') ? s : `/redfish/v1/Systems/${encodeURIComponent(s)}`;
    const root = await this.raw('GET', SERVICE_ROOT, undefined, this.bmc.auth === 'basic' ? this.authHeader() : {});
    const collection = (root.status === 200 && root.body?.Systems?.['@odata.id']) || '/redfish/v1/Systems';
    const members = ((await this.call('GET', collection))?.Members ?? []) as Array<{ '@odata.id'?: string }>;
    const ids = members.map((m) => m['@odata.id']).filter((x): x is string => typeof x === 'string');
    if (ids.length !== 1) this.fail(`GET ${collection}`, undefined, `${ids.length} systems (${ids.join(', ') || 'none'}); set the "system" field to one of them`);
    return ids[0];
  }

  async system(): Promise<{ path: string; body: any }> {
    const path = await this.systemPath();
    return { path, body: await this.call('GET', path) };
  }

  async reset(system: { path: string; body: any }, wanted: string): Promise<void> {
    const action = system.body?.Actions?.['#ComputerSystem.Reset'];
    const target = typeof action?.target === 'string' ? action.target : `${system.path}/Actions/ComputerSystem.Reset`;
    const allowed = action?.['ResetType@Redfish.AllowableValues'];
    let type = wanted;
    if (Array.isArray(allowed) && allowed.length) {
      const choice = (RESET_CHOICES[wanted] ?? [wanted]).find((c) => allowed.includes(c));
      if (!choice) this.fail(`POST ${target}`, undefined, `the system does not offer ResetType ${wanted} (offers ${allowed.join(', ')})`);
      type = choice;
    }
    await this.call('POST', target, { ResetType: type });
  }
}
