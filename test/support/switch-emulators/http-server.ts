/**
 * The shared half of the REST emulators (Brocade VDX, Dell OS9): node:http
 * on 127.0.0.1 (a random port), HTTP Basic authentication, the request log,
 * and the RunningEmulator around them. The vendor supplies one handler that
 * turns a request into a reply; configuration changes in it go through
 * `state.change()` like a CLI's, and a ConfigLockedError it lets escape
 * becomes the vendor's `configLocked` reply.
 *
 * ```ts
 * return startHttpEmulator({ vendor: 'brocade', state, options: o,
 *   configLocked: () => ({ status: 409, contentType: 'application/vnd.configuration.resource+xml', body: '<errors>…</errors>' }),
 *   async handler(req) {
 *     if (req.method === 'PUT' && req.path.startsWith('/rest/config/running/interface/')) {
 *       await state.change(() => { … });
 *       return { status: 204 };
 *     }
 *     return { status: 404, body: '' };
 *   },
 * });
 * ```
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { ConfigLockedError, type DeviceState } from './device-state.ts';
import type { EmulatorOptions, RunningEmulator } from './model.ts';
import { stillAnswering } from './hung.ts';

export interface HttpRequest {
  readonly method: string;
  /** The path as sent (percent-escapes kept, e.g. `…/TenGigabitEthernet/%221/0/10%22/…`), without the query. */
  readonly path: string;
  /** The query string without "?", or "". */
  readonly query: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** The authenticated user. */
  readonly username: string;
  /** Appends a line to the emulator's log (e.g. each CLI command inside an OS9 REST body). */
  log(line: string): void;
}

export interface HttpReply {
  status: number;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

export type HttpHandler = (req: HttpRequest) => HttpReply | Promise<HttpReply>;

export interface HttpEmulatorSpec<P> {
  vendor: string;
  state: DeviceState<P>;
  options: EmulatorOptions;
  handler: HttpHandler;
  /** The reply when a change meets Faults.configLocked; default 503 with a plain message. */
  configLocked?: () => HttpReply;
  /** The Basic realm in the 401's WWW-Authenticate; default the vendor. */
  realm?: string;
}

export interface HttpEmulator<P> extends RunningEmulator {
  readonly state: DeviceState<P>;
}

/** Whether an Authorization header carries these Basic credentials (compared in constant time). */
export function basicAuthMatches(header: string | undefined, username: string, password: string): string | null {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return null;
  const given = Buffer.from(Buffer.from(m[1], 'base64').toString('utf8'));
  const wanted = Buffer.from(`${username}:${password}`);
  return given.length === wanted.length && timingSafeEqual(given, wanted) ? username : null;
}

export async function startHttpEmulator<P>(spec: HttpEmulatorSpec<P>): Promise<HttpEmulator<P>> {
  const { state, options: o } = spec;
  await state.applyAll(); // the data plane starts as the (saved) running configuration says
  const log: string[] = [];
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    void serve(req, res);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const method = req.method ?? 'GET';
    log.push(`${method} ${url}`);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const username = basicAuthMatches(req.headers.authorization, o.username, o.password);
    if (!username) {
      return send(res, { status: 401, body: 'Unauthorized', contentType: 'text/plain', headers: { 'www-authenticate': `Basic realm="${spec.realm ?? spec.vendor}"` } });
    }
    await stillAnswering(state.faults); // a hung switch answers no request, old or new
    const request: HttpRequest = {
      method,
      path: q < 0 ? url : url.slice(0, q),
      query: q < 0 ? '' : url.slice(q + 1),
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      username,
      log: (line) => void log.push(line),
    };
    let reply: HttpReply;
    try {
      reply = await spec.handler(request);
    } catch (err) {
      if (err instanceof ConfigLockedError) reply = spec.configLocked?.() ?? { status: 503, body: 'configuration locked', contentType: 'text/plain' };
      else reply = { status: 500, body: err instanceof Error ? err.message : String(err), contentType: 'text/plain' };
    }
    await stillAnswering(state.faults);
    send(res, reply);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listenPort ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    vendor: spec.vendor,
    host: '127.0.0.1',
    port,
    state,
    log,
    faults: state.faults,
    effective: (p) => state.effective(p),
    get unsaved() {
      return state.unsaved;
    },
    dropSessions() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      // The backing (options.backing) belongs to whoever made it, and is closed by them.
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, r: HttpReply): void {
  if (res.destroyed) return;
  const headers: Record<string, string> = { ...r.headers };
  if (r.contentType) headers['content-type'] = r.contentType;
  res.writeHead(r.status, headers);
  res.end(r.body ?? '');
}
