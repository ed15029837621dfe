/**
 * The storage work a disk needs while it lives (docs/images.md "Exports"),
 * done by whichever process holds the disk's claim (`disk:<id>`): serving
 * its export to the node it is attached to, taking a snapshot asked for,
 * separating a snapshot from it in the background (RBD). Every process that
 * serves exports runs a keeper; each heartbeat it takes the disks that need
 * work and that nobody holds, so exports come back after a restart and move
 * to a survivor when their process dies (its export servers die with it).
 *
 * What the keeper records (export state, a snapshot's outcome) is written
 * only while the claim is still this process's (`heldBy`), and a claim lost
 * stops its export server at once.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { heldBy, type Claim, type Claims } from '../claims/claims.ts';
import { diskClaim } from '../disks/disk.service.ts';
import type { DiskStorage } from '../images/disk-storage.ts';
import type { Database, DiskRow, ImageRow } from '../store/schema.ts';
import type { SnapshotOutcome } from '../drivers/storage/interface.ts';
import { Coalesced } from '../util/coalesced.ts';
import { withTimeout } from '../util/timeout.ts';
import { sameExport, startServer, wantedExport, type Served } from './export-server.ts';
import { sweepOrphans } from './sweep.ts';
import { waitingForAddress } from './host-address.ts';
import { Separations } from './separations.ts';

export interface KeeperOptions {
  db: Kysely<Database>;
  claims: Claims;
  storage: DiskStorage;
  /** The address export servers bind to, and where they keep sockets and key files. */
  exports: { address: string; runDir: string };
  log: Logger;
  /** How often to look for disks that need a holder (the claims heartbeat). */
  intervalMs: number;
  /** How often to look for storage nothing names (a crash mid-delete). */
  sweepMs?: number;
}

/** How long an export server may take to start listening. */
const START_TIMEOUT_MS = 15_000;

