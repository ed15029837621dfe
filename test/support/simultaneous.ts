/**
 * Sends HTTP requests so that a server receives them at the same instant:
 * each on its own TCP connection (no keep-alive, no pooling), all headers
 * and all but the last byte of every body sent first, then, once every
 * connection holds its partial request, the last bytes in one synchronous
 * loop (a "last-byte barrier"). A server only starts a request's handler
 * when its body is complete, so every handler starts in the same turn of
 * the server's event loop, which is what makes check-then-write races show.
 *
 * Every request needs a body for that: a mutation without arguments sends
 * `{}`, which the /v0 API reads as no arguments; an upload sends its bytes.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SimultaneousRequest {
  method: string;
  /** Path and query, e.g. /v0/project/p/connect_node. */
  path: string;
  /** JSON body; `{}` when omitted. */
  body?: unknown;
  /** Sent as is, as application/octet-stream, instead of `body` (uploads). */
  raw?: Buffer;
  headers?: Record<string, string>;
}

export interface SimultaneousAnswer {
  status: number;
  /** The body parsed as JSON, or the text when it is not JSON. */
  body: any;
  text: string;
  /** The server's x-request-id, to find the request in its log. */
  requestId?: string;
}

/** How long the partial requests sit on their connections before the barrier opens. */
const SETTLE_MS = 15;

interface Held {
  send(): void;
  answer: Promise<SimultaneousAnswer>;
}

/** Opens the connection and sends everything but the last byte; `send()` sends that. */
function hold(base: URL, r: SimultaneousRequest): Promise<Held> {
  const payload = r.raw ?? Buffer.from(JSON.stringify(r.body ?? {}));
  if (payload.length === 0) throw new Error(`${r.method} ${r.path}: an empty body cannot be held back`);
  const contentType = r.raw ? 'application/octet-stream' : 'application/json';
  return new Promise((held, failed) => {
    let answered!: (a: SimultaneousAnswer) => void;
    let broke!: (e: Error) => void;
    const answer = new Promise<SimultaneousAnswer>((res, rej) => ((answered = res), (broke = rej)));
    answer.catch(() => {}); // a connection that breaks before its answer is awaited must not be "unhandled"
    const req = http.request({
      host: base.hostname,
      port: base.port,
      method: r.method,
      path: r.path,
      agent: false,
      headers: { ...r.headers, 'content-type': contentType, 'content-length': String(payload.length), connection: 'close' },
    });
    req.on('error', (e) => (failed(e), broke(e)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', broke);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = text === '' ? '' : JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        answered({ status: res.statusCode!, body, text, requestId: res.headers['x-request-id'] as string | undefined });
      });
    });
    req.flushHeaders();
    req.write(payload.subarray(0, -1), (err) => (err ? failed(err) : held({ send: () => req.end(payload.subarray(-1)), answer })));
  });
}

/** Sends every request at once (see the file comment); answers in the order given. */
export async function sendSimultaneously(baseUrl: string, requests: SimultaneousRequest[]): Promise<SimultaneousAnswer[]> {
  const base = new URL(baseUrl);
  const held = await Promise.all(requests.map((r) => hold(base, r)));
  await sleep(SETTLE_MS); // let the server accept every connection and parse every header
  for (const h of held) h.send();
  return Promise.all(held.map((h) => h.answer));
}
