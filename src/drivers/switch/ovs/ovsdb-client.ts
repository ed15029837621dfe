/**
 * A small OVSDB client (RFC 7047: JSON-RPC 1.0 over a stream socket), just
 * enough for the ovs switch driver: `transact`, answering the server's `echo`
 * keepalives, and nothing else (no monitors, no locks). It talks to
 * ovsdb-server directly, so a change costs one socket round trip instead of
 * an `ovs-vsctl` process.
 *
 * Every failure is a SwitchError: it is the switch that failed, from HIL's
 * point of view. Errors of individual operations keep OVSDB's own error
 * object as `cause` ({ error, details, opIndex }) so callers can tell, e.g.,
 * a failed `wait` ("timed out") from a constraint violation.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { SwitchError } from '../../../errors.ts';

export type Endpoint = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** Parses `unix:/path` or `tcp:HOST:PORT` (`tcp:[::1]:6640` for IPv6); null when malformed. */
export function parseEndpoint(s: string): Endpoint | null {
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    return path.length > 0 ? { kind: 'unix', path } : null;
  }
  const m = /^tcp:(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { kind: 'tcp', host: m[1] ?? m[2], port };
}

/** One OVSDB operation, e.g. `{ op: 'select', table: 'Port', where: [...] }`. */
export type OvsdbOp = { op: string; [key: string]: unknown };

/** What an operation failed with, attached as `cause` to the SwitchError. */
export interface OvsdbOpError {
  error: string;
  details?: string;
  /** Index of the failing operation, or ops.length for a commit failure. */
  opIndex: number;
}

export interface OvsdbClientOptions {
  /** Database name in `transact`; default "Open_vSwitch". */
  database?: string;
  /** Give up connecting after this long; default 5000 ms. */
  connectTimeoutMs?: number;
  /** Give up waiting for a reply after this long; default 15000 ms. */
  requestTimeoutMs?: number;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Splits a stream of concatenated JSON texts (RFC 7047 sends no delimiter)
 * by tracking nesting outside strings. Input is decoded text, so multi-byte
 * characters split across TCP chunks are already whole (StringDecoder).
 */
export class JsonStreamParser {
  #buf = '';
  #pos = 0; // next character to scan
  #start = -1; // where the current value began, -1 between values
  #depth = 0;
  #inString = false;
  #escape = false;

