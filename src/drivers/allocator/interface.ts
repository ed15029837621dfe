/**
 * Hands out network IDs (VLANs) and says which channels a network offers.
 * Every method that touches the database takes the caller's transaction, so
 * an allocation is undone when the request that made it fails.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';

export type Tx = Kysely<Database>;

export interface NetworkAllocator {
  /** The upstream extension name, reported by GET /v0/active_extensions. */
  readonly extensionName: string;
  /** Makes sure every configured ID exists in the database; idempotent. */
  populate(db: Tx): Promise<void>;
  /** A free ID, now taken; null when none is left. */
  allocate(tx: Tx): Promise<string | null>;
  /** Returns an allocated ID to the pool. */
  free(tx: Tx, networkId: string): Promise<void>;
  /**
   * True when allocate() and free() act on another server (a derived HIL's
   * base): they are then called outside any transaction, and free() also
   * undoes an allocate() whose network could not be recorded.
   */
  readonly external?: boolean;
  /** Whether `networkId` is syntactically acceptable for an admin-chosen network. */
  isValid(networkId: string): boolean;
  /** Whether the pool manages `networkId` (then it is allocated and freed on delete). */
  isInPool(tx: Tx, networkId: string): Promise<boolean>;
  /** Takes an admin-chosen ID out of the pool; throws BlockedError when it is taken. */
  claim(tx: Tx, networkId: string): Promise<void>;
  legalChannels(networkId: string): string[];
  defaultChannel(): string;
}
