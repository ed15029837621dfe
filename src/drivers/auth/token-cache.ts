/**
 * What the token backends (keystone, oidc) share: a token confirmed once is
 * remembered, so the common request costs one hash and a map lookup instead
 * of a call to Keystone or a signature check.
 *
 * - A confirmed token is trusted for `cacheMs`, never past its own expiry:
 *   a token revoked in Keystone stops working within `cacheMs`.
 * - What it grants (admin, HIL projects) is worked out again from the
 *   database every `refreshMs`, and at once after `invalidate()`, so a
 *   project created, deleted or mapped takes effect like a database user's.
 * - Concurrent first uses of one token share one confirmation, and a token
 *   the authority refused is refused again for REFUSAL_MS without asking:
 *   a client retrying a bad token (or a flood of them) does not turn into
 *   as many calls to Keystone.
 * - Keys are a salted SHA-256 of the token (salt per process): the cache
 *   never holds a usable token.
 */
import { hash, randomBytes } from 'node:crypto';
import type { AuthBackend, Principal } from './interface.ts';

export interface Confirmed<I> {
  /** What the token says about its bearer, as the backend reads it. */
  identity: I;
  /** When the token itself expires, in ms since the epoch. */
  expiresAt: number;
}

export interface TokenCacheOptions<I> {
  cacheMs: number;
  refreshMs: number;
  /** Asks the authority (Keystone, the key set): null for a token it does not confirm. */
  confirm(token: string): Promise<Confirmed<I> | null>;
  /** What a confirmed identity may do here; null: nothing (e.g. a Keystone project HIL does not know). */
  grant(identity: I): Promise<Principal | null>;
}

interface Entry<I> {
  identity: I;
  /** Until when the token need not be confirmed again. */
  until: number;
  principal: Principal | null;
  /** Until when `principal` need not be worked out again. */
  fresh: number;
}

/** A flood of distinct tokens cannot grow the cache past this. */
const MAX_ENTRIES = 10_000;
/** How long a refused token is refused without asking again (never longer than cacheMs). */
const REFUSAL_MS = 2_000;

export interface TokenCache {
  authenticate(token: string): Promise<Principal | null>;
  /** Work out every cached grant again on its next use. */
  invalidate(): void;
}

export function tokenCache<I>(o: TokenCacheOptions<I>): TokenCache {
  const salt = randomBytes(32).toString('base64');
  const keyOf = (token: string) => hash('sha256', salt + token, 'base64');
  const entries = new Map<string, Entry<I>>();
  /** Refused tokens' keys, and until when. */
  const refused = new Map<string, number>();
  const confirming = new Map<string, Promise<Confirmed<I> | null>>();
  // Bumped by invalidate(): a grant worked out before it must not be stored after it.
  let generation = 0;

  /** Room for one more in `map`: first what has expired, then (a flood of live ones) everything. */
  const makeRoom = <V>(map: Map<string, V>, until: (v: V) => number) => {
    if (map.size < MAX_ENTRIES) return;
    const now = Date.now();
    for (const [k, v] of map) if (until(v) <= now) map.delete(k);
    if (map.size >= MAX_ENTRIES) map.clear();
  };

  const remember = (key: string, entry: Entry<I>) => {
    if (o.cacheMs <= 0) return;
    if (!entries.has(key)) makeRoom(entries, (e) => e.until);
    entries.set(key, entry);
  };

  const refuse = (key: string) => {
    const ms = Math.min(REFUSAL_MS, o.cacheMs);
    if (ms <= 0) return;
    makeRoom(refused, (until) => until);
    refused.set(key, Date.now() + ms);
  };

  const confirmOnce = (key: string, token: string) => {
    let pending = confirming.get(key);
    if (!pending) {
      pending = o.confirm(token).finally(() => confirming.delete(key));
      confirming.set(key, pending);
    }
    return pending;
  };

  return {
    async authenticate(token) {
      const key = keyOf(token);
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && hit.until > now) {
        if (hit.fresh > now) return hit.principal;
        const seen = generation;
        const principal = await o.grant(hit.identity);
        if (seen === generation) remember(key, { ...hit, principal, fresh: Date.now() + o.refreshMs });
        return principal;
      }
      if (hit) entries.delete(key);
      const refusedUntil = refused.get(key);
      if (refusedUntil !== undefined) {
        if (refusedUntil > now) return null;
        refused.delete(key);
      }
      const confirmed = await confirmOnce(key, token);
      if (!confirmed || confirmed.expiresAt <= Date.now()) {
        refuse(key);
        return null;
      }
      const seen = generation;
      const principal = await o.grant(confirmed.identity);
      const at = Date.now();
      if (seen === generation) {
        remember(key, { identity: confirmed.identity, until: Math.min(confirmed.expiresAt, at + o.cacheMs), principal, fresh: at + o.refreshMs });
      }
      return principal;
    },

    invalidate() {
      generation++;
      for (const entry of entries.values()) entry.fresh = 0;
    },
  };
}

/** An auth backend that takes the request's token to `cache`. */
export function tokenBackend(o: { type: string; extensionName: string; cache: TokenCache; xAuthToken: boolean }): AuthBackend {
  return {
    type: o.type,
    extensionName: o.extensionName,
    async authenticate(headers) {
      const token = requestToken(headers, { xAuthToken: o.xAuthToken });
      return token ? o.cache.authenticate(token) : null;
    },
    invalidate: () => o.cache.invalidate(),
  };
}

/** The token of a request: "Authorization: Bearer <token>", or (with xAuthToken, Keystone's own header) X-Auth-Token. */
export function requestToken(headers: { authorization?: string; 'x-auth-token'?: string | string[] }, o: { xAuthToken: boolean }): string | null {
  const auth = headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(auth);
    return m ? m[1] : null;
  }
  if (!o.xAuthToken) return null;
  const x = headers['x-auth-token'];
  const token = (Array.isArray(x) ? x[0] : x)?.trim();
  return token ? token : null;
}
