/**
 * Who is calling, and the authorization rules of upstream HIL (spec §4):
 * admin implies access to every project; access to "no project" (a free
 * node) means admin; failures are AuthorizationError (401).
 */
import { AuthorizationError } from '../errors.ts';
import type { Principal } from '../drivers/auth/interface.ts';

export { admin, ANONYMOUS, type Principal } from '../drivers/auth/interface.ts';

export function hasProjectAccess(p: Principal, projectId: number | null): boolean {
  if (p.isAdmin) return true;
  return projectId !== null && p.projectIds.has(projectId);
}

export function requireAdmin(p: Principal): void {
  if (!p.isAdmin) throw new AuthorizationError('This operation is administrator-only.');
}

export function requireProjectAccess(p: Principal, projectId: number | null): void {
  // A free node (no project) is admin-only, with the same message as upstream.
  if (!hasProjectAccess(p, projectId)) throw new AuthorizationError('You do not have access to the required project.');
}
