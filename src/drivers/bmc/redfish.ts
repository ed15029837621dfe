/**
 * The `redfish` BMC: power and boot device over the DMTF Redfish REST API.
 *
 * Registration fields (`{"obm": {"type": "redfish", ...}}`):
 * - `url` (required): the BMC's base URL, `https://bmc.example[:port]`; Redfish
 *   paths (`/redfish/v1/...`) are resolved against its origin.
 * - `user`, `password` (required): a BMC account. The password is a secret.
 * - `system` (optional): the ComputerSystem's Id (`437XR1138R2`) or path
 *   (`/redfish/v1/Systems/437XR1138R2`). Default: the only member of the
 *   service root's Systems collection (an error if there are several).
 * - `insecure_tls` (optional boolean): accept the BMC's certificate without
 *   verifying it (self-signed). Only for this BMC's requests; default false.
 * - `auth` (optional): `session` (default: log in at
 *   /redfish/v1/SessionService/Sessions, send X-Auth-Token, DELETE the session
 *   at the end of each operation) or `basic` (HTTP Basic on every request).
 *
 * Operations, on the system's `#ComputerSystem.Reset` action target:
 * - power on / off: ResetType `On` / `ForceOff`, skipped when PowerState is
 *   already On / Off (many BMCs refuse a redundant reset with 409);
 * - power cycle: `ForceRestart` when forced, else `GracefulRestart`; a system
 *   that is Off gets `On`. When the action advertises its allowable values,
 *   the first allowed of a short list of equivalents is used instead.
 * - power status: PowerState `On` → on, `Off` → off, anything else → unknown.
 * - boot device: PATCH of the system's Boot with BootSourceOverrideTarget
 *   `Pxe` / `Hdd` and BootSourceOverrideEnabled `Continuous` (persistent, as
 *   upstream's IPMI `chassis bootdev ... options=persistent`; the driver option
 *   `bootOverride: 'Once'` makes it one-shot); `none` clears the override
 *   (Target `None`, Enabled `Disabled`).
 * - console: Redfish defines no serial console stream (SOL is over SSH or
 *   vendor OEM extensions), so the console streams nothing and ends when its
 *   signal aborts. It does not fail: the OBM service holds every enabled
 *   node's console in the background and would retry (and log) a failing one
 *   forever, and the client would not see the error anyway.
 *
 * Every HTTP request is bounded by `requestTimeoutMs` (default 10 s); the OBM
 * service bounds the whole operation with the configured OBM timeout. Errors
 * name the request and carry the BMC's status and its Redfish
 * `@Message.ExtendedInfo` messages; the password and session token never
 * appear in errors (they are scrubbed even from the BMC's own messages).
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BadArgumentError } from '../../errors.ts';
import type { BootDevice, ObmDriver, ObmTarget, PowerState } from './interface.ts';

export interface RedfishObmOptions {
  /** Bound on each HTTP request to the BMC, in ms (default 10 000). */
  requestTimeoutMs?: number;
  /** BootSourceOverrideEnabled for pxe/disk (default 'Continuous'). */
  bootOverride?: 'Continuous' | 'Once';
}

/** What the BMC said when it refused a request (no secrets in here). */
export class RedfishError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'RedfishError';
    this.status = status;
  }
}

