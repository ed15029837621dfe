/**
 * The SSH host keys of CLI switches, as fingerprints ("SHA256:<base64>").
 *
 * A switch registered with `host_key` must show that key. One registered
 * without it is trusted on first use: the first key it shows is recorded
 * here (and logged, with the switch's label, for the administrator to
 * check), and every later connection must show the same key. Forgetting a
 * key (after a switch was replaced) is deleting its row; re-registering the
 * switch does it too, since the row goes with the switch.
 *
 * The table is this driver family's own (like the mock switch's), with its
 * own migration set: SWITCH_HOST_KEY_MIGRATIONS.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DbKind } from '../../../store/db.ts';
import type { AnyDb, MigrationSet } from '../../../store/migrate.ts';
import type { Database } from '../../../store/schema.ts';
import { BadArgumentError, NotFoundError } from '../../../errors.ts';
import { FINGERPRINT, FINGERPRINT_MUST } from './cli-params.ts';

export interface HostKeyStore {
  /** The fingerprint recorded for the switch, or null when none is. */
  recorded(switchId: number): Promise<string | null>;
  /**
   * Records the switch's fingerprint unless one is recorded already (the
   * first writer wins; callers read back with `recorded` to learn which).
   */
  record(switchId: number, fingerprint: string): Promise<void>;
}

export interface SwitchHostKeyTable {
  switch_id: number;
  fingerprint: string;
  /** When it was first seen, in ms since the epoch. */
  recorded_at: number;
}

export type SwitchHostKeyTables = { switch_host_key: SwitchHostKeyTable };
export type HostKeyDb = Kysely<Database & SwitchHostKeyTables>;

async function up(db: AnyDb, _kind: DbKind): Promise<void> {
  await db.schema
    .createTable('switch_host_key')
    .addColumn('switch_id', 'bigint', (c) => c.primaryKey().references('switch.id').onDelete('cascade'))
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('recorded_at', 'bigint', (c) => c.notNull())
    .execute();
}

export const SWITCH_HOST_KEY_MIGRATIONS: MigrationSet = {
  owner: 'switch_host_key',
  migrations: { '0001-table': { up } },
};

/** Host keys in HIL's database (SQLite or PostgreSQL). */
export function dbHostKeyStore(db: Kysely<Database>): HostKeyStore {
  const hk = db.withTables<SwitchHostKeyTables>();
  return {
    async recorded(switchId) {
      const row = await hk.selectFrom('switch_host_key').select('fingerprint').where('switch_id', '=', switchId).executeTakeFirst();
      return row?.fingerprint ?? null;
    },
    async record(switchId, fingerprint) {
      await hk
        .insertInto('switch_host_key')
        .values({ switch_id: switchId, fingerprint, recorded_at: Date.now() })
        .onConflict((oc) => oc.column('switch_id').doNothing())
        .execute();
    },
  };
}

/** Host keys in memory, for tests and tools that have no database. */
export function memoryHostKeyStore(initial: Iterable<[number, string]> = []): HostKeyStore & { readonly keys: Map<number, string> } {
  const keys = new Map(initial);
  return {
    keys,
    async recorded(switchId) {
      return keys.get(switchId) ?? null;
    },
    async record(switchId, fingerprint) {
      if (!keys.has(switchId)) keys.set(switchId, fingerprint);
    },
  };
}

/** A host key as OpenSSH prints its fingerprint: "SHA256:" and the unpadded base64 of the key blob's SHA-256. */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

export interface HostKeyPolicy {
  switchId: number;
  /** Names the switch in messages and the first-use log line: 'nexus switch "sw1"'. */
  label: string;
  /** The switch's name as registered ("sw1"), for the command that trusts a new key. */
  switchLabel: string;
  /** The registration's `host_key`, when given: only that key is accepted, and nothing is recorded. */
  pinned?: string;
  store: HostKeyStore;
  log: { info(obj: object, msg: string): void };
}

/**
 * Null when the switch may be trusted with this key; otherwise why not, in
 * words for the administrator: both fingerprints and what to do.
 */
export async function checkHostKey(p: HostKeyPolicy, seen: string): Promise<string | null> {
  if (p.pinned !== undefined) {
    if (seen === p.pinned) return null;
    return mismatch(p.label, seen, p.pinned, 'pinned by the registration\'s host_key', trustCommand(p.switchLabel, seen));
  }
  let known = await p.store.recorded(p.switchId);
  if (known === null) {
    await p.store.record(p.switchId, seen);
    // Another process may have recorded a key at the same moment: the first writer's is the one.
    known = await p.store.recorded(p.switchId);
    if (known === seen) {
      p.log.info({ switch: p.label, fingerprint: seen }, `first connection to ${p.label}: recorded its SSH host key ${seen}; check it against the switch's own console, since every later connection must show this key`);
      return null;
    }
  }
  if (known === seen) return null;
  return mismatch(p.label, seen, known ?? '(none)', 'recorded on first use', trustCommand(p.switchLabel, seen));
}

function mismatch(label: string, seen: string, expected: string, how: string, fix: string): string {
  return (
    `${label} presented the SSH host key ${seen}, but ${expected} is ${how}; refusing to connect. ` +
    `Someone may be impersonating the switch. If its key legitimately changed (the switch was replaced or re-keyed), ` +
    `check the new fingerprint on the switch's console, then ${fix}.`
  );
}

const trustCommand = (label: string, seen: string) => `run: hil-admin switch trust-host-key ${label} ${seen}`;

/**
 * Makes `fingerprint` the key HIL trusts for the switch `label` (after the
 * switch was replaced or re-keyed, and the administrator checked the new
 * fingerprint on its console): the registration's pinned host_key if it
 * has one, else the key recorded on first use. Returns the key it replaced.
 */
export async function trustHostKey(db: Kysely<Database>, label: string, fingerprint: string): Promise<{ replaced: string | null; pinned: boolean }> {
  if (!FINGERPRINT.test(fingerprint)) throw new BadArgumentError(`the fingerprint must be ${FINGERPRINT_MUST}`);
  return db.transaction().execute(async (tx) => {
    const sw = await tx.selectFrom('switch').select(['id', 'params']).where('label', '=', label).executeTakeFirst();
    if (!sw) throw new NotFoundError(`Switch "${label}" does not exist.`);
    const params = JSON.parse(sw.params) as Record<string, unknown>;
    if (typeof params.host_key === 'string') {
      const replaced = params.host_key;
      await tx.updateTable('switch').set({ params: JSON.stringify({ ...params, host_key: fingerprint }) }).where('id', '=', sw.id).execute();
      return { replaced, pinned: true };
    }
    const hk = tx.withTables<SwitchHostKeyTables>();
    const replaced = (await hk.selectFrom('switch_host_key').select('fingerprint').where('switch_id', '=', sw.id).executeTakeFirst())?.fingerprint ?? null;
    await hk.deleteFrom('switch_host_key').where('switch_id', '=', sw.id).execute();
    await hk.insertInto('switch_host_key').values({ switch_id: sw.id, fingerprint, recorded_at: Date.now() }).execute();
    return { replaced, pinned: false };
  });
}