export class ExportKeeper {
  readonly #o: KeeperOptions;
  readonly #run: Coalesced;
  readonly #claims = new Map<number, Claim>();
  readonly #servers = new Map<number, Served>();
  readonly #separations: Separations;
  /** Snapshots being taken here, by image id: a second try never runs beside the first. */
  readonly #snapshotting = new Map<number, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: KeeperOptions) {
    this.#o = o;
    this.#run = new Coalesced(() => this.#reconcile(), { onError: (err) => o.log.warn({ err: (err as Error).message }, 'exports: reconcile failed') });
    this.#separations = new Separations({ db: o.db, storage: o.storage, log: o.log, done: () => this.#run.kick() });
  }

  async start(): Promise<void> {
    // A backend that cannot be reached is said at once; exports are tried all the same (it may come back).
    await this.#o.storage.run('reach the storage', (signal) => this.#o.storage.backend.check(signal)).catch(() => {});
    await this.sweep();
    this.#run.kick();
    await this.#run.settled();
    this.#timer = setInterval(() => {
      this.#fence();
      this.#run.kick();
    }, this.#o.intervalMs);
    this.#sweepTimer = setInterval(() => void this.sweep(), this.#o.sweepMs ?? 10 * 60_000);
  }

  /**
   * Fencing without the database: a claim this process can no longer prove
   * it holds (its renewals are not getting through) stops its export at
   * once, whatever the database says later; the next reconcile takes the
   * claim again if it is still ours.
   */
  #fence(): void {
    for (const [id, claim] of this.#claims) {
      if (!claim.valid && this.#servers.has(id)) {
        this.#o.log.warn({ diskId: id }, 'exports: stopping an export whose claim this process can no longer prove');
        void this.#stopServer(id);
      }
    }
  }

  /** Look now: something a disk's holder acts on was committed. */
  kick(): void {
    this.#run.kick();
  }

  /** Settles when no reconcile runs or is asked for (tests). */
  settled(): Promise<void> {
    return this.#run.settled();
  }

  /** Stops every export server here and lets the claims go, for others to take at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearInterval(this.#sweepTimer);
    this.#run.stop();
    await this.#run.settled();
    await this.#separations.stop();
    await Promise.allSettled(this.#snapshotting.values());
    for (const id of [...this.#claims.keys()]) await this.#letGo(id);
  }

  async sweep(): Promise<void> {
    try {
      await sweepOrphans(this.#o.db, this.#o.storage, this.#o.log);
    } catch (err) {
      this.#o.log.warn({ err: (err as Error).message }, 'storage: the orphan sweep failed');
    }
  }

  /** Disks that need a holder: attached to a node, or with a snapshot to take or separate. */
  async #wanted(): Promise<Map<number, DiskRow>> {
    const db = this.#o.db;
    const separates = this.#o.storage.backend.separate !== undefined;
    const rows = await db
      .selectFrom('disk')
      .selectAll()
      .where('state', '=', 'ready')
      .where((eb) =>
        eb.or([
          eb('node_id', 'is not', null),
          eb(
            'id',
            'in',
            eb
              .selectFrom('image')
              .select('source_disk_id')
              .where('source_disk_id', 'is not', null)
              .where((e) => (separates ? e('state', 'in', ['pending', 'ready']) : e('state', '=', 'pending')))
              .$narrowType<{ source_disk_id: number }>(),
          ),
        ]),
      )
      .execute();
    return new Map(rows.map((r) => [r.id, r]));
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped) return;
    const wanted = await this.#wanted();
    for (const [id, disk] of wanted) {
      let claim = this.#claims.get(id);
      if (!claim?.valid) {
        const taken = await this.#o.claims.take(diskClaim(id));
        if (!taken) {
          await this.#stopServer(id); // another process has it
          continue;
        }
        claim = this.#hold(id, taken);
      }
      try {
        await this.#tend(disk, claim);
      } catch (err) {
        this.#o.log.warn({ disk: disk.label, err: (err as Error).message }, 'exports: could not tend a disk');
      }
    }
    for (const id of [...this.#claims.keys()]) if (!wanted.has(id) && !this.#separations.busyWith(id)) await this.#letGo(id);
  }

  #hold(id: number, claim: Claim): Claim {
    if (this.#claims.get(id) !== claim) {
      this.#claims.set(id, claim);
      // Fencing: a claim lost (another process took it) stops the export here at once.
      claim.signal.addEventListener('abort', () => {
        if (this.#claims.get(id) === claim) this.#claims.delete(id);
        void this.#stopServer(id);
      });
    }
    return claim;
  }

  async #tend(disk: DiskRow, claim: Claim): Promise<void> {
    try {
      await this.#export(disk, claim);
    } catch (err) {
      // Recorded on the disk; its snapshots are still taken (offline, with no export running).
      this.#o.log.warn({ disk: disk.label, err: (err as Error).message }, 'exports: could not serve a disk');
    }
    const images = await this.#o.db.selectFrom('image').selectAll().where('source_disk_id', '=', disk.id).execute();
    for (const image of images) {
      if (image.state === 'pending' && !this.#snapshotting.has(image.id)) {
        const work = this.#snapshot(disk, image, claim).finally(() => this.#snapshotting.delete(image.id));
        this.#snapshotting.set(image.id, work);
        await work;
      } else if (image.state === 'ready') this.#separations.start(disk, image, claim);
    }
  }

  async #export(disk: DiskRow, claim: Claim): Promise<void> {
    const running = this.#servers.get(disk.id);
    const wanted = wantedExport(disk, disk.export_address ?? this.#o.exports.address);
    if (!wanted) {
      await this.#stopServer(disk.id);
      return;
    }
    if (running && running.server.running && sameExport(running.wanted, wanted)) return;
    await this.#stopServer(disk.id);
    if (!claim.valid) return;
    const waiting = waitingForAddress(disk.export_address);
    if (waiting) {
      if (disk.export_state !== 'starting' || disk.export_error !== waiting) await this.#record(claim, disk.id, { export_state: 'starting', export_error: waiting });
      return;
    }
    try {
      const blockdev = await this.#o.storage.run('open the disk', () => this.#o.storage.backend.diskBlockdev(disk.storage_key));
      const server = await withTimeout(START_TIMEOUT_MS, 'starting an export server', (signal) => startServer(wanted, blockdev, this.#o.exports.runDir, AbortSignal.any([signal, claim.signal])));
      if (!claim.valid) {
        await server.stop();
        return;
      }
      const served = { server, wanted };
      this.#servers.set(disk.id, served);
      void server.exited.then(() => {
        if (this.#servers.get(disk.id) !== served) return;
        this.#servers.delete(disk.id);
        this.#o.log.warn({ disk: disk.label, said: server.said }, 'exports: an export server exited; starting it again');
        this.#run.kick();
      });
      await this.#record(claim, disk.id, { export_state: 'serving', export_error: null });
      this.#o.log.info({ disk: disk.label, protocol: wanted.protocol, port: wanted.port, pid: server.pid }, 'exports: serving');
    } catch (err) {
      await this.#record(claim, disk.id, { export_state: 'failed', export_error: tenantWords(err) });
      throw err;
    }
  }

  async #record(claim: Claim, diskId: number, fields: Pick<DiskRow, 'export_state' | 'export_error'>): Promise<void> {
    await this.#o.db.updateTable('disk').set(fields).where('id', '=', diskId).where('node_id', 'is not', null).where(heldBy(claim)).execute();
  }

  /**
   * Takes a pending snapshot, then records it. A failure leaves the image
   * pending with the reason in `error`, and the next heartbeat tries again
   * (each step is idempotent); nothing is deleted, since what a half-taken
   * snapshot made may already be the disk's own data (local: the frozen
   * layer is the disk's backing file).
   */
  async #snapshot(disk: DiskRow, image: ImageRow, claim: Claim): Promise<void> {
    const { storage, db, log } = this.#o;
    if (!claim.valid || image.storage_key === null) return;
    const key = image.storage_key;
    const failed = async (what: string, err: unknown) => {
      log.warn({ disk: disk.label, image: image.label, err: (err as Error).message }, `storage: ${what}; it is tried again`);
      await db.updateTable('image').set({ error: tenantWords(err) }).where('id', '=', image.id).where('state', '=', 'pending').where(heldBy(claim)).execute();
    };
    let outcome: SnapshotOutcome;
    try {
      // Awaited to its very end (its tools and QMP honour the signal), never abandoned at the timeout.
      const signal = AbortSignal.any([AbortSignal.timeout(storage.timeoutMs), claim.signal]);
      outcome = await storage.backend.snapshotDisk(disk.storage_key, key, { live: this.#servers.get(disk.id)?.server, signal });
    } catch (err) {
      await failed('a snapshot could not be taken', err);
      return;
    }
    try {
      await db.transaction().execute(async (tx) => {
        const r = await tx
          .updateTable('image')
          .set({ state: 'ready', error: null, source_disk_id: outcome.imageOnDisk ? disk.id : null, progress: outcome.imageOnDisk ? 0 : null })
          .where('id', '=', image.id)
          .where(heldBy(claim))
          .executeTakeFirst();
        if (Number(r.numUpdatedRows) === 1 && outcome.diskOnImage) await tx.updateTable('disk').set({ image_id: image.id }).where('id', '=', disk.id).execute();
      });
      log.info({ disk: disk.label, image: image.label }, 'storage: snapshot taken');
    } catch (err) {
      await failed('a snapshot taken could not be recorded', err);
    }
  }

  async #stopServer(diskId: number): Promise<void> {
    const served = this.#servers.get(diskId);
    if (!served) return;
    this.#servers.delete(diskId);
    await served.server.stop();
    this.#o.log.info({ diskId, protocol: served.wanted.protocol, port: served.wanted.port }, 'exports: stopped');
  }

  async #letGo(diskId: number): Promise<void> {
    await this.#stopServer(diskId);
    const claim = this.#claims.get(diskId);
    this.#claims.delete(diskId);
    await claim?.release().catch((err: Error) => this.#o.log.warn({ diskId, err: err.message }, 'exports: could not release a claim'));
  }
}

/** What a tenant reads of a failure (a disk's export error, a snapshot's): the tool's words, without the server's paths. */
function tenantWords(err: unknown): string {
  return (err as Error).message.replace(/(?:\/[\w.@:+-]+){2,}/g, '…').slice(0, 500);
}
