/**
 * Who is calling: the request's credentials through the auth backend, before the handler
 * (after routing and schema validation, upstream's order). Routes marked
 * public skip it; /metrics with metrics.require_auth asks for an
 * administrator itself, on whichever listener serves it.
 */
import type { FastifyInstance } from 'fastify';
import { AuthorizationError } from '../errors.ts';
import { ANONYMOUS, requireAdmin } from '../core/principal.ts';
import type { AuthBackend, CredentialHeaders } from '../drivers/auth/interface.ts';

export const AUTHENTICATION_REQUIRED = 'Authentication failed. Authentication is required to use this service.';

export function installAuthentication(app: FastifyInstance, o: { auth: AuthBackend; requireAuthentication: boolean }): void {
  // Callback-style hooks: on every request, a promise per hook is measurable.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    done();
  });

  app.addHook('preHandler', async (req) => {
    // No route (404, 405) is answered before authentication, as upstream's routing did: a backend's
    // routes that are not mounted (/v0/auth/basic/… without database auth) are 404 for everyone.
    if (req.routeOptions.config.public || req.is404) {
      req.principal = ANONYMOUS;
      return;
    }
    const principal = await o.auth.authenticate(req.headers);
    if (principal) req.principal = principal;
    else if (o.requireAuthentication) throw new AuthorizationError(AUTHENTICATION_REQUIRED);
    else req.principal = ANONYMOUS;
  });
}

/** An administrator's credentials in `headers`, or AuthorizationError (401) as the API gives it. */
export async function requireAdminCredentials(auth: AuthBackend, headers: CredentialHeaders): Promise<void> {
  const principal = await auth.authenticate(headers);
  if (!principal) throw new AuthorizationError(AUTHENTICATION_REQUIRED);
  requireAdmin(principal);
}