  /** Feeds text; returns the complete values it finished. Throws on garbage between values. */
  push(text: string): unknown[] {
    this.#buf += text;
    const out: unknown[] = [];
    const buf = this.#buf;
    for (let i = this.#pos; i < buf.length; i++) {
      const c = buf[i];
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === '\\') this.#escape = true;
        else if (c === '"') this.#inString = false;
        continue;
      }
      if (this.#start < 0) {
        if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
        if (c !== '{' && c !== '[') throw new SwitchError(`OVSDB protocol error: unexpected ${JSON.stringify(c)} between messages`);
        this.#start = i;
      }
      if (c === '"') this.#inString = true;
      else if (c === '{' || c === '[') this.#depth++;
      else if (c === '}' || c === ']') {
        if (--this.#depth === 0) {
          out.push(JSON.parse(buf.slice(this.#start, i + 1)));
          this.#start = -1;
        }
      }
    }
    // Keep only the unfinished value.
    const keepFrom = this.#start < 0 ? buf.length : this.#start;
    this.#buf = buf.slice(keepFrom);
    this.#pos = this.#buf.length;
    if (this.#start >= 0) this.#start = 0;
    return out;
  }
}

export class OvsdbClient {
  readonly endpoint: string;
  /** How many `transact` requests this client has sent (tests and benchmarks count round trips). */
  transactions = 0;
  readonly #socket: Socket;
  readonly #database: string;
  readonly #requestTimeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closedBecause: SwitchError | null = null;

  private constructor(endpoint: string, socket: Socket, o: OvsdbClientOptions) {
    this.endpoint = endpoint;
    this.#socket = socket;
    this.#database = o.database ?? 'Open_vSwitch';
    this.#requestTimeoutMs = o.requestTimeoutMs ?? 15000;
    const decoder = new StringDecoder('utf8');
    const parser = new JsonStreamParser();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const msg of parser.push(decoder.write(chunk))) this.#onMessage(msg);
      } catch (err) {
        this.#fail(err instanceof SwitchError ? err : new SwitchError(`OVSDB protocol error from ${endpoint}: ${(err as Error).message}`));
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.#fail(new SwitchError(`OVSDB connection to ${endpoint} failed: ${err.message}`)));
    socket.on('close', () => this.#fail(new SwitchError(`OVSDB connection to ${endpoint} closed`)));
  }

  /** Connects to `unix:/path` or `tcp:HOST:PORT`. */
  static connect(endpoint: string, o: OvsdbClientOptions = {}): Promise<OvsdbClient> {
    const ep = parseEndpoint(endpoint);
    if (!ep) return Promise.reject(new SwitchError(`invalid OVSDB endpoint ${JSON.stringify(endpoint)} (expected unix:/path or tcp:HOST:PORT)`));
    return new Promise((resolve, reject) => {
      const socket = ep.kind === 'unix' ? netConnect({ path: ep.path }) : netConnect({ host: ep.host, port: ep.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SwitchError(`cannot connect to OVSDB at ${endpoint}: no answer within ${o.connectTimeoutMs ?? 5000} ms`));
      }, o.connectTimeoutMs ?? 5000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new SwitchError(`cannot connect to OVSDB at ${endpoint}: ${err.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        if (ep.kind === 'tcp') socket.setNoDelay(true);
        resolve(new OvsdbClient(endpoint, socket, o));
      });
    });
  }

  /**
   * Runs one OVSDB transaction and returns its per-operation results. Throws
   * SwitchError if the request fails or any operation (or the commit) failed;
   * OVSDB then rolled the whole transaction back.
   */
  async transact(ops: OvsdbOp[], o: { timeoutMs?: number } = {}): Promise<Record<string, unknown>[]> {
    this.transactions++;
    const result = await this.request('transact', [this.#database, ...ops], o.timeoutMs);
    if (!Array.isArray(result)) throw new SwitchError(`OVSDB at ${this.endpoint}: malformed transact reply ${JSON.stringify(result)}`);
    for (let i = 0; i < result.length; i++) {
      const r = result[i] as { error?: unknown; details?: unknown } | null;
      if (r && typeof r === 'object' && r.error != null) {
        const cause: OvsdbOpError = { error: String(r.error), details: r.details == null ? undefined : String(r.details), opIndex: i };
        const what = i < ops.length ? `operation ${i} (${ops[i].op}${ops[i].table ? ` ${String(ops[i].table)}` : ''})` : 'commit';
        throw new SwitchError(`OVSDB at ${this.endpoint}: ${what} failed: ${cause.error}${cause.details ? `: ${cause.details}` : ''}`, { cause });
      }
    }
    if (result.length < ops.length) throw new SwitchError(`OVSDB at ${this.endpoint}: transact returned ${result.length} results for ${ops.length} operations`);
    return result as Record<string, unknown>[];
  }

  /** Sends one JSON-RPC request and resolves with its `result`. */
  request(method: string, params: unknown[], timeoutMs = this.#requestTimeoutMs): Promise<unknown> {
    if (this.#closedBecause) return Promise.reject(this.#closedBecause);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new SwitchError(`OVSDB at ${this.endpoint}: no reply to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#socket.write(JSON.stringify({ method, params, id }));
    });
  }

  /** Closes the connection; pending requests fail. Safe to call twice. */
  close(): Promise<void> {
    this.#fail(new SwitchError(`OVSDB connection to ${this.endpoint} was closed by the client`));
    if (this.#socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.end();
      // A peer that never acknowledges the FIN must not keep us waiting.
      setTimeout(() => this.#socket.destroy(), 1000).unref();
    });
  }

  #onMessage(msg: unknown): void {
    const m = msg as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (typeof m.method === 'string') {
      // A request or notification from the server. Only "echo" needs an answer (RFC 7047 §4.1.11).
      if (m.id === undefined || m.id === null) return;
      const reply = m.method === 'echo' ? { id: m.id, result: m.params ?? [], error: null } : { id: m.id, result: null, error: `unknown method ${m.method}` };
      this.#socket.write(JSON.stringify(reply));
      return;
    }
    if (typeof m.id !== 'number') return;
    const p = this.#pending.get(m.id);
    if (!p) return; // a reply that came after its request timed out
    this.#pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error != null) {
      const e = m.error as { error?: unknown; details?: unknown } | string;
      const text = typeof e === 'string' ? e : `${String(e.error)}${e.details ? `: ${String(e.details)}` : ''}`;
      p.reject(new SwitchError(`OVSDB at ${this.endpoint}: ${text}`));
    } else {
      p.resolve(m.result);
    }
  }

  #fail(err: SwitchError): void {
    this.#closedBecause ??= err;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(err);
    }
  }
}
