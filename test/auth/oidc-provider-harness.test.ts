/**
 * The OIDC test provider (test/support/oidc-provider.ts) does what the OIDC
 * auth tests take for granted: a discovery document naming its issuer and
 * JWKS, RS256 JWT access tokens carrying the clients' claims, a rotation that
 * retires the old key, and bad tokens that fail for the reason they are meant
 * to fail, each checked with jose as a resource server would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTVerifyOptions } from 'jose';
import { startOidcProvider, type OidcProvider } from '../support/oidc-provider.ts';

const ALICE_CLAIMS = { hil_projects: ['runway'], groups: ['ops', 'lab'] };
const ADMIN_CLAIMS = { hil_admin: true };

describe('OIDC provider harness', () => {
  let op: OidcProvider;
  let expected: JWTVerifyOptions;
  // A fresh JWKS fetch each time, as a verifier started after the change would see it.
  const verify = (token: string, o: JWTVerifyOptions = expected) => jwtVerify(token, createRemoteJWKSet(new URL(op.jwksUri)), o);
  const refusal = async (token: string, o?: JWTVerifyOptions) => {
    const err = await verify(token, o).then(
      () => assert.fail('the token was accepted'),
      (e: { code?: string; claim?: string }) => e,
    );
    return { code: err.code, claim: err.claim };
  };

  before(async () => {
    op = await startOidcProvider({
      accessTokenTtlSeconds: 300,
      clients: [
        { id: 'alice', claims: ALICE_CLAIMS },
        { id: 'root', claims: ADMIN_CLAIMS },
      ],
    });
    expected = { issuer: op.issuer, audience: op.audience, algorithms: ['RS256'] };
  });
  after(() => op?.close());

  it('publishes a discovery document with its issuer, JWKS and token endpoint', async () => {
    const res = await fetch(op.discoveryUrl);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as Record<string, unknown>;
    assert.match(op.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(doc.issuer, op.issuer);
    assert.equal(doc.jwks_uri, op.jwksUri);
    assert.equal(doc.token_endpoint, op.tokenEndpoint);
    assert.ok((doc.grant_types_supported as string[]).includes('client_credentials'));
    const jwks = (await (await fetch(op.jwksUri)).json()) as { keys: Array<Record<string, unknown>> };
    assert.deepEqual(jwks.keys.map((k) => k.kid), [op.keys[0].kid]);
    assert.equal(jwks.keys[0].d, undefined, 'the JWKS must not carry the private part');
  });

  it('issues RS256 JWT access tokens carrying the client claims', async () => {
    const token = await op.issue('alice', { scope: 'hil' });
    const { payload, protectedHeader } = await verify(token);
    assert.deepEqual(protectedHeader, { alg: 'RS256', typ: 'at+jwt', kid: op.keys[0].kid });
    assert.equal(payload.aud, 'urn:hil:test');
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.client_id, 'alice');
    assert.equal(payload.scope, 'hil');
    assert.deepEqual(payload.hil_projects, ['runway']);
    assert.deepEqual(payload.groups, ['ops', 'lab']);
    assert.equal(payload.hil_admin, undefined);
    assert.equal(payload.exp! - payload.iat!, 300);

    const admin = await verify(await op.issue('root'));
    assert.equal(admin.payload.hil_admin, true);
    assert.equal(admin.payload.hil_projects, undefined);
  });

  it('takes clients added after the start, and reports a refused token request', async () => {
    op.addClient('late', { claims: { groups: ['late'] } });
    assert.deepEqual((await verify(await op.issue('late'))).payload.groups, ['late']);
    await assert.rejects(op.issue('alice', { resource: 'not a uri' }), /400 invalid_target/);
    await assert.rejects(op.issue('nobody'), /no client nobody/);
  });

  it('refuses a tampered token and an unsigned one', async () => {
    const token = await op.issue('alice');
    const tampered = op.tamper(token);
    assert.equal(decodeJwt(tampered).hil_admin, true);
    assert.deepEqual(decodeJwt(tampered).hil_projects, ['runway']);
    assert.deepEqual(await refusal(tampered), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED', claim: undefined });

    const unsigned = op.unsigned(token);
    assert.equal(decodeProtectedHeader(unsigned).alg, 'none');
    assert.equal(unsigned.split('.')[2], '');
    assert.deepEqual(decodeJwt(unsigned), decodeJwt(token));
    assert.equal((await refusal(unsigned)).code, 'ERR_JOSE_ALG_NOT_ALLOWED');
  });

  it('makes expired, foreign, wrong-audience and wrong-issuer tokens that fail on that alone', async () => {
    const expired = await op.expiredToken('alice');
    assert.deepEqual(await refusal(expired), { code: 'ERR_JWT_EXPIRED', claim: 'exp' });
    const { exp } = decodeJwt(expired);
    assert.ok(exp! < Date.now() / 1000 - 3000);
    // The provider signed it: an hour ago it would have been good.
    await verify(expired, { ...expected, currentDate: new Date((exp! - 60) * 1000) });

    const foreign = await op.foreignToken('alice');
    assert.equal(decodeProtectedHeader(foreign).kid, op.keys[0].kid);
    assert.equal(decodeJwt(foreign).iss, op.issuer);
    assert.equal((await refusal(foreign)).code, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    assert.equal((await refusal(await op.foreignToken('alice', { kid: 'unknown' }))).code, 'ERR_JWKS_NO_MATCHING_KEY');

    const elsewhere = await op.wrongAudience('alice');
    assert.deepEqual(await refusal(elsewhere), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' });
    await verify(elsewhere, { ...expected, audience: 'urn:hil:elsewhere' });

    const stranger = await op.wrongIssuer('alice');
    assert.notEqual(decodeJwt(stranger).iss, op.issuer);
    assert.deepEqual(await refusal(stranger), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' });
    await verify(stranger, { ...expected, issuer: decodeJwt(stranger).iss });
  });

  it('rotates: only the new key is published, old tokens fail and new ones pass', async () => {
    const oldKid = op.keys[0].kid;
    const old = await op.issue('alice');
    await verify(old);

    const [fresh] = await op.rotate();
    assert.notEqual(fresh.kid, oldKid);
    const jwks = (await (await fetch(op.jwksUri)).json()) as { keys: Array<{ kid: string }> };
    assert.deepEqual(jwks.keys.map((k) => k.kid), [fresh.kid]);
    assert.equal((await refusal(old)).code, 'ERR_JWKS_NO_MATCHING_KEY');

    const renewed = await op.issue('alice');
    const { payload, protectedHeader } = await verify(renewed);
    assert.equal(protectedHeader.kid, fresh.kid);
    assert.deepEqual(payload.hil_projects, ['runway'], 'clients and claims outlive the rotation');
  });

  it('closes its port', async () => {
    const other = await startOidcProvider();
    await fetch(other.discoveryUrl);
    await other.close();
    await assert.rejects(fetch(other.discoveryUrl));
  });
});
