/**
 * The auth backends this server knows, by `[auth] backend`. Adding one: a
 * file implementing AuthBackend (./interface.ts), one line in AUTH_BACKENDS,
 * and a run of the authorization matrix with it.
 */
import { Catalog } from '../catalog.ts';
import { databaseAuth } from './database.ts';
import type { AuthBackend, AuthContext } from './interface.ts';
import { nullAuth } from './null.ts';

interface AuthFactory {
  readonly type: string;
  create(ctx: AuthContext): AuthBackend;
}

const AUTH_BACKENDS: AuthFactory[] = [
  { type: 'database', create: (ctx) => databaseAuth(ctx.db, { cacheMs: ctx.cacheMs, refreshMs: ctx.refreshMs }) },
  { type: 'null', create: () => nullAuth() },
];

export const authBackends = new Catalog(AUTH_BACKENDS, { unknown: (name, known) => `${JSON.stringify(name)} is not an auth backend (known: ${known.join(', ')})` });

