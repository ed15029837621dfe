import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthorizationError } from '../../src/errors.ts';
import { admin, ANONYMOUS, hasProjectAccess, requireAdmin, requireProjectAccess, type Principal } from '../../src/core/principal.ts';

const member: Principal = { authenticated: true, isAdmin: false, username: 'alice', projectIds: new Set([1]) };

describe('authorization rules (spec §4)', () => {
  it('admins reach every project and free nodes; members only their projects, never a free node', () => {
    assert.equal(hasProjectAccess(admin(), 7), true);
    assert.equal(hasProjectAccess(admin(), null), true);
    assert.equal(hasProjectAccess(member, 1), true);
    assert.equal(hasProjectAccess(member, 2), false);
    assert.equal(hasProjectAccess(member, null), false, 'a free node is admin-only');
    assert.equal(hasProjectAccess(ANONYMOUS, 1), false);
  });

  it("fails with upstream's AuthorizationError messages", () => {
    assert.throws(() => requireAdmin(member), (e: Error) => e instanceof AuthorizationError && e.message === 'This operation is administrator-only.');
    assert.throws(() => requireProjectAccess(member, 2), (e: Error) => e instanceof AuthorizationError && e.message === 'You do not have access to the required project.');
    requireAdmin(admin('hil-provisioning'));
    requireProjectAccess(member, 1);
  });
});
