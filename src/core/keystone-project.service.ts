/**
 * The keystone backend's project table (project_mapping = "table"):
 * administrators say which HIL project a Keystone project is. Mounted only
 * with the keystone backend and that mapping (/v0/auth/keystone/…), as
 * upstream mounts /v0/auth/basic/… only with the database backend.
 */
import { BadArgumentError, NotFoundError } from '../errors.ts';
import { keystoneProjects } from '../drivers/auth/keystone-projects.ts';
import { inTx, type CoreDeps } from './context.ts';
import { getProject } from './lookup.ts';
import { requireAdmin, type Principal } from './principal.ts';
import { Service } from './service.ts';

/** Keystone project ids are 32 hex digits; other deployments may use other forms, but not control characters or slashes. */
const KEYSTONE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

export class KeystoneProjectService extends Service {
  /** Keystone project id → HIL project label. */
  async list(p: Principal): Promise<Record<string, string>> {
    requireAdmin(p);
    const rows = await keystoneProjects(this.deps.db)
      .selectFrom('keystone_project')
      .innerJoin('project', 'project.id', 'keystone_project.project_id')
      .select(['keystone_project.keystone_id', 'project.label'])
      .orderBy('keystone_project.keystone_id')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.keystone_id, r.label]));
  }

  /** Makes (or re-points) the mapping: one Keystone project is one HIL project; several may map to the same one. */
  async map(p: Principal, keystoneId: string, projectLabel: string): Promise<void> {
    requireAdmin(p);
    if (!KEYSTONE_ID.test(keystoneId)) throw new BadArgumentError(`"${keystoneId}" is not a Keystone project id (letters, digits, _ . : -; at most 64)`);
    await inTx(this.deps, async (tx) => {
      const project = await getProject(tx, projectLabel, 'share');
      await keystoneProjects(tx)
        .insertInto('keystone_project')
        .values({ keystone_id: keystoneId, project_id: project.id })
        .onConflict((oc) => oc.column('keystone_id').doUpdateSet({ project_id: project.id }))
        .execute();
    });
    this.deps.usersChanged();
  }

  async unmap(p: Principal, keystoneId: string): Promise<void> {
    requireAdmin(p);
    const gone = await keystoneProjects(this.deps.db).deleteFrom('keystone_project').where('keystone_id', '=', keystoneId).executeTakeFirst();
    if (Number(gone.numDeletedRows) === 0) throw new NotFoundError(`Keystone project "${keystoneId}" is not mapped to a HIL project.`);
    this.deps.usersChanged();
  }
}

export const keystoneProjectService = (deps: CoreDeps) => new KeystoneProjectService(deps);
