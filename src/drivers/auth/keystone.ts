/**
 * OpenStack Keystone tokens (upstream's hil.ext.auth.keystone). A request
 * carries a token in X-Auth-Token (as upstream's clients send it) or as
 * "Authorization: Bearer"; Keystone confirms it (./keystone-api.ts), and the
 * answer is cached (./token-cache.ts).
 *
 * What a confirmed token may do, where this differs from upstream on purpose:
 * - admin: `admin.role` on the one project `admin.project` (upstream: the
 *   role "admin" on any project, which made every OpenStack project admin a
 *   HIL admin);
 * - a project: the token's project mapped to a HIL project by `projectMapping`
 *   ("id", upstream's rule: the HIL project is named by the Keystone project's
 *   id; "name"; or "table", what administrators set through
 *   /v0/auth/keystone/project/<id>, see ./keystone-projects.ts).
 * A confirmed token whose project maps to nothing, and is not admin, is not
 * authenticated, as upstream.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../store/schema.ts';
import type { AuthBackend, Principal } from './interface.ts';
import { keystoneApi, type KeystoneToken } from './keystone-api.ts';
import type { KeystoneSettings } from './settings.ts';
import { mappedProjectId } from './keystone-projects.ts';
import { tokenBackend, tokenCache } from './token-cache.ts';

/** What HIL keeps of a confirmed token. */
interface KeystoneIdentity {
  user: string;
  project?: { id: string; name: string; domain: string };
  roles: string[];
}

function identityOf(t: KeystoneToken): KeystoneIdentity {
  const p = t.project;
  return { user: t.user.name, project: p && { id: p.id, name: p.name, domain: p.domain.name }, roles: (t.roles ?? []).map((r) => r.name) };
}

export function keystoneAuth(o: { db: Kysely<Database>; settings: KeystoneSettings; cacheMs: number; refreshMs: number; log?: Logger }): AuthBackend {
  const { settings: s } = o;
  const api = keystoneApi({ ...s, log: o.log });

  const isAdmin = (id: KeystoneIdentity) =>
    id.project !== undefined && id.project.name === s.admin.project && id.project.domain === s.admin.projectDomain && id.roles.includes(s.admin.role);

  const cache = tokenCache<KeystoneIdentity>({
    cacheMs: o.cacheMs,
    refreshMs: o.refreshMs,
    async confirm(token) {
      const body = await api.validate(token);
      return body && { identity: identityOf(body), expiresAt: Date.parse(body.expires_at) };
    },
    async grant(id): Promise<Principal | null> {
      const admin = isAdmin(id);
      const projectId = id.project ? await mappedProjectId(o.db, s.projectMapping, id.project) : null;
      if (!admin && projectId === null) {
        // Upstream logged this too: the token is good, HIL just does not know its project.
        o.log?.info({ user: id.user, keystoneProject: id.project?.id }, 'Keystone token confirmed, but its project is not a HIL project');
        return null;
      }
      return Object.freeze({ authenticated: true, isAdmin: admin, username: id.user, projectIds: new Set(projectId === null ? [] : [projectId]) });
    },
  });

  return tokenBackend({ type: 'keystone', extensionName: 'hil.ext.auth.keystone', cache, xAuthToken: true });
}
