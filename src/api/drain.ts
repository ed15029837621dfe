/**
 * Graceful shutdown of an HTTP app. Once the process is stopping, requests
 * arriving on connections still open are answered 503 ServiceUnavailableError
 * (except the probes and /metrics, which say themselves that the process is
 * stopping), and every answer closes its connection. close() stops
 * accepting connections, closes idle keep-alive connections at once, lets
 * requests in flight finish for up to the grace period, saying every second
 * what it waits for, and then closes every connection left: those with no
 * request (nothing is lost) once the last request is answered, or all of
 * them when the grace is over.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ServiceUnavailableError } from '../errors.ts';
import { errorBody, statusOf } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answered as usual while the process stops (the probes, /metrics). */
    duringShutdown?: boolean;
  }
}

/** How often close() says what it is waiting for. */
const REPORT_MS = 1000;
/** Requests named in one waiting line; the count says how many more. */
const NAMED = 5;
/** Tries, 10 ms apart, for Fastify to have closed the listener. */
const LISTENER_WAITS = 100;

export class Drain {
  readonly #stopping: () => boolean;
  /** Requests being answered, as "METHOD /path" (no query string: it is the client's business). */
  readonly #inFlight = new Map<FastifyRequest, string>();
  /** Called when the last request in flight is answered. */
  #emptied: Array<() => void> = [];

  constructor(stopping: () => boolean) {
    this.#stopping = stopping;
  }

  install(app: FastifyInstance): void {
    app.addHook('onRequest', (req, reply, done) => {
      if (this.#stopping()) {
        reply.header('connection', 'close');
        if (!req.routeOptions.config.duringShutdown) {
          const err = new ServiceUnavailableError('The server is shutting down; try again, or another server.');
          return void reply.code(statusOf(err)).send(errorBody(err));
        }
      }
      // A WebSocket ends with its console (stopped before the HTTP server), not with an answer.
      if (req.headers.upgrade) return done();
      this.#inFlight.set(req, `${req.method} ${req.url.split('?')[0]}`);
      // Whichever comes first: the answer sent, or the client gone.
      reply.raw.once('close', () => this.#forget(req));
      done();
    });
    app.addHook('onResponse', (req, _reply, done) => {
      this.#forget(req);
      done();
    });
    // An answer given while stopping ends its connection, so that no client keeps it open for the next request.
    app.addHook('onSend', (_req, reply, payload, done) => {
      if (this.#stopping()) reply.header('connection', 'close');
      done(null, payload);
    });
  }

  #forget(req: FastifyRequest): void {
    if (this.#inFlight.delete(req) && this.#inFlight.size === 0) for (const f of this.#emptied.splice(0)) f();
  }

  /** Resolves when no request is in flight. */
  #allAnswered(): Promise<void> {
    if (this.#inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#emptied.push(resolve));
  }

  /** What is being answered now, oldest first. */
  inFlight(): string[] {
    return [...this.#inFlight.values()];
  }

  /** Closes `app` as the file's comment says; resolves when every connection is gone. */
  async close(app: FastifyInstance, o: { graceMs: number; log: Logger; name: string }): Promise<void> {
    const started = Date.now();
    const report = () => {
      const waiting = this.inFlight();
      if (waiting.length === 0) return;
      const left = Math.max(0, o.graceMs - (Date.now() - started));
      const named = waiting.slice(0, NAMED).join(', ') + (waiting.length > NAMED ? `, and ${waiting.length - NAMED} more` : '');
      o.log.info({ requests: waiting.length, graceLeftMs: left }, `stopping: ${o.name} waiting for ${waiting.length} request${waiting.length === 1 ? '' : 's'}: ${named}`);
    };
    report();
    const closed = app.close(); // no new connections; idle keep-alive ones closed now
    const ticker = setInterval(report, REPORT_MS);
    let graceOver: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<'out of time'>((resolve) => (graceOver = setTimeout(() => resolve('out of time'), o.graceMs)));
    if ((await Promise.race([this.#allAnswered(), outOfTime])) === 'out of time') {
      const left = this.inFlight();
      o.log.warn({ requests: left.length }, `stopping: ${o.name}: the grace of ${o.graceMs} ms is over; cutting ${left.length} request(s): ${left.slice(0, NAMED).join(', ')}`);
    }
    // What is left has no request in flight (a keep-alive connection between requests), or ran out of
    // time. Fastify closes the listener after its preClose hooks: a connection accepted before that
    // would otherwise hold the close until it timed out.
    for (let i = 0; i < LISTENER_WAITS && app.server.listening; i++) await sleep(10);
    app.server.closeAllConnections();
    const cut = graceOver;
    try {
      await closed;
    } finally {
      clearInterval(ticker);
      clearTimeout(cut);
    }
  }
}
