/**
 * The auth backends this server knows, by `[auth] backend`. Adding one: a
 * file implementing AuthBackend (./interface.ts), one line in AUTH_BACKENDS,
 * and a run of the authorization matrix with it.
 */
import { Catalog } from '../catalog.ts';
import { databaseAuth } from './database.ts';
import type { AuthBackend, AuthContext } from './interface.ts';
import { nullAuth } from './null.ts';
import { keystoneAuth } from './keystone.ts';
import { KEYSTONE_PROJECT_MIGRATIONS } from './keystone-projects.ts';
import { oidcAuth } from './oidc.ts';
import type { MigrationSet } from '../../store/migrate.ts';

interface AuthFactory {
  readonly type: string;
  create(ctx: AuthContext): AuthBackend;
}

const AUTH_BACKENDS: AuthFactory[] = [
  { type: 'database', create: (ctx) => databaseAuth(ctx.db, { cacheMs: ctx.cacheMs, refreshMs: ctx.refreshMs }) },
  { type: 'null', create: () => nullAuth() },
  { type: 'keystone', create: (ctx) => keystoneAuth({ db: ctx.db, settings: needs(ctx.keystone, 'keystone'), cacheMs: ctx.cacheMs, refreshMs: ctx.refreshMs, log: ctx.log }) },
  { type: 'oidc', create: (ctx) => oidcAuth({ db: ctx.db, settings: needs(ctx.oidc, 'oidc'), cacheMs: ctx.cacheMs, refreshMs: ctx.refreshMs, log: ctx.log }) },
];

/** What the backends keep in the database (whichever is active, so that switching backends needs no migration). */
export const AUTH_MIGRATIONS: MigrationSet[] = [KEYSTONE_PROJECT_MIGRATIONS];

function needs<T>(settings: T | undefined, section: string): T {
  if (settings === undefined) throw new Error(`the ${section} auth backend needs the [${section}] settings`);
  return settings;
}

export const authBackends = new Catalog(AUTH_BACKENDS, { unknown: (name, known) => `${JSON.stringify(name)} is not an auth backend (known: ${known.join(', ')})` });

