/**
 * The network allocators this server knows, by `[network] allocator`.
 * Adding one: a file implementing NetworkAllocator (./interface.ts), one
 * line in ALLOCATORS.
 */
import { ServerError } from '../../errors.ts';
import { Catalog } from '../catalog.ts';
import { hilAllocator } from '../hil/allocator.ts';
import type { Upstream } from '../hil/upstream.ts';
import type { NetworkAllocator } from './interface.ts';
import { nullAllocator } from './null.ts';
import { vlanPoolAllocator } from './vlan-pool.ts';

/** What allocators may be built with. */
export interface AllocatorContext {
  /** The VLAN pool, e.g. "1001-1040" (vlan_pool). */
  vlans: string;
  /** A derived HIL's base (hil). */
  upstream?: Upstream;
}

interface AllocatorFactory {
  readonly type: string;
  /** Throws BadArgumentError when the context cannot make this allocator. */
  create(ctx: AllocatorContext): NetworkAllocator;
}

const ALLOCATORS: AllocatorFactory[] = [
  { type: 'vlan_pool', create: (ctx) => vlanPoolAllocator(ctx.vlans) },
  { type: 'null', create: () => nullAllocator() },
  {
    type: 'hil',
    create: (ctx) => {
      if (!ctx.upstream) throw new ServerError('the hil allocator needs an [upstream]'); // the configuration insists on one
      return hilAllocator(ctx.upstream);
    },
  },
];

export const allocators = new Catalog(ALLOCATORS, { unknown: (name, known) => `${JSON.stringify(name)} is not a network allocator (known: ${known.join(', ')})` });
