/** Migrations run against the schema as it was when they were written, so they see the database untyped. */
import type { Kysely } from 'kysely';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyDb = Kysely<any>;
