/**
 * At most one networking worker per database: two workers draining the same
 * journal could reorder a port's changes. The lease names its holder
 * (host:pid:nonce) so a restarted worker can take over at once from a holder
 * that is provably dead on this host, instead of waiting out the expiry.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

const NAME = 'networking';

function holderIsDeadHere(owner: string): boolean {
  const [host, pid] = owner.split(':');
  if (host !== hostname()) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export class WorkerLease {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  readonly #db: Kysely<Database>;
  readonly #ttlMs: number;

  constructor(db: Kysely<Database>, ttlMs = 15_000) {
    this.#db = db;
    this.#ttlMs = ttlMs;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Takes or renews the lease; false while another live worker holds it. */
  async acquire(): Promise<boolean> {
    const now = Date.now();
    const expires_at = now + this.#ttlMs;
    await this.#db
      .insertInto('worker_lease')
      .values({ name: NAME, owner: this.owner, expires_at })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const current = await this.#db.selectFrom('worker_lease').select(['owner', 'expires_at']).where('name', '=', NAME).executeTakeFirstOrThrow();
    const free = current.owner === this.owner || current.expires_at < now || holderIsDeadHere(current.owner);
    if (!free) return false;
    // Compare-and-set on the owner we saw, so two contenders cannot both win.
    const r = await this.#db
      .updateTable('worker_lease')
      .set({ owner: this.owner, expires_at })
      .where('name', '=', NAME)
      .where('owner', '=', current.owner)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async release(): Promise<void> {
    await this.#db.deleteFrom('worker_lease').where('name', '=', NAME).where('owner', '=', this.owner).execute();
  }
}
