/** Users of the database auth backend (spec §5.8). */
import { BadArgumentError, BlockedError, IllegalStateError, NotFoundError } from '../errors.ts';
import { inTx, type CoreDeps } from './context.ts';
import { lockedAdmins } from '../store/repos/users.ts';
import { absentOrConflict, getProject, getUser, insertUnique } from './lookup.ts';
import { requireAdmin, type Principal } from './principal.ts';
import { hashPassword } from '../drivers/auth/password.ts';
import { Service } from './service.ts';

export class UserService extends Service {
  async list(p: Principal): Promise<Record<string, { is_admin: boolean; projects: string[] }>> {
    requireAdmin(p);
    const users = await this.deps.db.selectFrom('user').select(['id', 'label', 'is_admin']).orderBy('label').execute();
    const memberships = await this.deps.db
      .selectFrom('user_project')
      .innerJoin('project', 'project.id', 'user_project.project_id')
      .select(['user_project.user_id', 'project.label'])
      .orderBy('project.label')
      .execute();
    const out: Record<string, { is_admin: boolean; projects: string[] }> = {};
    for (const u of users) {
      out[u.label] = { is_admin: Boolean(u.is_admin), projects: memberships.filter((m) => m.user_id === u.id).map((m) => m.label) };
    }
    return out;
  }

  async create(p: Principal, label: string, password: string, isAdmin = false): Promise<void> {
    requireAdmin(p);
    await createUser(this.deps, label, password, isAdmin);
  }

  async delete(p: Principal, label: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const admins = await lockedAdmins(tx);
      const user = await getUser(tx, label, 'update');
      if (user.id === p.userId) throw new IllegalStateError('Cannot delete own account; another administrator can.');
      if (user.is_admin) keepAnAdmin(admins, user.id);
      await tx.deleteFrom('user_project').where('user_id', '=', user.id).execute();
      await tx.deleteFrom('user').where('id', '=', user.id).execute();
    });
    this.deps.usersChanged(label);
  }

  async addProject(p: Principal, label: string, projectLabel: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const user = await getUser(tx, label, 'share');
      const project = await getProject(tx, projectLabel, 'share');
      await insertUnique(
        tx.insertInto('user_project').values({ user_id: user.id, project_id: project.id }).execute(),
        `User ${label} is already in project ${projectLabel}`,
      );
    });
    this.deps.usersChanged(label);
  }

  async removeProject(p: Principal, label: string, projectLabel: string): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const user = await getUser(tx, label);
      const project = await getProject(tx, projectLabel);
      const r = await tx.deleteFrom('user_project').where('user_id', '=', user.id).where('project_id', '=', project.id).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw new NotFoundError(`User ${label} is not in project ${projectLabel}`);
    });
    this.deps.usersChanged(label);
  }

  async setAdmin(p: Principal, label: string, isAdmin: boolean): Promise<void> {
    requireAdmin(p);
    await inTx(this.deps, async (tx) => {
      const admins = await lockedAdmins(tx);
      const user = await getUser(tx, label, 'update');
      if (user.id === p.userId) throw new IllegalStateError('Cannot set own admin status');
      if (user.is_admin && !isAdmin) keepAnAdmin(admins, user.id);
      await tx.updateTable('user').set({ is_admin: isAdmin }).where('id', '=', user.id).execute();
    });
    this.deps.usersChanged(label);
  }
}

export const userService = (deps: CoreDeps) => new UserService(deps);

/**
 * Refuses to take the last administrator away (HIL could then be
 * administered by nobody). `admins` were counted under lock (lockedAdmins),
 * before the user row itself, so two such requests wait for each other.
 */
function keepAnAdmin(admins: number[], leaving: number): void {
  if (admins.filter((id) => id !== leaving).length === 0) throw new BlockedError('This is the last administrator; make another one first.');
}

/** Also used by `hil-admin create-admin-user`, which runs with no caller. */
export async function createUser(deps: Pick<CoreDeps, 'db'>, label: string, password: string, isAdmin: boolean): Promise<void> {
  if (password.length === 0) throw new BadArgumentError('The password must not be empty.');
  const dup = `User "${label}" already exists.`;
  await absentOrConflict(deps.db.selectFrom('user').select('id').where('label', '=', label).executeTakeFirst(), dup);
  const password_hash = await hashPassword(password);
  await insertUnique(deps.db.insertInto('user').values({ label, is_admin: isAdmin, password_hash }).execute(), dup);
}
