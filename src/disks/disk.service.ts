/**
 * Disks (docs/images.md "Disks"): a project's writable copy-on-write clones
 * of images, each used by at most one node and exported to it while
 * attached, and snapshots of them that become images.
 *
 * The request path only records what is wanted; the storage work that takes
 * a disk's claim (its export, a snapshot) is done by the process that holds
 * `disk:<id>` (src/exports/keeper.ts), told at once when it is this one and
 * within a heartbeat otherwise. A clone is quick (O(1)) and done here, with
 * its row written first and removed again if the clone fails, so a failure
 * leaves nothing behind.
 */
import { randomUUID } from 'node:crypto';
import { BadArgumentError, BlockedError, NotFoundError, ProjectMismatchError } from '../errors.ts';
import { inTx, type CoreDeps, type Tx } from '../core/context.ts';
import { getNode, getProject, insertUnique, labelOf } from '../core/lookup.ts';
import { hasProjectAccess, requireProjectAccess, type Principal } from '../core/principal.ts';
import { Service } from '../core/service.ts';
import { checkName, isDiskFormat } from '../images/image-rules.ts';
import { dialectOf, isForeignKeyViolation, isUniqueViolation } from '../store/db.ts';
import type { DiskRow } from '../store/schema.ts';
import { snapshotsDependingOn, visibleDisk, type AttachOptions, type AttachView, type DiskView, type ExportView } from './disk-rules.ts';
import { isInitiatorName } from './export-names.ts';
import { exportFields, exportView, NO_EXPORT, refuseBootDisk } from './export-rows.ts';
import type { DiskStorage } from '../images/disk-storage.ts';

export interface DiskServiceOptions {
  storage: DiskStorage;
  /** Where nodes connect to exports (`[exports] advertise_address`), and the ports they may use. */
  exports: { advertiseAddress: string; ports: { first: number; last: number } };
  /** Told after something a disk's holder must act on was committed (this process's keeper, if it runs one). */
  changed(): void;
}

export interface CreateDisk {
  image: string;
  project: string;
}

export class DiskService extends Service {
  readonly #o: DiskServiceOptions;

  constructor(deps: CoreDeps, o: DiskServiceOptions) {
    super(deps);
    this.#o = o;
  }

