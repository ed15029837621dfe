/**
 * The configuration a tenant's laptop imports: wg-quick's format
 * ([Interface] with Address, [Peer] with Endpoint), which the WireGuard apps
 * on every platform read.
 */
export interface ClientConfig {
  /** The laptop's private key when HIL generated it; absent when the tenant brought its own key. */
  privateKey?: string;
  /** The laptop's tunnel address (a /32). */
  address: string;
  serverPublicKey: string;
  /** host:port */
  endpoint: string;
  /** What the laptop routes into the tunnel: the tenant network(s). */
  allowedIps: string[];
}

/** Keeps NAT mappings on the laptop's side open while the tunnel is idle. */
const KEEPALIVE_SECONDS = 25;

export function renderClientConfig(c: ClientConfig): string {
  const key = c.privateKey ? `PrivateKey = ${c.privateKey}` : '# PrivateKey = <the private key whose public key you registered>';
  return [
    '[Interface]',
    key,
    `Address = ${c.address}`,
    '',
    '[Peer]',
    `PublicKey = ${c.serverPublicKey}`,
    `Endpoint = ${c.endpoint}`,
    `AllowedIPs = ${c.allowedIps.join(', ')}`,
    `PersistentKeepalive = ${KEEPALIVE_SECONDS}`,
    '',
  ].join('\n');
}
