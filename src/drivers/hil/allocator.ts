/**
 * The `hil` allocator of a derived HIL: a network here is a network of the
 * base HIL, owned by (and accessible only to) this HIL's base project. Its
 * network ID is the base network's name, which is the whole mapping, kept in
 * this HIL's database with the network.
 *
 * Base names are `<base project>-<12 random hex digits>`: unique at the base
 * whatever this HIL's networks are called, and telling the base's operator
 * whose they are. The allocator is `external`: the network service calls it
 * between transactions, and frees the base network again if recording the
 * derived one fails.
 *
 * Channels: "vlan/native", and a tagged channel named after the base network
 * ("vlan/<base name>"), which the `hil` switch maps onto the base network's
 * own tagged channel. Channels are opaque strings to clients, and a derived
 * HIL does not know its base's VLAN numbers (docs/recursive.md).
 */
import { randomBytes } from 'node:crypto';
import { atBase, isNotFound, type Upstream } from './upstream.ts';
import type { NetworkAllocator } from '../allocator/interface.ts';

export const NATIVE = 'vlan/native';
/** A derived network's tagged channel: its base network's name. */
export const taggedChannel = (baseNetwork: string) => `vlan/${baseNetwork}`;
const BASE_NAME = /^[A-Za-z0-9_.-]+$/;

export function hilAllocator(up: Upstream): NetworkAllocator {
  const remove = async (name: string) => {
    try {
      await atBase(`deleting network ${name}`, () => up.client.network.delete(name));
    } catch (err) {
      if (!isNotFound(err)) throw err; // already gone: deleting is done
    }
  };

  return {
    extensionName: 'hil.ext.network_allocators.hil',
    external: true,
    async populate() {},

    async allocate() {
      const name = `${up.project}-${randomBytes(6).toString('hex')}`;
      await atBase(`creating network ${name}`, () => up.client.network.create(name, up.project, up.project, ''));
      return name;
    },

    async free(_tx, networkId) {
      await remove(networkId);
    },

    // An admin may map a derived network onto an existing base network its base project can use.
    isValid: (networkId) => BASE_NAME.test(networkId),
    async isInPool() {
      return false;
    },
    async claim() {},
    legalChannels: (networkId) => [NATIVE, taggedChannel(networkId)],
    defaultChannel: () => NATIVE,
  };
}
