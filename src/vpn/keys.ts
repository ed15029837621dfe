/**
 * WireGuard keys: Curve25519 (X25519) key pairs as WireGuard writes them,
 * base64 of 32 raw bytes. Made with Node's own X25519 (no `wg genkey`
 * process, whose output would have to be read back through a pipe); the raw
 * bytes go in and out through JWK, the one key format that holds them bare.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

// 32 bytes of base64 always end in one '=' and a last character that carries only 4 bits.
const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export function isWireguardKey(s: string): boolean {
  return typeof s === 'string' && KEY_RE.test(s);
}

const fromB64url = (s: string) => Buffer.from(s, 'base64url');

/** Clamps as `wg genkey` does, so our keys look like everyone else's (X25519 clamps anyway when it uses them). */
function clamp(d: Buffer): Buffer {
  d[0] &= 248;
  d[31] = (d[31] & 127) | 64;
  return d;
}

export function generateKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const d = clamp(fromB64url(jwk.d!));
  const priv = d.toString('base64');
  return { privateKey: priv, publicKey: publicKeyOf(priv) };
}

/** The public key of a base64 private key; throws on anything that is not one. */
export function publicKeyOf(privateKey: string): string {
  if (!isWireguardKey(privateKey)) throw new TypeError('not a WireGuard key (base64 of 32 bytes)');
  const d = Buffer.from(privateKey, 'base64');
  // A JWK private key must carry its public half; derive it from a PKCS#8 envelope first.
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), d]);
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const x = createPublicKey(key).export({ format: 'jwk' }).x!;
  return fromB64url(x).toString('base64');
}
