/**
 * The authorization matrix's callers under each auth backend. Whatever the
 * backend, the roles are the same people: admin (an administrator), alice
 * (project runway), bob (project manhattan), anon (no credentials) and
 * wrong (credentials the backend must refuse). Only how they prove it
 * differs:
 * - database: HIL users with passwords (wrong: alice's name, a wrong password);
 * - keystone: tokens a real Keystone issued (./keystone.ts) for users with
 *   roles on Keystone projects named runway and manhattan, which the
 *   administrator maps to HIL's projects of those names through the
 *   project table (wrong: a token Keystone issued and then revoked);
 * - oidc: JWTs a real OpenID provider issued (./oidc-provider.ts) to clients
 *   whose tokens carry the project and admin claims (wrong: alice's token
 *   with an added admin claim and the old signature).
 */
import type { Config } from '../../src/config/config.ts';
import { addUser, basicAuth, must, type TestHil } from './hil.ts';
import { sharedKeystone, type Keystone } from './keystone.ts';
import { startOidcProvider, type OidcProvider } from './oidc-provider.ts';

export type AuthBackendName = 'database' | 'keystone' | 'oidc';
export const AUTH_BACKENDS: AuthBackendName[] = ['database', 'keystone', 'oidc'];

export type Headers = Record<string, string>;

export interface Identity {
  readonly backend: AuthBackendName;
  /** The server's settings for this backend. */
  configure(c: Config): void;
  /** The administrator's headers; database users are made here, before anything else. */
  admin(t: TestHil): Promise<Headers>;
  /** The other callers', once projects runway and manhattan exist; extraUsers: database users dave and erin too. */
  members(t: TestHil, extraUsers: boolean): Promise<{ alice: Headers; bob: Headers; wrong: Headers }>;
}

const PASSWORDS = { admin: 'admin-secret', alice: 'alice-secret', bob: 'bob-secret' };

const databaseIdentity: Identity = {
  backend: 'database',
  configure: (c) => void (c.auth.backend = 'database'),
  async admin(t) {
    await addUser(t, 'admin', PASSWORDS.admin, true);
    return { authorization: basicAuth('admin', PASSWORDS.admin) };
  },
  async members(t, extraUsers) {
    await addUser(t, 'alice', PASSWORDS.alice, false, ['runway']);
    await addUser(t, 'bob', PASSWORDS.bob, false, ['manhattan']);
    if (extraUsers) {
      await addUser(t, 'dave', 'dave-secret', false);
      await addUser(t, 'erin', 'erin-secret', false, ['manhattan']);
    }
    return {
      alice: { authorization: basicAuth('alice', PASSWORDS.alice) },
      bob: { authorization: basicAuth('bob', PASSWORDS.bob) },
      wrong: { authorization: basicAuth('alice', 'not-alices-password') },
    };
  },
};

/** The Keystone side of the keystone identity: made once per test process, in the process's shared Keystone. */
interface KeystoneRoles {
  keystone: Keystone;
  /** Keystone's ids of projects runway and manhattan. */
  projects: { runway: string; manhattan: string };
  tokens: { admin: string; alice: string; bob: string; revoked: string };
}

let keystoneRoles: Promise<KeystoneRoles> | undefined;

async function makeKeystoneRoles(): Promise<KeystoneRoles> {
  const keystone = await sharedKeystone();
  const runway = await keystone.createProject('runway');
  const manhattan = await keystone.createProject('manhattan');
  const alice = await keystone.createUser('alice', PASSWORDS.alice);
  const bob = await keystone.createUser('bob', PASSWORDS.bob);
  await keystone.grant(alice.id, runway.id, 'member');
  await keystone.grant(bob.id, manhattan.id, 'member');
  const token = async (username: string, password: string, project: string) => (await keystone.issueToken({ username, password, project })).token;
  const revoked = await token('alice', PASSWORDS.alice, 'runway');
  await keystone.revoke(revoked);
  return {
    keystone,
    projects: { runway: runway.id, manhattan: manhattan.id },
    tokens: {
      admin: await keystone.adminToken(),
      alice: await token('alice', PASSWORDS.alice, 'runway'),
      bob: await token('bob', PASSWORDS.bob, 'manhattan'),
      revoked,
    },
  };
}

/** The keystone identity's Keystone, users and tokens (one set per test process). */
export function keystoneRolesOnce(): Promise<KeystoneRoles> {
  keystoneRoles ??= makeKeystoneRoles();
  return keystoneRoles;
}

/** [keystone] settings for a server whose Keystone is `k`. */
export function keystoneConfig(c: Config, k: Keystone): void {
  c.auth.backend = 'keystone';
  c.keystone.url = k.url;
  c.keystone.username = k.serviceUser.username;
  c.keystone.password = k.serviceUser.password;
  c.keystone.project = k.serviceUser.project;
  c.keystone.project_mapping = 'name';
}

function keystoneIdentity(roles: KeystoneRoles): Identity {
  const token = (t: string) => ({ 'x-auth-token': t });
  return {
    backend: 'keystone',
    configure: (c) => {
      keystoneConfig(c, roles.keystone);
      c.keystone.project_mapping = 'table';
    },
    admin: async () => token(roles.tokens.admin),
    async members(t) {
      const admin = t.withHeaders(token(roles.tokens.admin));
      for (const p of ['runway', 'manhattan'] as const) await must(admin('PUT', `/v0/auth/keystone/project/${roles.projects[p]}`, { project: p }), `mapping ${p}`);
      return { alice: token(roles.tokens.alice), bob: token(roles.tokens.bob), wrong: token(roles.tokens.revoked) };
    },
  };
}

interface OidcRoles {
  provider: OidcProvider;
  tokens: { admin: string; alice: string; bob: string };
}

let oidcRoles: Promise<OidcRoles> | undefined;

/** The oidc identity's provider, clients and tokens (one set per test process). */
export function oidcRolesOnce(): Promise<OidcRoles> {
  oidcRoles ??= (async () => {
    const provider = await startOidcProvider({
      clients: [
        { id: 'admin', claims: { hil_roles: ['admin'] } },
        { id: 'alice', claims: { hil_projects: ['runway'] } },
        { id: 'bob', claims: { hil_projects: ['manhattan'] } },
      ],
    });
    process.once('beforeExit', () => void provider.close());
    return { provider, tokens: { admin: await provider.issue('admin'), alice: await provider.issue('alice'), bob: await provider.issue('bob') } };
  })();
  return oidcRoles;
}

/** [oidc] settings for a server that trusts `p`. */
export function oidcConfig(c: Config, p: OidcProvider): void {
  c.auth.backend = 'oidc';
  c.oidc.issuer = p.issuer;
  c.oidc.audience = p.audience;
}

function oidcIdentity(roles: OidcRoles): Identity {
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  return {
    backend: 'oidc',
    configure: (c) => oidcConfig(c, roles.provider),
    admin: async () => bearer(roles.tokens.admin),
    members: async () => ({
      alice: bearer(roles.tokens.alice),
      bob: bearer(roles.tokens.bob),
      wrong: bearer(roles.provider.tamper(roles.tokens.alice, { hil_roles: ['admin'] })),
    }),
  };
}

/** The identity for a backend, its outside parts (Keystone, the provider) started on first use. */
export async function identityFor(backend: AuthBackendName): Promise<Identity> {
  if (backend === 'database') return databaseIdentity;
  if (backend === 'keystone') return keystoneIdentity(await keystoneRolesOnce());
  return oidcIdentity(await oidcRolesOnce());
}