  get #storage(): DiskStorage {
    return this.#o.storage;
  }

  async create(p: Principal, name: string, o: CreateDisk): Promise<void> {
    checkName(name, 'disk');
    const { id, key, base } = await inTx(this.deps, async (tx) => {
      // Share-locked: a delete of the project or image waits, then sees this disk.
      const project = await getProject(tx, o.project, 'share');
      requireProjectAccess(p, project.id);
      let q = tx.selectFrom('image').selectAll().where('label', '=', o.image);
      if (dialectOf(tx) === 'postgres') q = q.forShare();
      const image = await q.executeTakeFirst();
      if (!image || !(p.isAdmin || image.public || image.project_id === project.id)) throw new NotFoundError(`Image "${o.image}" does not exist.`);
      if (!isDiskFormat(image.format)) throw new BadArgumentError(`Image "${o.image}" is a ${image.format} image: it has no disk to clone.`);
      if (image.state === 'pending') throw new BlockedError(`Image "${o.image}" is a snapshot still being taken; try again when it is ready.`);
      if (image.state !== 'ready' || image.storage_key === null || image.virtual_size === null) {
        throw new BadArgumentError(`Image "${o.image}" has no disk yet: upload one first (hil image upload ${o.image} --disk FILE).`);
      }
      const row = await insertUnique(
        tx
          .insertInto('disk')
          .values({ label: name, project_id: project.id, image_id: image.id, storage_key: `pending-${randomUUID()}`, state: 'creating', virtual_size: image.virtual_size, created_at: Date.now() })
          .returning('id')
          .executeTakeFirstOrThrow(),
        `Disk "${name}" already exists.`,
      );
      const key = this.#storage.diskKey(row.id);
      await tx.updateTable('disk').set({ storage_key: key }).where('id', '=', row.id).execute();
      return { id: row.id, key, base: image.storage_key };
    });
    try {
      await this.#storage.run('clone the disk', (signal) => this.#storage.backend.cloneDisk(base, key, signal));
    } catch (err) {
      await this.#storage.run('remove a failed clone', (signal) => this.#storage.backend.deleteDisk(key, signal)).catch(() => {});
      await this.deps.db.deleteFrom('disk').where('id', '=', id).execute();
      throw err;
    }
    await this.deps.db.updateTable('disk').set({ state: 'ready' }).where('id', '=', id).execute();
  }

  async show(p: Principal, name: string): Promise<DiskView> {
    const db = this.deps.db;
    const d = await visibleDisk(db, p, name);
    return {
      name: d.label,
      project: (await labelOf(db, 'project', d.project_id))!,
      image: (await labelOf(db, 'image', d.image_id))!,
      size: Number(d.virtual_size),
      state: d.state,
      node: await labelOf(db, 'node', d.node_id),
      export: this.#exportOf(d),
    };
  }

  #exportOf(d: DiskRow): ExportView | null {
    return exportView(d, this.#o.exports.advertiseAddress);
  }

  /** Names of a project's disks, sorted. */
  async listProject(p: Principal, project: string): Promise<string[]> {
    const row = await getProject(this.deps.db, project);
    requireProjectAccess(p, row.id);
    const rows = await this.deps.db.selectFrom('disk').select('label').where('project_id', '=', row.id).orderBy('label').execute();
    return rows.map((r) => r.label);
  }

  /** Names of the disks the caller can see (its projects'; admins: all), sorted. */
  async list(p: Principal): Promise<string[]> {
    const rows = await this.deps.db.selectFrom('disk').select(['label', 'project_id']).orderBy('label').execute();
    return rows.filter((r) => hasProjectAccess(p, r.project_id)).map((r) => r.label);
  }

  async delete(p: Principal, name: string): Promise<void> {
    const d = await inTx(this.deps, async (tx) => {
      const d = await visibleDisk(tx, p, name, 'update');
      await refuseBootDisk(tx, d);
      const node = d.node_id === null ? null : await tx.selectFrom('node').select('label').where('id', '=', d.node_id).executeTakeFirst();
      if (node) throw new BlockedError(`Disk "${name}" is in use by node "${node.label}"; detach it first (hil disk detach ${name}).`);
      if (d.state === 'creating') throw new BlockedError(`Disk "${name}" is still being created.`);
      const dependents = await snapshotsDependingOn(tx, d);
      if (dependents) throw dependents;
      if (await isHeld(tx, d.id)) throw new BlockedError(`Disk "${name}" is still being worked on (its export stopping); try again in a moment.`);
      try {
        await tx.deleteFrom('disk').where('id', '=', d.id).execute();
      } catch (err) {
        if (isForeignKeyViolation(err)) throw new BlockedError(`Disk "${name}" is in use.`);
        throw err;
      }
      return d;
    });
    try {
      await this.#storage.run('delete the disk', (signal) => this.#storage.backend.deleteDisk(d.storage_key, signal));
    } catch (err) {
      this.deps.log.warn({ disk: d.label, key: d.storage_key, err: (err as Error).message }, 'storage: could not delete a disk; the orphan sweep will');
    }
  }

  /**
   * Gives the disk to a node of its project: exported to that node alone
   * (a port of its own, the node's TLS-PSK identity and a fresh key), by the
   * process that takes the disk's claim. The key is answered here only.
   */
  async attach(p: Principal, name: string, nodeName: string, o: AttachOptions = {}): Promise<AttachView> {
    const how = checkAttach(o);
    for (let attempt = 1; ; attempt++) {
      try {
        const view = await inTx(this.deps, (tx) => this.#attach(tx, p, name, nodeName, how));
        this.#o.changed();
        return view;
      } catch (err) {
        // Two attaches took the same free port: the second tries the next one.
        if (!isUniqueViolation(err) || attempt === 5) throw err;
      }
    }
  }

  async #attach(tx: Tx, p: Principal, name: string, nodeName: string, how: { protocol: 'nbd' | 'iscsi'; initiator: string | null }): Promise<AttachView> {
    const d = await visibleDisk(tx, p, name, 'update');
    if (d.state !== 'ready') throw new BlockedError(`Disk "${name}" is still being created.`);
    const node = await getNode(tx, nodeName, 'share');
    if (node.project_id !== d.project_id) {
      const project = await tx.selectFrom('project').select('label').where('id', '=', d.project_id).executeTakeFirstOrThrow();
      throw new ProjectMismatchError(`Node "${nodeName}" is not in project "${project.label}", which owns disk "${name}".`);
    }
    if (d.node_id !== null && d.node_id !== node.id) {
      const other = await tx.selectFrom('node').select('label').where('id', '=', d.node_id).executeTakeFirstOrThrow();
      throw new BlockedError(`Disk "${name}" is in use by node "${other.label}"; detach it first (hil disk detach ${name}).`);
    }
    await refuseBootDisk(tx, d);
    // The same node again, the same way: the same export (and key). Another protocol or initiator: a new export.
    if (d.node_id === node.id && d.export_protocol === how.protocol && d.export_initiator === how.initiator) return { ...this.#exportOf(d)!, key: d.export_psk! };
    const fields = await exportFields(tx, d, node.id, { ...how, address: null }, this.#o.exports.ports);
    await tx.updateTable('disk').set(fields).where('id', '=', d.id).execute();
    return { ...this.#exportOf({ ...d, ...fields })!, key: fields.export_psk };
  }

  /** The node lets the disk go: its export stops. Detaching a detached disk is fine. */
  async detach(p: Principal, name: string): Promise<void> {
    await inTx(this.deps, async (tx) => {
      const d = await visibleDisk(tx, p, name, 'update');
      await refuseBootDisk(tx, d);
      await tx.updateTable('disk').set(NO_EXPORT).where('id', '=', d.id).execute();
    });
    this.#o.changed();
  }

  /**
   * The disk's current content becomes image `image` of the disk's project:
   * recorded as a pending snapshot, taken by the disk's holder (no copy;
   * other disks untouched). Watch it with GET /v0/image/<image>.
   */
  async snapshot(p: Principal, name: string, image: string): Promise<{ image: string; state: string }> {
    checkName(image);
    await inTx(this.deps, async (tx) => {
      const d = await visibleDisk(tx, p, name, 'update');
      if (d.state !== 'ready') throw new BlockedError(`Disk "${name}" is still being created.`);
      const pending = await tx.selectFrom('image').select('label').where('source_disk_id', '=', d.id).where('state', '=', 'pending').executeTakeFirst();
      if (pending) throw new BlockedError(`A snapshot of disk "${name}" is being taken already (image "${pending.label}"); try again when it is ready.`);
      const row = await insertUnique(
        tx
          .insertInto('image')
          .values({
            label: image,
            project_id: d.project_id,
            public: false,
            cmdline: '',
            format: this.#storage.backend.type === 'local' ? 'qcow2' : 'raw',
            state: 'pending',
            parent_id: d.image_id,
            source_disk_id: d.id,
            virtual_size: d.virtual_size,
            storage_key: `pending-${randomUUID()}`,
            created_at: Date.now(),
          })
          .returning('id')
          .executeTakeFirstOrThrow(),
        `Image "${image}" already exists.`,
      );
      await tx.updateTable('image').set({ storage_key: this.#storage.imageKey(row.id) }).where('id', '=', row.id).execute();
    });
    this.#o.changed();
    return { image, state: 'pending' };
  }
}

/** How a disk is to be served: NBD, or iSCSI to one initiator name. */
function checkAttach(o: AttachOptions): { protocol: 'nbd' | 'iscsi'; initiator: string | null } {
  const protocol = o.protocol ?? 'nbd';
  if (protocol !== 'nbd' && protocol !== 'iscsi') throw new BadArgumentError(`Unknown export protocol "${protocol}": use nbd or iscsi.`);
  if (protocol === 'nbd') {
    if (o.initiator !== undefined) throw new BadArgumentError('"initiator" is for iSCSI exports ("protocol": "iscsi").');
    return { protocol, initiator: null };
  }
  if (o.initiator === undefined) throw new BadArgumentError('An iSCSI export needs the node\'s "initiator" name (iqn.…): the only initiator its target admits.');
  if (!isInitiatorName(o.initiator)) throw new BadArgumentError(`"${o.initiator}" is not an iSCSI initiator name: iqn., eui. or naa., then printable characters without commas, at most 223.`);
  return { protocol, initiator: o.initiator };
}

/** Whether a live process holds the disk's claim (serving or snapshotting it). */
async function isHeld(tx: Tx, diskId: number): Promise<boolean> {
  const claim = await tx.selectFrom('claim').select(['holder', 'expires_at']).where('resource', '=', diskClaim(diskId)).executeTakeFirst();
  return claim !== undefined && claim.holder !== null && Number(claim.expires_at) > Date.now();
}

export const diskClaim = (diskId: number) => `disk:${diskId}`;

export const diskService = (deps: CoreDeps, o: DiskServiceOptions) => new DiskService(deps, o);
