/**
 * Upstream's argument-binding rules (spec §2), as Fastify hooks:
 * non-GET arguments come from a JSON object body (empty body = {}),
 * whatever the Content-Type, since upstream's client sends none; GET
 * arguments come from the query string, a GET with a body is refused, and so
 * is an empty query value; a name may not come from both path and body.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError } from '../errors.ts';

export const INVALID_ARGS = 'Request arguments are not valid for this request';

export function installBinding(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new ValidationError('The request body is not valid JSON'), undefined);
    }
  });

  app.addHook('preValidation', checking(checkArguments));
}

/**
 * A preValidation hook that runs `check` and refuses the request with what
 * it throws. Callback style: it runs on every request, and an async hook
 * costs a promise.
 */
export function checking(check: (req: FastifyRequest) => void) {
  return (req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void => {
    try {
      check(req);
      done();
    } catch (err) {
      done(err as Error);
    }
  };
}

function checkArguments(req: FastifyRequest): void {
  const params = (req.params ?? {}) as Record<string, string>;
  if (req.method === 'GET' || req.method === 'HEAD') {
    if (hasBody(req)) throw new ValidationError('A GET request must not have a body');
    const query = req.query as Record<string, unknown>;
    for (const k in query) {
      if (query[k] === '') throw new ValidationError('Empty parameter specified');
      if (k in params) throw new ValidationError(`${INVALID_ARGS}: "${k}" given twice`);
    }
    return;
  }
  if (req.body === undefined || req.body === null) req.body = {};
  if (typeof req.body !== 'object' || Array.isArray(req.body)) throw new ValidationError(`${INVALID_ARGS}: the body must be a JSON object`);
  for (const k of Object.keys(req.body as object)) {
    if (k in params) throw new ValidationError(`${INVALID_ARGS}: "${k}" given twice`);
  }
}

function hasBody(req: FastifyRequest): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

const PORT_ROUTE = /^(\/v0\/switch\/[^/?]+\/port\/)([^?]+)(\?.*)?$/;
const PORT_ACTIONS = ['connect_nic', 'detach_nic', 'revert'];

/**
 * Port names may contain slashes ("gi1/0/3"). Before routing, the slashes of
 * the port part are escaped so that one `:port` parameter matches it; on a
 * POST the last segment is the action (connect_nic, detach_nic, revert).
 */
export function rewritePortUrl(method: string, url: string): string {
  const m = PORT_ROUTE.exec(url);
  if (!m) return url;
  const [, prefix, rest, query = ''] = m;
  if (rest.endsWith('/')) return url; // trailing slash: let it 404 like any other route
  let port = rest;
  let action = '';
  const last = rest.lastIndexOf('/');
  if (method === 'POST' && last > 0 && PORT_ACTIONS.includes(rest.slice(last + 1))) {
    port = rest.slice(0, last);
    action = rest.slice(last);
  }
  return prefix + port.replaceAll('/', '%2F') + action + query;
}
