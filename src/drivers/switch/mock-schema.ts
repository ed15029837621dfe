/**
 * The mock switch's own tables: its port state, every call it received, and
 * faults tests inject. They live in the database so that the API process,
 * the worker process and tests all see one switch.
 */
import type { Generated, Kysely } from 'kysely';
import type { DbKind } from '../../store/db.ts';
import type { AnyDb, MigrationSet } from '../../store/migrate.ts';
import type { Database } from '../../store/schema.ts';

/** State of mock switches, kept in the database so tests (and other processes) can read it. */
export interface MockSwitchPortTable {
  switch_id: number;
  port: string;
  channel: string;
  network_id: string;
}

/** Every call a mock switch received, in order; lets tests prove exactly-once. */
export interface MockSwitchCallTable {
  id: Generated<number>;
  switch_id: number;
  port: string;
  op: string;
  channel: string | null;
  network_id: string | null;
  at: number;
  /** The networking action this call applies (its uuid), when the worker said. */
  action: string | null;
  /** Who made the call, and under which claim generation (fencing: the chaos test checks these never go backwards). */
  holder: string | null;
  generation: number | null;
}

/**
 * The fencing token the "device" keeps: the highest claim generation that
 * changed it. A change under a lower one is refused (a holder that froze
 * after its last check must not land a change after its successor's).
 */
export interface MockSwitchFenceTable {
  switch_id: number;
  generation: number;
  holder: string;
}

/** Changes the device refused because their generation was older than its token (tests count them). */
export interface MockSwitchRefusalTable {
  id: Generated<number>;
  switch_id: number;
  port: string;
  op: string;
  action: string | null;
  holder: string;
  generation: number;
  /** The token's generation when the change was refused. */
  token: number;
  at: number;
}

/** Faults tests inject into a mock switch port: 'throw' or 'hang'. */
export interface MockSwitchFaultTable {
  switch_id: number;
  port: string;
  mode: string;
}

export type MockSwitchTables = {
  mock_switch_port: MockSwitchPortTable;
  mock_switch_call: MockSwitchCallTable;
  mock_switch_fault: MockSwitchFaultTable;
  mock_switch_fence: MockSwitchFenceTable;
  mock_switch_refusal: MockSwitchRefusalTable;
};

/** A database the mock switch can use. */
export type MockSwitchDb = Kysely<Database & MockSwitchTables>;

/** Idempotent: databases made before the mock switch owned its tables have them already. */
async function up(db: AnyDb, kind: DbKind): Promise<void> {
  const idType = kind === 'postgres' ? 'bigserial' : 'integer';
  const ref = 'bigint';
  await db.schema
    .createTable('mock_switch_port')
    .ifNotExists()
    .addColumn('switch_id', ref, (c) => c.notNull().references('switch.id').onDelete('cascade'))
    .addColumn('port', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('network_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('mock_switch_port_pk', ['switch_id', 'port', 'channel'])
    .execute();
  await db.schema
    .createTable('mock_switch_call')
    .ifNotExists()
    .addColumn('id', idType, (c) => (kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('switch_id', ref, (c) => c.notNull().references('switch.id').onDelete('cascade'))
    .addColumn('port', 'text', (c) => c.notNull())
    .addColumn('op', 'text', (c) => c.notNull())
    .addColumn('channel', 'text')
    .addColumn('network_id', 'text')
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('mock_switch_fault')
    .ifNotExists()
    .addColumn('switch_id', ref, (c) => c.notNull().references('switch.id').onDelete('cascade'))
    .addColumn('port', 'text', (c) => c.notNull())
    .addColumn('mode', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('mock_switch_fault_pk', ['switch_id', 'port'])
    .execute();
}

/** Who applied each call, so a test can prove no fenced holder changed the switch. */
async function callHolders(db: AnyDb): Promise<void> {
  await db.schema.alterTable('mock_switch_call').addColumn('action', 'text').execute();
  await db.schema.alterTable('mock_switch_call').addColumn('holder', 'text').execute();
  await db.schema.alterTable('mock_switch_call').addColumn('generation', 'bigint').execute();
}

/** The device's fencing token, and the changes it refused. */
async function fence(db: AnyDb, kind: DbKind): Promise<void> {
  await db.schema
    .createTable('mock_switch_fence')
    .addColumn('switch_id', 'bigint', (c) => c.primaryKey().references('switch.id').onDelete('cascade'))
    .addColumn('generation', 'bigint', (c) => c.notNull())
    .addColumn('holder', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('mock_switch_refusal')
    .addColumn('id', kind === 'postgres' ? 'bigserial' : 'integer', (c) => (kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey()))
    .addColumn('switch_id', 'bigint', (c) => c.notNull().references('switch.id').onDelete('cascade'))
    .addColumn('port', 'text', (c) => c.notNull())
    .addColumn('op', 'text', (c) => c.notNull())
    .addColumn('action', 'text')
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('generation', 'bigint', (c) => c.notNull())
    .addColumn('token', 'bigint', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
}

export const MOCK_SWITCH_MIGRATIONS: MigrationSet = {
  owner: 'mock_switch',
  migrations: { '0001-tables': { up }, '0002-call-holders': { up: callHolders }, '0003-fence': { up: fence } },
};