interface Bmc {
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
const FIELDS: Record<string, (v: unknown) => boolean> = {
  url: (v) => typeof v === 'string',
  user: (v) => typeof v === 'string',
  password: (v) => typeof v === 'string',
  system: (v) => typeof v === 'string' && v !== '',
  insecure_tls: (v) => typeof v === 'boolean',
  auth: (v) => v === 'basic' || v === 'session',
};
const FIELD_HELP: Record<string, string> = {
  url: 'an http or https URL',
  user: 'a string',
  password: 'a string',
  system: 'a non-empty string (ComputerSystem Id or path)',
  insecure_tls: 'a boolean',
  auth: '"basic" or "session"',
};

/** ResetTypes to try, in order, when the action lists its allowable values. */
const RESET_CHOICES: Record<string, string[]> = {
  On: ['On', 'ForceOn', 'PushPowerButton'],
  ForceOff: ['ForceOff', 'GracefulShutdown', 'PushPowerButton'],
  ForceRestart: ['ForceRestart', 'PowerCycle', 'GracefulRestart'],
  GracefulRestart: ['GracefulRestart', 'PowerCycle', 'ForceRestart'],
};

function bmcOf(t: ObmTarget): Bmc {
  const p = t.params;
  return {
    url: new URL(String(p.url)),
    user: String(p.user),
    password: String(p.password),
    system: typeof p.system === 'string' ? p.system : undefined,
    insecureTls: p.insecure_tls === true,
    auth: p.auth === 'basic' ? 'basic' : 'session',
  };
}

/** The BMC's messages from a Redfish error body: ExtendedInfo, else error.message. */
function redfishMessages(body: any): string[] {
  const err = body && typeof body === 'object' ? body.error : undefined;
  if (!err || typeof err !== 'object') return [];
  const info = Array.isArray(err['@Message.ExtendedInfo']) ? err['@Message.ExtendedInfo'] : [];
  const msgs = info.map((m: any) => (m && typeof m.Message === 'string' ? m.Message : typeof m?.MessageId === 'string' ? m.MessageId : '')).filter(Boolean);
  if (msgs.length) return msgs;
  return typeof err.message === 'string' && err.message ? [err.message] : [];
}

export function redfishObmDriver(options: RedfishObmOptions = {}) {
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const bootOverride = options.bootOverride ?? 'Continuous';

  /** One operation's connection to a BMC: auth, requests, clean-up. */
  class Conn {
    #token: string | undefined;
    #session: string | undefined;
    readonly bmc: Bmc;
    constructor(bmc: Bmc) {
      this.bmc = bmc;
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
      const signal = AbortSignal.timeout(timeoutMs);
      return new Promise<Answer>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException) => {
          if (signal.aborted) return reject(new RedfishError(`Redfish BMC ${url.origin}: ${what} got no answer within ${timeoutMs} ms`));
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

  /** Runs one operation with its own session, ended afterwards. */
  async function withBmc<T>(t: ObmTarget, work: (c: Conn) => Promise<T>): Promise<T> {
    const c = new Conn(bmcOf(t));
    let result: T;
    try {
      result = await work(c);
    } catch (err) {
      // End the session; but do not wait on a BMC that may be hung.
      if (err instanceof RedfishError && err.status !== undefined) await c.logout();
      else void c.logout();
      throw err;
    }
    await c.logout();
    return result;
  }

  const driver: ObmDriver = {
    type: 'redfish',
    hasConsole: false,
    secretFields: ['password'],

    validateParams(params) {
      for (const [k, v] of Object.entries(params)) {
        const ok = FIELDS[k];
        if (!ok) throw new BadArgumentError(`unknown field "${k}" for a redfish OBM (known: ${Object.keys(FIELDS).join(', ')})`);
        if (!ok(v)) throw new BadArgumentError(`redfish OBM field "${k}" must be ${FIELD_HELP[k]}`);
      }
      for (const k of ['url', 'user', 'password']) if (!(k in params)) throw new BadArgumentError(`redfish OBM field "${k}" is required`);
      let url: URL;
      try {
        url = new URL(String(params.url));
      } catch {
        throw new BadArgumentError(`redfish OBM field "url" must be ${FIELD_HELP.url}`);
      }
      if (!['http:', 'https:'].includes(url.protocol) || url.username || url.password) throw new BadArgumentError(`redfish OBM field "url" must be ${FIELD_HELP.url} without credentials`);
    },

    setPower: (t, action) =>
      withBmc(t, async (c) => {
        const sys = await c.system();
        const want = action === 'on' ? 'On' : 'Off';
        if (sys.body?.PowerState === want) return;
        await c.reset(sys, action === 'on' ? 'On' : 'ForceOff');
      }),

    powerCycle: (t, force) =>
      withBmc(t, async (c) => {
        const sys = await c.system();
        await c.reset(sys, sys.body?.PowerState === 'Off' ? 'On' : force ? 'ForceRestart' : 'GracefulRestart');
      }),

    powerStatus: (t): Promise<PowerState> =>
      withBmc(t, async (c) => {
        const state = (await c.system()).body?.PowerState;
        return state === 'On' ? 'on' : state === 'Off' ? 'off' : 'unknown';
      }),

    setBootDevice: (t, device: BootDevice, persistent: boolean) =>
      withBmc(t, async (c) => {
        const path = await c.systemPath();
        const boot =
          device === 'none'
            ? { BootSourceOverrideTarget: 'None', BootSourceOverrideEnabled: 'Disabled' }
            : { BootSourceOverrideTarget: device === 'pxe' ? 'Pxe' : 'Hdd', BootSourceOverrideEnabled: persistent ? bootOverride : 'Once' };
        await c.call('PATCH', path, { Boot: boot });
      }),

    // Nothing to read: end only when the caller stops holding the console.
    async *console(_t, signal) {
      if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    },
  };
  return driver;
}
