/**
 * Every failure as upstream's {"type", "msg"}: errors of ours by their type,
 * Fastify's own (validation, 404, 405) mapped. Shared by the API and the
 * metrics listener, so both answer in the one shape docs/errors.md lists.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HilError, MethodNotAllowedError, NotFoundError, NotImplementedError, ServerError, TooLargeError, ValidationError } from '../errors.ts';
import { INVALID_ARGS } from './binding.ts';
import { errorBody, statusOf } from './errors.ts';

const HTTP_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'] as const;

/** The error type each refused request was answered with, for its audit line (./route.ts). */
const answeredTypes = new WeakMap<FastifyRequest, string>();

/** The error type `req` was answered with, if it was refused. */
export function answeredErrorType(req: FastifyRequest): string | undefined {
  return answeredTypes.get(req);
}

function answer(req: FastifyRequest, reply: FastifyReply, err: HilError) {
  answeredTypes.set(req, err.type);
  return reply.code(statusOf(err)).send(errorBody(err));
}
/** How long the rest of a refused request's body is read before its connection is cut. */
const LINGER_MS = 500;

export function installErrorReplies(app: FastifyInstance): void {
  // An error answered before the request's body has all arrived (a 401 to an
  // upload) ends the connection instead of reading the rest: nobody may make
  // the server read 300 MB it will throw away. The rest is drained for a
  // moment first (a lingering close): closing on unread bytes would reset the
  // connection, and the client could lose the answer.
  app.addHook('onSend', (req, reply, payload, done) => {
    const socket = req.raw.socket;
    if (reply.statusCode >= 400 && !req.raw.complete && socket) {
      reply.header('connection', 'close');
      // Node ends such a connection with destroySoon() once the answer is written: instead,
      // end our side (the answer and a FIN reach the client) and cut it LINGER_MS later.
      socket.destroySoon = () => {
        socket.end();
        setTimeout(() => socket.destroy(), LINGER_MS).unref();
      };
    }
    done(null, payload);
  });
  app.setErrorHandler((err: FastifyError | HilError, req, reply) => {
    if (err instanceof HilError) {
      const status = statusOf(err);
      // Only a failure of ours is an error line (with its stack); what a client asked wrong, or a feature
      // this server does not offer, is not, so no client can flood the log at error level.
      if (status >= 500 && !(err instanceof NotImplementedError)) req.log.error({ err }, 'request failed');
      else req.log.info({ type: err.type, status }, 'request refused');
      return answer(req, reply, err);
    }
    if (err.validation) {
      return answer(req, reply, new ValidationError(`${INVALID_ARGS}: ${err.message}`));
    }
    const code = err.statusCode;
    if (code && code >= 400 && code < 500) {
      // Fastify's own refusals, in our catalog (one status per type): a body over the limit, or a malformed request.
      const mine = code === 413 ? new TooLargeError(err.message) : new ValidationError(err.message);
      req.log.info({ type: mine.type, status: statusOf(mine) }, 'request refused');
      return answer(req, reply, mine);
    }
    req.log.error({ err }, 'unexpected error');
    return answer(req, reply, new ServerError(`Internal server error (request ${req.id})`));
  });

  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0];
    const other = HTTP_METHODS.filter((m) => m !== req.method && app.findRoute({ method: m, url: path }));
    if (other.length) {
      reply.header('allow', other.join(', '));
      return reply.code(405).send(errorBody(new MethodNotAllowedError(`${req.method} is not allowed on ${path}`)));
    }
    return reply.code(404).send(errorBody(new NotFoundError(`No such API route: ${req.method} ${path}`)));
  });
}
