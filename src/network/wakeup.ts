/**
 * How a worker in another process learns that actions were queued, without
 * a polling sleep: PostgreSQL LISTEN/NOTIFY, or for SQLite a watch on the
 * database's write-ahead log, which changes on every commit.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { Store } from '../store/db.ts';

const CHANNEL = 'hil_networking';

export interface Subscription {
  close(): Promise<void>;
}

/** Called by the API after it commits new actions. */
export function notifier(store: Store): () => void {
  if (store.kind !== 'postgres') return () => {};
  const db: Kysely<Database> = store.db;
  return () => void sql`select pg_notify(${CHANNEL}, '')`.execute(db).catch(() => {});
}

export async function subscribe(store: Store, onWake: () => void): Promise<Subscription> {
  if (store.kind === 'postgres') {
    const client = new pg.Client({ connectionString: store.url });
    await client.connect();
    client.on('notification', onWake);
    client.on('error', () => {}); // the safety-net poll covers a lost connection
    await client.query(`LISTEN ${CHANNEL}`);
    return { close: () => client.end().catch(() => {}) };
  }
  const path = store.sqlitePath;
  if (!path || path === ':memory:') return { close: async () => {} };
  const wal = `${basename(path)}-wal`;
  let watcher: FSWatcher | undefined;
  // The WAL changes while a commit is being written, so a look at once can
  // come too early to see it: look again shortly after the last change too.
  // (Without this, a loaded CI machine saw the commit only at the old lease
  // renewal, 5 s later.)
  const AGAIN_MS = [30, 300];
  const timers: NodeJS.Timeout[] = [];
  const wake = () => {
    onWake();
    for (const t of timers.splice(0)) clearTimeout(t);
    for (const ms of AGAIN_MS) timers.push(setTimeout(onWake, ms).unref());
  };
  try {
    watcher = watch(dirname(path), (_event, file) => {
      if (file === wal) wake();
    });
  } catch {
    // No inotify (or similar): the worker's poll still finds the work.
  }
  return {
    close: async () => {
      for (const t of timers.splice(0)) clearTimeout(t);
      watcher?.close();
    },
  };
}
