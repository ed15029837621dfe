/**
 * What no request may bring in, refused before anything reads it, and every
 * refusal in upstream's `{"type", "msg"}` shape:
 * - a NUL character in a path parameter, the query or the body: PostgreSQL
 *   refuses it in text (a 500 before this), SQLite cut the text at it (two
 *   objects shown under one name): 400;
 * - an empty path segment where a name goes (`PUT /v0/project/`): 404, as
 *   upstream, whose router matched no route there (`hil project create
 *   "$UNSET"` must not create a project named "");
 * - a body nested deeper than MAX_DEPTH: 400 (the metadata writer recursed);
 * - a Content-Type that is not a media type at all: read as JSON, as
 *   upstream reads every body whatever its type;
 * - what the router or Node's HTTP parser refuse (bad percent-encoding, a name
 *   longer than MAX_NAME, headers too large, a malformed request line);
 * - an HTTP/1.1 request without a Host header (RFC 9112 §3.2 says 400; Node
 *   answers it with an empty body unless we check it ourselves).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HeadersTooLargeError, NotFoundError, ValidationError, type HilError } from '../errors.ts';
import { checking } from './binding.ts';
import { errorBody, statusOf } from './errors.ts';

/** Deeper than any body the API takes (metadata values included), far below what a recursive writer survives. */
export const MAX_DEPTH = 32;
/** The longest name a path segment may carry (Fastify's default of 100 is shorter than some real node names). */
export const MAX_NAME = 255;

const MEDIA_TYPE = /^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/;

/** Options for Fastify() that make the router's and the HTTP parser's refusals ours. */
export const edgeServerOptions = {
  routerOptions: { maxParamLength: MAX_NAME },
  http: { requireHostHeader: false },
  frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply) {
    const why = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? `a name in the URL is longer than ${MAX_NAME} characters` : 'the URL is not valid (bad percent-encoding?)';
    return send(reply, new ValidationError(`Request arguments are not valid for this request: ${why}`));
  },
  clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket) {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const e = err.code === 'HPE_HEADER_OVERFLOW' ? new HeadersTooLargeError('The request headers are too large') : new ValidationError('The request is not valid HTTP');
    const body = JSON.stringify(errorBody(e));
    const status = statusOf(e);
    if (socket.writable) socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
    socket.destroy();
  },
};

function send(reply: FastifyReply, err: HilError) {
  return reply.code(statusOf(err)).send(errorBody(err));
}

export function installEdge(app: FastifyInstance): void {
  app.addHook('onRequest', (req, reply, done) => {
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined) {
      return void send(reply, new ValidationError('The request is not valid HTTP: an HTTP/1.1 request needs a Host header'));
    }
    const type = req.headers['content-type'];
    if (type !== undefined && !MEDIA_TYPE.test(type)) req.headers['content-type'] = 'application/json';
    done();
  });
  app.addHook('preValidation', checking(checkRequest));
}

function checkRequest(req: FastifyRequest): void {
  const params = (req.params ?? {}) as Record<string, string>;
  for (const name in params) {
    if (params[name] === '') throw new NotFoundError(`No such API route: ${req.method} ${req.url.split('?')[0]}`);
  }
  const nul = [params, req.query, req.body].some(hasNul);
  if (nul) throw new ValidationError('Request arguments are not valid for this request: a NUL character is not allowed');
  if (depthOver(req.body, MAX_DEPTH)) throw new ValidationError(`Request arguments are not valid for this request: nested deeper than ${MAX_DEPTH} levels`);
}

/** Any string (key or value) in `v` holds a NUL. Iterative: `v` may be deep. */
function hasNul(v: unknown): boolean {
  const stack: unknown[] = [v];
  while (stack.length) {
    const x = stack.pop();
    if (typeof x === 'string') {
      if (x.includes('\0')) return true;
    } else if (x !== null && typeof x === 'object') {
      for (const [k, child] of Object.entries(x)) {
        if (k.includes('\0')) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/** Whether objects and arrays in `v` nest deeper than `max`. Iterative, for the same reason. */
export function depthOver(v: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[v, 0]];
  while (stack.length) {
    const [x, depth] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(x)) stack.push([child, depth + 1]);
  }
  return false;
}
