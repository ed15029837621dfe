/**
 * Clients against a Keystone-backed server, with a real Keystone: our CLI
 * with the OpenStack variables (it gets the token itself) and with
 * HIL_TOKEN, and a keystoneauth1 session making calls as upstream's client
 * does (X-Auth-Token on every request). The server listens on loopback.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { testDatabases } from '../support/databases.ts';
import { startTestHil, type TestHil } from '../support/hil.ts';
import { listen } from '../support/fixtures.ts';
import { keystoneConfig } from '../support/identities.ts';
import { keystoneMissing, sharedKeystone, type Keystone } from '../support/keystone.ts';
import { runHilWith } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';

const skip = skipUnless(keystoneMissing());
const UPSTREAM_LIKE_CLIENT = fileURLToPath(new URL('./fixtures/keystoneauth-client.py', import.meta.url));

/** Runs the keystoneauth1 client with `env` (secrets there, not in argv); calls on stdin. */
function upstreamClient(env: Record<string, string>, calls: Array<{ method: string; path: string; body?: unknown }>): Promise<Array<{ status: number; body: string }>> {
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/bin/python3', [UPSTREAM_LIKE_CLIENT], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout));
    });
    child.stdin!.end(JSON.stringify(calls));
  });
}

describe('clients against a keystone-backed server', { skip }, () => {
  const database = testDatabases()[0];
  let keystone: Keystone;
  let t: TestHil;
  let drop: () => Promise<void>;
  let endpoint: string;
  let os: { admin: Record<string, string>; dora: Record<string, string> };

  before(async () => {
    keystone = await sharedKeystone();
    const project = await keystone.createProject('kc-lab');
    const dora = await keystone.createUser('kc-dora', 'dora-pw');
    await keystone.grant(dora.id, project.id, 'member');
    const db = await database.create();
    drop = () => db.drop();
    t = await startTestHil(db, { auth: 'keystone', config: (c) => keystoneConfig(c, keystone) });
    endpoint = await listen(t);
    const a = keystone.adminUser;
    const vars = (user: string, password: string, projectName: string) => ({ OS_AUTH_URL: keystone.url, OS_USERNAME: user, OS_PASSWORD: password, OS_PROJECT_NAME: projectName });
    // The admin's by domain name, as Horizon's openrc files give it; dora's with the default domain id.
    os = { admin: { ...vars(a.username, a.password, a.project), OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default' }, dora: vars('kc-dora', 'dora-pw', 'kc-lab') };
  });
  after(async () => {
    await t?.close();
    await drop?.();
  });

  it('our CLI gets a token from the OpenStack variables: an admin creates the project, its member uses it, and not what is not hers', async () => {
    const created = await runHilWith(endpoint, os.admin, ['project', 'create', 'kc-lab']);
    assert.equal(created.status, 0, created.stderr);
    const listed = await runHilWith(endpoint, os.admin, ['project', 'list', '--json']);
    assert.deepEqual(JSON.parse(listed.stdout), ['kc-lab']);
    const net = await runHilWith(endpoint, os.dora, ['network', 'create', 'kc-net', 'kc-lab']);
    assert.equal(net.status, 0, net.stderr);
    const mine = await runHilWith(endpoint, os.dora, ['project', 'list-networks', 'kc-lab', '--json']);
    assert.deepEqual(JSON.parse(mine.stdout), ['kc-net']);
    const refused = await runHilWith(endpoint, os.dora, ['project', 'list']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /administrator-only/);
    // The password is not in what the CLI prints when refused (it was given in the environment, never as an argument).
    assert.ok(!refused.stderr.includes('dora-pw'));
  });

  it('our CLI with HIL_TOKEN, and a clear error for a wrong OpenStack password', async () => {
    const token = (await keystone.issueToken({ username: 'kc-dora', password: 'dora-pw', project: 'kc-lab' })).token;
    const r = await runHilWith(endpoint, { HIL_TOKEN: token }, ['project', 'list-networks', 'kc-lab', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Array.isArray(JSON.parse(r.stdout)));
    const wrong = await runHilWith(endpoint, { ...os.dora, OS_PASSWORD: 'not-doras' }, ['project', 'list-networks', 'kc-lab']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /Keystone at .* refused a token for kc-dora on project kc-lab: 401/);
  });

  it("upstream's client (a keystoneauth1 session, X-Auth-Token) works unchanged", async () => {
    await runHilWith(endpoint, os.admin, ['project', 'create', 'kc-lab']); // may exist already
    const answers = await upstreamClient({ ...os.dora, HIL_ENDPOINT: endpoint }, [
      { method: 'PUT', path: '/v0/network/kc-upstream', body: { owner: 'kc-lab', access: 'kc-lab', net_id: '' } },
      { method: 'GET', path: '/v0/project/kc-lab/networks' },
      { method: 'GET', path: '/v0/projects' },
    ]);
    assert.equal(answers[0].status, 200, answers[0].body);
    assert.equal(answers[1].status, 200);
    assert.ok(JSON.parse(answers[1].body).includes('kc-upstream'));
    assert.equal(answers[2].status, 401, 'a member is no administrator');
    assert.equal(JSON.parse(answers[2].body).type, 'AuthorizationError');
  });
});
