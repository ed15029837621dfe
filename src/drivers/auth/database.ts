/**
 * HTTP Basic against the user table. Hashing a password on every request is
 * what made upstream serve 5 requests a second; instead a verified
 * (username, password) pair is remembered for a short while. Admin flag and
 * projects are read on every request, so a change to them takes effect at once.
 */
import { hash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
import type { AuthBackend, Principal } from './interface.ts';
import { hashPassword, verifyPassword } from './password.ts';
import { runPrecompiled } from '../../store/precompiled.ts';

export function parseBasicAuth(header: string | undefined): { username: string; password: string } | null {
  if (!header?.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return null;
  const username = decoded.slice(0, i);
  const password = decoded.slice(i + 1);
  // A NUL in a name could never match a user, and PostgreSQL refuses it in a query.
  if (!username || !password || username.includes('\0')) return null;
  return { username, password };
}

interface CacheEntry {
  username: string;
  /** The stored hash it was verified against: a changed password misses. */
  passwordHash: string;
  /** Until when the password need not be verified again. */
  expires: number;
  principal: Principal;
  /** Until when the admin flag and projects need not be read again. */
  fresh: number;
}

export interface DatabaseAuthOptions {
  /** How long a verified username/password pair is trusted. */
  cacheMs: number;
  /**
   * How long the admin flag and project list of a cached caller are reused
   * before being read again. Changes made through this process drop them at
   * once; changes made through another process take effect within this time.
   */
  refreshMs: number;
}

export function databaseAuth(db: Kysely<Database>, options: DatabaseAuthOptions): AuthBackend {
  // Keyed by a salted SHA-256 of the whole Authorization header, so a cache
  // hit costs one hash and no decoding, and the cache never holds a password.
  // The salt is per process: a key is useless anywhere else.
  const salt = randomBytes(32).toString('base64');
  const cache = new Map<string, CacheEntry>();
  const keyOf = (header: string) => hash('sha256', salt + header, 'base64');
  // An unknown user is checked against a hash of nobody's password, so that
  // it takes as long as a known user with a wrong one: the answer's timing
  // must not tell which user names exist.
  let decoy: Promise<string> | undefined;
  const decoyHash = () => (decoy ??= hashPassword(randomBytes(32).toString('base64')));

  const loadUser = (username: string) =>
    runPrecompiled(db, 'auth.user', [username], (name: string) =>
      db
        .selectFrom('user')
        .leftJoin('user_project', 'user_project.user_id', 'user.id')
        .select(['user.id', 'user.is_admin', 'user.password_hash', 'user_project.project_id'])
        .where('user.label', '=', name),
    );

  const backend: AuthBackend = {
    type: 'database',
    extensionName: 'hil.ext.auth.database',

    async authenticate({ authorization: header }) {
      if (!header) return null;
      const key = keyOf(header);
      const hit = cache.get(key);
      const now = Date.now();
      if (hit && hit.expires > now && hit.fresh > now) return hit.principal;
      let username: string;
      let rows: Awaited<ReturnType<typeof loadUser>>;
      if (hit && hit.expires > now) {
        username = hit.username;
        rows = await loadUser(username);
        if (rows.length === 0) return null;
        if (rows[0].password_hash !== hit.passwordHash) {
          // Changed behind this cache's back (a new password; the user deleted and made again): check the password anew.
          cache.delete(key);
          return backend.authenticate({ authorization: header });
        }
      } else {
        const creds = parseBasicAuth(header);
        if (!creds) return null;
        username = creds.username;
        rows = await loadUser(username);
        const stored = rows.length ? rows[0].password_hash : await decoyHash();
        if (!(await verifyPassword(creds.password, stored)) || rows.length === 0) return null;
      }
      const user = rows[0];
      const principal: Principal = Object.freeze({
        authenticated: true,
        isAdmin: Boolean(user.is_admin),
        username,
        userId: user.id,
        projectIds: new Set(rows.map((r) => r.project_id).filter((id): id is number => id !== null)),
      });
      if (options.cacheMs > 0) {
        if (cache.size >= 10_000 && !hit) cache.clear(); // bounded: a flood of distinct credentials cannot grow it
        const expires = hit && hit.expires > now ? hit.expires : now + options.cacheMs;
        cache.set(key, { username, passwordHash: user.password_hash, expires, principal, fresh: now + options.refreshMs });
      }
      return principal;
    },

    invalidate(username) {
      // Anyone's: read admin flags and projects again, but keep the verified passwords (no rehash for everyone).
      if (username === undefined) {
        for (const entry of cache.values()) entry.fresh = 0;
        return;
      }
      for (const [key, entry] of cache) if (entry.username === username) cache.delete(key);
    },
  };
  return backend;
}
