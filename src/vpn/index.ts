/** Tenant VPN access, the host's data plane (host.ts has the design). */
export { applyNetworkVpn, listNetworkVpns, removeNetworkVpn, type NetworkVpnSpec, type SwitchPlace, type VpnSweepScope, type WireguardPeer } from './host.ts';
export { renderClientConfig, type ClientConfig } from './client-config.ts';
export { generateKeyPair, isWireguardKey, publicKeyOf, type KeyPair } from './keys.ts';
export { transitOf, TRANSIT_SLOTS } from './names.ts';
