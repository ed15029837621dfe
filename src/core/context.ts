/** What the use-cases need from the rest of the program; built once by the assembly (src/assembly/hil.ts). */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { NetworkAllocator } from '../drivers/allocator/interface.ts';
import type { BmcCatalog } from '../drivers/bmc/index.ts';
import type { Notifier } from '../drivers/notify/interface.ts';
import type { SwitchCatalog } from '../drivers/switch/index.ts';
import type { Database } from '../store/schema.ts';
import type { ConsoleHub } from './console-hub.ts';
import type { ConsolePeers } from './console-peers.ts';
import type { Claims } from '../claims/claims.ts';

export interface CoreDeps {
  db: Kysely<Database>;
  allocator: NetworkAllocator;
  switches: SwitchCatalog;
  bmcs: BmcCatalog;
  obmTimeoutMs: number;
  /** BMC calls running at once, across all nodes. */
  obmConcurrency: number;
  /** Extra tries for a repeatable BMC call that failed quickly. */
  obmRetries: number;
  /** This process's claims: a BMC call, a console, a power cycle happen under one (src/claims/). */
  claims: Claims;
  /** The serial consoles this process holds and their rolling logs. */
  consoles: ConsoleHub;
  /** Reaching consoles other processes hold (the API's internal routes). */
  consolePeers: ConsolePeers;
  /** Bound on one switch call outside the worker (network verify). */
  switchTimeoutMs: number;
  /** Upstream's maintenance pool: nodes leaving any other project go to `project`, and `notifier` is told. */
  maintenance?: { project: string; notifier: Notifier };
  /** Per-project limits (`[quotas]`); absent: no limit. */
  quotas: { networksPerProject?: number; nodesPerProject?: number };
  log: Logger;
  /** Called after networking actions are committed, to wake the worker at once. */
  actionsQueued(): void;
  /** Called after a user's admin flag or projects change (no name: anyone's), to drop cached identities. */
  usersChanged(username?: string): void;
  /** The provisioning network's label, when fast provisioning is enabled. */
  provisioningNetwork?: string;
  /** Where more nodes come from, in a derived HIL (its base); absent otherwise. */
  nodeSupply?: NodeSupply;
}

/** A source of nodes beyond the ones registered here (a derived HIL's base HIL). */
export interface NodeSupply {
  /** Names of nodes it could hand over now, to list as free. */
  extraFree(): Promise<string[]>;
  /** Makes `label` a free node here if it can; false when it has no such node. */
  provide(label: string): Promise<boolean>;
  /** Told after a node joined or left the free pool (to grow or shrink it by policy). */
  freePoolChanged(): void;
}

export type Tx = Kysely<Database>;

/** Runs `fn` in one transaction: a use-case either happens whole or not at all. */
export function inTx<T>(deps: CoreDeps, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return deps.db.transaction().execute(fn);
}
