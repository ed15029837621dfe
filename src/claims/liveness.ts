/**
 * Which HIL processes are alive, so that a dead one's claims pass on in
 * about a second instead of at their expiry. Each process registers a row
 * (hil_process) and, on PostgreSQL, keeps one idle connection open whose
 * backend is gone the moment the process dies (the kernel closes its socket
 * on SIGKILL too). Every heartbeat, each process looks for rows whose
 * backend is gone, or, on its own host, whose pid is gone, and expires their
 * claims at once. A paused process (SIGSTOP) keeps its connection, so its
 * claims pass on only when they expire: that is what the TTL is for.
 */
import { hostname } from 'node:os';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Store } from '../store/db.ts';
import type { Database } from '../store/schema.ts';

type Db = Kysely<Database>;

export interface Registration {
  id: string;
  role: string;
  address: string | null;
  internalToken: string | null;
}

function pidIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** The PostgreSQL connection whose life is this process's: its backend's pid and start time (µs). */
class LivenessConnection {
  readonly #client: pg.Client;
  #lost = false;

  constructor(url: string) {
    this.#client = new pg.Client({ connectionString: url });
    // A dropped connection makes other processes think this one died: it re-registers (see Liveness.renew).
    this.#client.on('error', () => (this.#lost = true));
    this.#client.on('end', () => (this.#lost = true));
  }

  get lost(): boolean {
    return this.#lost;
  }

  async open(): Promise<{ pid: number; start: number }> {
    await this.#client.connect();
    const r = await this.#client.query<{ pid: number; start: string }>(
      'select pid, (extract(epoch from backend_start) * 1000000)::bigint as start from pg_stat_activity where pid = pg_backend_pid()',
    );
    return { pid: r.rows[0].pid, start: Number(r.rows[0].start) };
  }

  close(): Promise<void> {
    return this.#client.end().catch(() => {});
  }
}

export class Liveness {
  readonly #db: Db;
  readonly #store: Store;
  readonly #me: Registration;
  readonly #ttlMs: number;
  readonly #log: Logger;
  #conn: LivenessConnection | undefined;

  constructor(store: Store, me: Registration, ttlMs: number, log: Logger) {
    this.#store = store;
    this.#db = store.db;
    this.#me = me;
    this.#ttlMs = ttlMs;
    this.#log = log;
  }

  async register(): Promise<void> {
    let backend: { pid: number; start: number } | undefined;
    if (this.#store.kind === 'postgres') {
      await this.#conn?.close();
      this.#conn = new LivenessConnection(this.#store.url);
      backend = await this.#conn.open();
    }
    const now = Date.now();
    const row = {
      host: hostname(),
      pid: process.pid,
      role: this.#me.role,
      address: this.#me.address,
      internal_token: this.#me.internalToken,
      backend_pid: backend?.pid ?? null,
      backend_start: backend?.start ?? null,
      expires_at: now + this.#ttlMs,
    };
    await this.#db
      .insertInto('hil_process')
      .values({ id: this.#me.id, started_at: now, ...row })
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute();
  }

  /** Keeps the row alive; registers again if another process took this one for dead (a dropped connection). */
  async renew(): Promise<void> {
    if (this.#conn?.lost) return this.register();
    const r = await this.#db.updateTable('hil_process').set({ expires_at: Date.now() + this.#ttlMs }).where('id', '=', this.#me.id).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) await this.register();
  }

  /** Expires the claims of processes that are provably dead and forgets them; how many claims that freed. */
  async reapDead(): Promise<number> {
    const dead = await this.#deadProcesses();
    let freed = 0;
    for (const id of dead) {
      const r = await this.#db.updateTable('claim').set({ expires_at: 0 }).where('holder', '=', id).executeTakeFirst();
      freed += Number(r.numUpdatedRows);
      await this.#db.deleteFrom('hil_process').where('id', '=', id).execute();
      this.#log.info({ process: id, claims: Number(r.numUpdatedRows) }, 'claims: a process died; its claims are free');
    }
    // Rows of processes gone long ago elsewhere (a host that went away) are only clutter.
    await this.#db.deleteFrom('hil_process').where('expires_at', '<', Date.now() - 10 * this.#ttlMs).execute();
    return freed;
  }

  async #deadProcesses(): Promise<string[]> {
    const others = await this.#db.selectFrom('hil_process').select(['id', 'host', 'pid', 'backend_pid', 'backend_start']).where('id', '!=', this.#me.id).execute();
    if (others.length === 0) return [];
    const here = hostname();
    const dead = new Set(others.filter((p) => p.host === here && pidIsGone(p.pid)).map((p) => p.id));
    if (this.#store.kind === 'postgres') {
      const live = await sql<{ pid: number; start: string }>`select pid, (extract(epoch from backend_start) * 1000000)::bigint as start from pg_stat_activity`.execute(this.#db);
      const alive = new Set(live.rows.map((r) => `${r.pid}:${Number(r.start)}`));
      for (const p of others) if (p.backend_pid !== null && !alive.has(`${p.backend_pid}:${p.backend_start}`)) dead.add(p.id);
    }
    return [...dead];
  }

  async unregister(): Promise<void> {
    try {
      await this.#db.deleteFrom('hil_process').where('id', '=', this.#me.id).execute();
    } finally {
      await this.#conn?.close();
      this.#conn = undefined;
    }
  }
}
