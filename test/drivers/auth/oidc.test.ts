/**
 * The oidc backend against a real OpenID provider (oidc-provider, started by
 * the test): which tokens are refused, key rotation, claim mapping, a
 * provider that cannot be reached or names another issuer, and a derived
 * HIL's client-credentials token at its base. The full route × role matrix
 * runs with this backend in test/api/authz-*.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { testDatabases } from '../../support/databases.ts';
import { withHil, type TestHil } from '../../support/hil.ts';
import { listen } from '../../support/fixtures.ts';
import { oidcConfig } from '../../support/identities.ts';
import { startOidcProvider, type OidcProvider } from '../../support/oidc-provider.ts';
import type { Config } from '../../../src/config/config.ts';
import { connectUpstream } from '../../../src/drivers/hil/upstream.ts';
import { decodeJwt, importJWK, SignJWT } from 'jose';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

for (const database of testDatabases()) {
  describe(`oidc auth on ${database.name}`, { skip: database.skip }, () => {
    let provider: OidcProvider;
    before(async () => {
      provider = await startOidcProvider({
        clients: [
          { id: 'root', claims: { hil_roles: ['admin'] } },
          { id: 'tenant', secret: 'tenant-secret', claims: { hil_projects: ['runway', 'not-here'] } },
          { id: 'nobody', claims: { hil_projects: ['not-here'] } },
          { id: 'keycloak-admin', claims: { realm_access: { roles: ['hil-admin'] } } },
          { id: 'keycloak-member', claims: { realm_access: { roles: ['admin'], groups: ['hil-runway', 'other'] } } },
        ],
      });
    });
    after(() => provider.close());

    const configured = (more: (c: Config) => void = () => {}) => ({
      auth: 'oidc' as const,
      config: (c: Config) => {
        oidcConfig(c, provider);
        c.oidc.jwks_cooldown_seconds = 0;
        more(c);
      },
    });

    /** Makes project runway (as the provider's admin client). */
    const withRunway = async (t: TestHil) => {
      const r = await t.withHeaders(bearer(await provider.issue('root')))('PUT', '/v0/project/runway');
      assert.equal(r.status, 200, r.text);
    };
    const status = async (t: TestHil, token: string, path = '/v0/project/runway/nodes') => (await t.withHeaders(bearer(token))('GET', path)).status;

    it('accepts the provider\'s tokens with the claims they carry; projects HIL does not know are ignored', () =>
      withHil(database, configured(), async (t) => {
        await withRunway(t);
        const tenant = await provider.issue('tenant');
        assert.equal(await status(t, tenant), 200);
        assert.equal(await status(t, tenant, '/v0/projects'), 401, 'a project member is not an administrator');
        assert.equal(await status(t, await provider.issue('root'), '/v0/projects'), 200);
        // Nothing it names exists here: not authenticated at all.
        const r = await t.withHeaders(bearer(await provider.issue('nobody')))('GET', '/v0/nodes/free');
        assert.equal(r.status, 401);
        assert.equal(r.body.msg, 'Authentication failed. Authentication is required to use this service.');
      }));

    it('refuses expired, wrong-audience, wrong-issuer, unsigned, tampered and foreign-key tokens with 401', () =>
      withHil(database, configured((c) => (c.log.level = 'debug')), async (t) => {
        await withRunway(t);
        const real = await provider.issue('tenant');
        assert.equal(await status(t, real), 200);
        const bad: Record<string, string> = {
          expired: await provider.expiredToken('tenant'),
          'wrong audience': await provider.wrongAudience('tenant'),
          'wrong issuer': await provider.wrongIssuer('tenant'),
          'alg none': provider.unsigned(real),
          tampered: provider.tamper(real, { hil_roles: ['admin'] }),
          'signed by another key': await provider.foreignToken('tenant'),
          'unknown key id': await provider.foreignToken('tenant', { kid: 'nobody-knows' }),
          'not a JWT': 'abc.def.ghi',
        };
        for (const [what, token] of Object.entries(bad)) {
          const r = await t.withHeaders(bearer(token))('GET', '/v0/project/runway/nodes');
          assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
          assert.equal(r.body.type, 'AuthorizationError', what);
        }
        // Tokens go in Authorization: Bearer only; X-Auth-Token is Keystone's.
        assert.equal((await t.withHeaders({ 'x-auth-token': real })('GET', '/v0/project/runway/nodes')).status, 401);
        // The debug log says why each was refused, and holds no token.
        const reasons = t.logs.filter((l) => l.msg === 'bearer token refused').map((l) => l.reason);
        for (const code of ['ERR_JWT_EXPIRED', 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'ERR_JOSE_ALG_NOT_ALLOWED', 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWS_INVALID']) {
          assert.ok(reasons.includes(code), `${code} among ${reasons.join(', ')}`);
        }
        const logged = JSON.stringify(t.logs);
        for (const token of [real, ...Object.values(bad)]) assert.ok(!logged.includes(token.split('.')[2] || token), 'no token in the logs');
      }));

    it('a key the provider removed stops working within jwks_max_age_seconds, though no token names a new one', () =>
      withHil(
        database,
        configured((c) => {
          c.auth.cache_seconds = 0;
          c.oidc.jwks_max_age_seconds = 0.5;
        }),
        async (t) => {
          await withRunway(t);
          const before = await provider.issue('tenant');
          assert.equal(await status(t, before), 200);
          await provider.rotate();
          await new Promise((r) => setTimeout(r, 600));
          assert.equal(await status(t, before), 401);
          assert.equal(await status(t, await provider.issue('tenant')), 200);
        },
      ));

    it('an access token only: a token signed by the provider\'s key but typed as an ID token ("JWT") is refused unless token_type is ""', async () => {
      const real = await provider.issue('tenant');
      const key = await importJWK(provider.keys[0], 'RS256');
      const idLike = await new SignJWT(decodeJwt(real)).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: provider.keys[0].kid }).sign(key);
      await withHil(database, configured(), async (t) => {
        await withRunway(t);
        assert.equal(await status(t, idLike), 401);
      });
      await withHil(database, configured((c) => (c.oidc.token_type = '')), async (t) => {
        await withRunway(t);
        assert.equal(await status(t, idLike), 200);
      });
    });

    it('follows a key rotation: a token with the new key fetches the key set again; the old key\'s tokens fail once uncached', () =>
      withHil(database, configured((c) => (c.auth.cache_seconds = 0)), async (t) => {
        await withRunway(t);
        const before = await provider.issue('tenant');
        assert.equal(await status(t, before), 200);
        await provider.rotate();
        const afterRotation = await provider.issue('tenant');
        assert.equal(await status(t, afterRotation), 200);
        assert.equal(await status(t, before), 401);
      }));

    it('maps nested claims and prefixes (a Keycloak-style token)', () =>
      withHil(
        database,
        configured((c) => {
          c.oidc.roles_claim = 'realm_access.roles';
          c.oidc.admin_role = 'hil-admin';
          c.oidc.projects_claim = 'realm_access.groups';
          c.oidc.project_prefix = 'hil-';
        }),
        async (t) => {
          const admin = t.withHeaders(bearer(await provider.issue('keycloak-admin')));
          assert.equal((await admin('PUT', '/v0/project/runway')).status, 200, 'hil-admin makes an administrator');
          assert.equal((await admin('PUT', '/v0/project/other')).status, 200);
          const member = await provider.issue('keycloak-member');
          assert.equal(await status(t, member), 200, '"hil-runway" is project runway');
          assert.equal(await status(t, member, '/v0/project/other/nodes'), 401, '"other" lacks the prefix');
          assert.equal(await status(t, member, '/v0/projects'), 401, '"admin" is not the admin role here');
        },
      ));

    it('a derived HIL reaches its base with a client-credentials token', () =>
      withHil(database, configured(), async (t) => {
        await withRunway(t);
        const endpoint = await listen(t);
        const upstream = connectUpstream({
          endpoint,
          credentials: { oidc: { issuer: provider.issuer, clientId: 'tenant', clientSecret: 'tenant-secret', resource: provider.audience } },
          project: 'runway',
          timeoutMs: 5000,
        });
        assert.deepEqual(await upstream.client.project.nodes('runway'), []);
        await assert.rejects(upstream.client.project.list(), (err: Error & { status?: number }) => err.status === 401);
      }));
  });
}

