/**
 * HTTP Basic against the user table. Hashing a password on every request is
 * what made upstream serve 5 requests a second; instead a verified
 * (username, password) pair is remembered for a short while, keyed by a keyed
 * digest so the cache never holds a password. Admin flag and projects are
 * read on every request, so a change to them takes effect at once.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
import type { Principal } from '../principal.ts';
import type { AuthBackend } from './auth-backend.ts';
import { verifyPassword } from './password.ts';

export function parseBasicAuth(header: string | undefined): { username: string; password: string } | null {
  if (!header?.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return null;
  const username = decoded.slice(0, i);
  const password = decoded.slice(i + 1);
  if (!username || !password) return null;
  return { username, password };
}

interface CacheEntry {
  digest: Buffer;
  passwordHash: string;
  expires: number;
}

export function databaseAuth(db: Kysely<Database>, options: { cacheSeconds: number }): AuthBackend {
  const key = randomBytes(32); // per process: a digest is useless outside it
  const cache = new Map<string, CacheEntry>();
  const digestOf = (u: string, p: string) => createHmac('sha256', key).update(u).update('\0').update(p).digest();

  return {
    extensionName: 'hil.ext.auth.database',

    async authenticate(header) {
      const creds = parseBasicAuth(header);
      if (!creds) return null;
      const rows = await db
        .selectFrom('user')
        .leftJoin('user_project', 'user_project.user_id', 'user.id')
        .select(['user.id', 'user.is_admin', 'user.password_hash', 'user_project.project_id'])
        .where('user.label', '=', creds.username)
        .execute();
      if (rows.length === 0) return null;
      const user = rows[0];

      const digest = digestOf(creds.username, creds.password);
      const hit = cache.get(creds.username);
      const cached = hit && hit.expires > Date.now() && hit.passwordHash === user.password_hash && timingSafeEqual(hit.digest, digest);
      if (!cached) {
        if (!(await verifyPassword(creds.password, user.password_hash))) return null;
        if (options.cacheSeconds > 0) {
          cache.set(creds.username, { digest, passwordHash: user.password_hash, expires: Date.now() + options.cacheSeconds * 1000 });
        }
      }
      const principal: Principal = {
        authenticated: true,
        isAdmin: Boolean(user.is_admin),
        username: creds.username,
        userId: user.id,
        projectIds: new Set(rows.map((r) => r.project_id).filter((id): id is number => id !== null)),
      };
      return principal;
    },

    invalidate(username) {
      if (username === undefined) cache.clear();
      else cache.delete(username);
    },
  };
}
