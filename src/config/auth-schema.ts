/**
 * The configuration of authentication: [auth] and the token backends'
 * sections [keystone] and [oidc] (docs/auth.md), with their defaults; part
 * of ./schema.ts's ConfigSchema.
 */
import { Type, type Static } from 'typebox';
import { literals, Strict } from './schema-kit.ts';

/** The values of auth.backend and HIL_AUTH. */
export const AUTH_BACKEND_NAMES = ['database', 'null', 'keystone', 'oidc'] as const;
/** How a Keystone token's project becomes a HIL project. */
export const KEYSTONE_PROJECT_MAPPINGS = ['id', 'name', 'table'] as const;
/** Asymmetric JWS algorithms an OpenID provider signs with (shared secrets and "none" are not offered). */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export const AuthSection = Type.Object(
  {
    backend: literals(AUTH_BACKEND_NAMES),
    require_authentication: Type.Boolean(),
    /** How long a verified credential (a username/password pair, a Keystone token, a JWT) is trusted without checking it again; never past a token's expiry. */
    cache_seconds: Type.Number({ minimum: 0, maximum: 3600 }),
    /** How long a cached caller's admin flag and projects are reused (changes through this process apply at once). */
    refresh_ms: Type.Integer({ minimum: 0, maximum: 60000 }),
  },
  Strict,
);

/** auth.backend "keystone": tokens (X-Auth-Token) confirmed by Keystone's v3 API (docs/auth.md). */
export const KeystoneSection = Type.Object(
  {
    /** Keystone's v3 endpoint, e.g. "https://keystone.example:5000/v3". */
    url: Type.Optional(Type.String({ pattern: '^https?://' })),
    /** HIL's service user, which may validate tokens (Keystone's "service" role). */
    username: Type.Optional(Type.String({ minLength: 1 })),
    /** Its password; better in HIL_KEYSTONE_PASSWORD than in the file. */
    password: Type.Optional(Type.String({ minLength: 1 })),
    user_domain: Type.String({ minLength: 1 }),
    /** The project the service user's token is scoped to. */
    project: Type.String({ minLength: 1 }),
    project_domain: Type.String({ minLength: 1 }),
    /** "id": a HIL project is named by the Keystone project's id (upstream); "name": by its name; "table": as admins map them (/v0/auth/keystone/project). */
    project_mapping: literals(KEYSTONE_PROJECT_MAPPINGS),
    /** A token with this role, scoped to admin_project, is a HIL administrator (upstream: "admin" on any project). */
    admin_role: Type.String({ minLength: 1 }),
    admin_project: Type.String({ minLength: 1 }),
    admin_project_domain: Type.String({ minLength: 1 }),
    /** A Keystone call that takes longer fails the request with 503. */
    timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 120 }),
  },
  Strict,
);

/** auth.backend "oidc": OpenID Connect bearer JWTs, checked against the provider's published keys (docs/auth.md). */
export const OidcSection = Type.Object(
  {
    /** The provider's issuer URL; its discovery document is <issuer>/.well-known/openid-configuration. */
    issuer: Type.Optional(Type.String({ pattern: '^https?://' })),
    /** What tokens for HIL carry in "aud". */
    audience: Type.Optional(Type.String({ minLength: 1 })),
    /** Signature algorithms accepted ("none" never is). */
    algorithms: Type.Array(literals(JWT_ALGORITHMS), { minItems: 1, uniqueItems: true }),
    /** The claim naming the caller (logs, audit). */
    username_claim: Type.String({ minLength: 1 }),
    /** The claim listing the caller's HIL projects (a string or an array; dots reach into objects, e.g. "realm_access.groups"). */
    projects_claim: Type.String({ minLength: 1 }),
    /** Only values starting with this count, without it (e.g. "hil-" for groups named "hil-runway"). */
    project_prefix: Type.String(),
    /** The claim listing the caller's roles (a string or an array; dots reach into objects, e.g. "realm_access.roles"). */
    roles_claim: Type.String({ minLength: 1 }),
    /** Which of those roles makes a HIL administrator. */
    admin_role: Type.String({ minLength: 1 }),
    /** Leeway for exp and nbf against clock skew. */
    clock_tolerance_seconds: Type.Integer({ minimum: 0, maximum: 300 }),
    /** The JWT header's "typ" a token must have: "at+jwt" is an access token (RFC 9068); "" accepts any (Keycloak and Azure AD write "JWT"). */
    token_type: Type.String(),
    /** A token signed with a key HIL has not seen fetches the key set again, at most this often (key rotation). */
    jwks_cooldown_seconds: Type.Number({ minimum: 0, maximum: 3600 }),
    /** A fetched key set is used this long, then fetched again: a key the provider removed stops working within this. */
    jwks_max_age_seconds: Type.Number({ minimum: 0, maximum: 86400 }),
    /** The discovery document and key set must arrive within this time, or the request fails with 503. */
    timeout_seconds: Type.Number({ exclusiveMinimum: 0, maximum: 120 }),
  },
  Strict,
);

/** The defaults of the three sections. */
export function authDefaults(): { auth: Static<typeof AuthSection>; keystone: Static<typeof KeystoneSection>; oidc: Static<typeof OidcSection> } {
  return {
    auth: { backend: 'database', require_authentication: true, cache_seconds: 60, refresh_ms: 1000 },
    keystone: {
      user_domain: 'Default',
      project: 'service',
      project_domain: 'Default',
      project_mapping: 'id',
      admin_role: 'admin',
      admin_project: 'admin',
      admin_project_domain: 'Default',
      timeout_seconds: 5,
    },
    oidc: {
      algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
      username_claim: 'sub',
      projects_claim: 'hil_projects',
      project_prefix: '',
      roles_claim: 'hil_roles',
      admin_role: 'admin',
      clock_tolerance_seconds: 5,
      token_type: 'at+jwt',
      jwks_cooldown_seconds: 30,
      jwks_max_age_seconds: 300,
      timeout_seconds: 5,
    },
  };
}
