/**
 * Whether a URL may carry credentials or say who is who: https anywhere,
 * plain http only on loopback (a service beside HIL, the tests), where
 * nobody else is on the path.
 */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function isSecureOrLoopback(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
}
