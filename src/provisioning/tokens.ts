/**
 * Agent tokens: 256 random bits, shown to a node once (on its kernel command
 * line) and kept by HIL only as a SHA-256, so a database dump gives no node's
 * identity away.
 */
import { createHash, randomBytes } from 'node:crypto';

export function mintToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('hex');
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The token of an `Authorization: Bearer <token>` header, if well-formed. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer ([0-9a-f]{64})$/.exec(header ?? '');
  return m ? m[1] : null;
}
