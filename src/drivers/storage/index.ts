/**
 * The storage backends this server knows, by `[images] backend`. Adding one:
 * a file implementing StorageBackend (./interface.ts), one line in
 * BACKENDS, one run of the contract suite (test/support/storage-contract.ts).
 */
import { Catalog } from '../catalog.ts';
import type { StorageBackend } from './interface.ts';
import { localBackend } from './local.ts';
import { rbdBackend } from './rbd.ts';

/** What backends may be built with (`[images]`). */
export interface StorageContext {
  /** local: where bases, disks and snapshots live. */
  disksDir: string;
  rbd: { pool: string; conf: string; id: string };
  timeoutMs: number;
}

interface BackendFactory {
  readonly type: string;
  create(ctx: StorageContext): StorageBackend;
}

const BACKENDS: BackendFactory[] = [
  { type: 'local', create: (ctx) => localBackend({ dir: ctx.disksDir, timeoutMs: ctx.timeoutMs }) },
  { type: 'rbd', create: (ctx) => rbdBackend({ ...ctx.rbd, timeoutMs: ctx.timeoutMs }) },
];

export const storageBackends = new Catalog(BACKENDS, { unknown: (name, known) => `${JSON.stringify(name)} is not a storage backend (known: ${known.join(', ')})` });
