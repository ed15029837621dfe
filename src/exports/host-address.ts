/** Whether this host can bind an address now (an export of a boot network waits for its link's address). */
import { networkInterfaces } from 'node:os';
import { isIPv4 } from 'node:net';

/** True for loopback's whole 127.0.0.0/8 (bindable without being assigned) and for any address an interface holds. */
export function isHostAddress(address: string): boolean {
  if (isIPv4(address) && address.startsWith('127.')) return true;
  return Object.values(networkInterfaces()).some((addrs) => addrs?.some((a) => a.address === address));
}

/**
 * Why an export to `address` (a boot network's storage address; null: `[exports] address`)
 * cannot start yet, or null. That address comes with its network's link (boot-networks.ts),
 * maybe a heartbeat after the export is asked for: nothing failed, there is nothing to bind to yet.
 */
export function waitingForAddress(address: string | null): string | null {
  if (address === null || isHostAddress(address)) return null;
  return `waiting for the storage host to have its boot network's address ${address}`;
}
