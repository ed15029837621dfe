/**
 * The HTTP side of the client: Basic auth or a bearer token, a request timeout, JSON in and
 * out, redirects followed (obmd's 307s; fetch drops our Authorization header
 * when the redirect leaves the HIL server), and API errors as HilApiError.
 */

export interface ClientOptions {
  /** Base URL of the HIL server, e.g. http://127.0.0.1:5000 */
  endpoint: string;
  username?: string;
  password?: string;
  /**
   * A token (Keystone's, or an OpenID provider's JWT), sent as
   * "Authorization: Bearer"; a function for tokens that expire, asked before
   * every request (it should cache). Used when username/password are not given.
   */
  token?: string | (() => Promise<string>);
  /** Per request (not for console streams); default 30 s. */
  timeoutMs?: number;
}

/** An error answered by the server (`type` and `msg` are upstream's), or a transport failure (`type` "ConnectionError"). */
export class HilApiError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'HilApiError';
    this.type = type;
    this.status = status;
  }
}

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';

/** A request body sent as it is (file uploads). */
export interface RawBody {
  body: Uint8Array | ReadableStream<Uint8Array>;
  contentType: string;
  /** Bytes, when known (sent as Content-Length, so that an oversized file is refused before it is sent). */
  length?: number;
}

export class HttpClient {
  readonly endpoint: string;
  readonly #auth: () => Promise<string | undefined>;
  readonly #timeoutMs: number;

  constructor(o: ClientOptions) {
    this.endpoint = checkedEndpoint(o.endpoint);
    const { token } = o;
    if (o.username !== undefined && o.password !== undefined) {
      const basic = `Basic ${base64(`${o.username}:${o.password}`)}`;
      this.#auth = async () => basic;
    } else if (typeof token === 'function') {
      this.#auth = async () => `Bearer ${await token()}`;
    } else {
      const header = token ? `Bearer ${token}` : undefined;
      this.#auth = async () => header;
    }
    this.#timeoutMs = o.timeoutMs ?? 30_000;
  }

  /** The Authorization header this client sends, if it has credentials. */
  authorization(): Promise<string | undefined> {
    return this.#auth();
  }

  /** The URL of an API route (under /v0), or with `api: false` of a route outside it (/version). */
  url(segments: string[], query?: Record<string, string | undefined>, api = true): string {
    const path = segments.map(encodeURIComponent).join('/');
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) q.set(k, v);
    const qs = q.size ? `?${q}` : '';
    return `${this.endpoint}${api ? '/v0' : ''}/${path}${qs}`;
  }

  /** Sends a request and returns the parsed JSON body (undefined for an empty one). */
  async call<T>(method: Method, segments: string[], body?: unknown, query?: Record<string, string | undefined>): Promise<T> {
    const res = await this.send(method, segments, { body, query, signal: AbortSignal.timeout(this.#timeoutMs) });
    const text = await res.text();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
  }

  /**
   * Sends a request and hands back the response for streaming. Throws HilApiError on an error status.
   * `raw` sends bytes instead of a JSON body (a file upload), with their length when it is known.
   */
  async send(
    method: Method,
    segments: string[],
    o: { body?: unknown; raw?: RawBody; query?: Record<string, string | undefined>; signal?: AbortSignal; api?: boolean } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    const auth = await this.#auth();
    if (auth) headers.authorization = auth;
    let payload: string | Uint8Array | ReadableStream<Uint8Array> | undefined;
    if (o.raw) {
      headers['content-type'] = o.raw.contentType;
      if (o.raw.length !== undefined) headers['content-length'] = String(o.raw.length);
      payload = o.raw.body;
    } else if (method !== 'GET') {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(o.body ?? {});
    }
    let res: Response;
    try {
      // A stream body must say it is sent while the answer may already come (duplex "half").
      const init = { method, headers, body: payload, redirect: 'follow', signal: o.signal, ...(payload instanceof ReadableStream ? { duplex: 'half' } : {}) };
      res = await fetch(this.url(segments, o.query, o.api), init as RequestInit);
    } catch (err) {
      const e = err as Error;
      const why = e.name === 'TimeoutError' ? `no answer within ${this.#timeoutMs} ms` : ((e.cause as Error | undefined)?.message ?? e.message);
      throw new HilApiError('ConnectionError', `cannot reach the HIL server at ${this.endpoint}: ${why}`, 0, { cause: err });
    }
    if (res.ok) return res;
    const text = await res.text();
    let type = 'unknown';
    let msg = text;
    try {
      const body = JSON.parse(text) as { type?: unknown; msg?: unknown };
      if (typeof body.type === 'string') type = body.type;
      if (typeof body.msg === 'string') msg = body.msg;
    } catch {
      // not JSON (an upstream HTML error page, or obmd): keep the raw text
    }
    throw new HilApiError(type, msg || `HTTP ${res.status}`, res.status);
  }
}

/**
 * The server's base URL without a trailing slash, or an error that says what
 * to write instead: the two mistakes people make are leaving out `http://`
 * (which fetch reports as "Invalid URL", or reads "localhost:5000" as a URL
 * of scheme "localhost:") and adding the API's own `/v0`.
 */
export function checkedEndpoint(endpoint: string): string {
  const trimmed = endpoint.trim().replace(/\/+$/, '');
  let url: URL | undefined;
  try {
    url = new URL(trimmed);
  } catch {
    // not a URL at all
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    const hint = /^[\w.-]+(:\d+)?(\/.*)?$/.test(trimmed) || /^\[[\da-f:]+\](:\d+)?/i.test(trimmed) ? `; did you mean http://${trimmed}?` : '';
    throw new TypeError(`the HIL endpoint must be an http:// or https:// URL such as http://127.0.0.1:5000, not "${endpoint}"${hint}`);
  }
  if (/\/v0$/.test(url.pathname)) {
    throw new TypeError(`the HIL endpoint is the server's base URL, without the API's /v0: use ${trimmed.replace(/\/v0$/, '')}`);
  }
  if (url.search || url.hash) throw new TypeError(`the HIL endpoint cannot have a query or fragment: "${endpoint}"`);
  return trimmed;
}

/** Base64 of the UTF-8 bytes of `text` (btoa alone takes only Latin-1). */
function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}
