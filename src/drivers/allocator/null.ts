/**
 * The `null` allocator, for development without VLANs: every network gets a
 * fresh UUID and the only channel is "null".
 */
import { randomUUID } from 'node:crypto';
import type { NetworkAllocator } from './interface.ts';

export function nullAllocator(): NetworkAllocator {
  return {
    extensionName: 'hil.ext.network_allocators.null',
    async populate() {},
    async allocate() {
      return randomUUID();
    },
    async free() {},
    isValid() {
      return true;
    },
    async isInPool() {
      return true;
    },
    async claim() {},
    legalChannels() {
      return ['null'];
    },
    defaultChannel() {
      return 'null';
    },
  };
}
