/**
 * Our CLI against an OIDC-backed server, with a real OpenID provider: it gets
 * its own token with the client-credentials grant from the HIL_OIDC_*
 * variables (through the provider's discovery document), or uses HIL_TOKEN.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { startTestHil, type TestHil } from '../support/hil.ts';
import { listen } from '../support/fixtures.ts';
import { oidcConfig } from '../support/identities.ts';
import { startOidcProvider, type OidcProvider } from '../support/oidc-provider.ts';
import { runHilWith } from '../support/processes.ts';

describe('the CLI against an oidc-backed server', () => {
  const database = testDatabases()[0];
  let provider: OidcProvider;
  let t: TestHil;
  let drop: () => Promise<void>;
  let endpoint: string;
  const SECRET = 'lab-client-secret-9d1f';

  before(async () => {
    provider = await startOidcProvider({
      clients: [
        { id: 'ops', claims: { hil_roles: ['admin'] } },
        { id: 'lab-ci', secret: SECRET, claims: { hil_projects: ['lab'] } },
      ],
    });
    const db = await database.create();
    drop = () => db.drop();
    t = await startTestHil(db, { auth: 'oidc', config: (c) => oidcConfig(c, provider) });
    endpoint = await listen(t);
    const created = await runHilWith(endpoint, { HIL_TOKEN: await provider.issue('ops') }, ['project', 'create', 'lab']);
    assert.equal(created.status, 0, created.stderr);
  });
  after(async () => {
    await t?.close();
    await drop?.();
    await provider?.close();
  });

  const clientCredentials = (secret = SECRET) => ({ HIL_OIDC_ISSUER: provider.issuer, HIL_OIDC_CLIENT_ID: 'lab-ci', HIL_OIDC_CLIENT_SECRET: secret, HIL_OIDC_RESOURCE: provider.audience });

  it('gets a token by client credentials and acts as its project, no more', async () => {
    const net = await runHilWith(endpoint, clientCredentials(), ['network', 'create', 'lab-net', 'lab']);
    assert.equal(net.status, 0, net.stderr);
    const mine = await runHilWith(endpoint, clientCredentials(), ['project', 'list-networks', 'lab', '--json']);
    assert.deepEqual(JSON.parse(mine.stdout), ['lab-net']);
    const refused = await runHilWith(endpoint, clientCredentials(), ['project', 'list']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /administrator-only/);
  });

  it('says what the provider said about a wrong client secret, without the secret', async () => {
    const r = await runHilWith(endpoint, clientCredentials('not-the-secret'), ['project', 'list-networks', 'lab']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /the OpenID provider http:\/\/127\.0\.0\.1:\d+ refused a token for client lab-ci: .*invalid_client/);
    assert.ok(!r.stderr.includes('not-the-secret') && !r.stderr.includes(SECRET));
  });
});