describe('oidc auth: a provider that cannot be used', () => {
  const database = testDatabases()[0];
  const config = (issuer: string) => ({
    auth: 'oidc' as const,
    config: (c: Config) => {
      c.oidc.issuer = issuer;
      c.oidc.audience = 'urn:hil:test';
      c.oidc.timeout_seconds = 1;
    },
  });
  const someJwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

  it('a provider that does not answer: 503 within timeout_seconds', async () => {
    // Accepts connections and never answers.
    const silent = createServer(() => {});
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const issuer = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      await withHil(database, config(issuer), async (t) => {
        const started = Date.now();
        const r = await t.withHeaders(bearer(someJwt))('GET', '/v0/projects');
        assert.equal(r.status, 503);
        assert.equal(r.body.msg, 'The OpenID provider could not be used to check the token (within 1 s); try again later');
        assert.ok(Date.now() - started < 5000);
        assert.match(String(t.logs.find((l) => l.msg === 'the OpenID provider cannot be used')?.detail), /discovery document .* did not answer within 1 s/);
      });
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('a key set that answers 500 is the provider\'s trouble: 503, not 401', async () => {
    const broken = createServer((req, res) => {
      const issuer = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
      if (req.url === '/.well-known/openid-configuration') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      } else {
        res.statusCode = 500;
        res.end('down for maintenance');
      }
    });
    broken.listen(0, '127.0.0.1');
    await once(broken, 'listening');
    try {
      await withHil(database, config(`http://127.0.0.1:${(broken.address() as AddressInfo).port}`), async (t) => {
        const r = await t.withHeaders(bearer(someJwt))('GET', '/v0/projects');
        assert.equal(r.status, 503, r.text);
        assert.match(String(t.logs.find((l) => l.msg === 'the OpenID provider cannot be used')?.detail), /key set: Expected 200 OK from the JSON Web Key Set HTTP response/);
      });
    } finally {
      broken.closeAllConnections();
      broken.close();
    }
  });

  it('a discovery document naming another issuer is not trusted (503, and it says why)', async () => {
    const impostor = await startOidcProvider();
    try {
      const issuer = impostor.issuer.replace('127.0.0.1', 'localhost');
      await withHil(database, config(issuer), async (t) => {
        const r = await t.withHeaders(bearer(await impostor.issue('x').catch(() => someJwt)))('GET', '/v0/projects');
        assert.equal(r.status, 503);
        const detail = String(t.logs.find((l) => l.msg === 'the OpenID provider cannot be used')?.detail);
        assert.match(detail, /names issuer "http:\/\/127\.0\.0\.1:\d+", not "http:\/\/localhost:\d+"/);
      });
    } finally {
      await impostor.close();
    }
  });
});
