/**
 * The keystone backend against a real Keystone (Debian's, started by the
 * test): what a token grants under each project mapping, upstream's
 * difference on admins, revocation and expiry, a Keystone that does not
 * answer, and the mapping table's routes. The full route × role matrix runs
 * with this backend in test/api/authz-*.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../../support/databases.ts';
import { withHil, type TestHil } from '../../support/hil.ts';
import { listen } from '../../support/fixtures.ts';
import { sendSimultaneously } from '../../support/simultaneous.ts';
import { keystoneMissing, sharedKeystone, startKeystone, type Keystone } from '../../support/keystone.ts';
import { keystoneConfig } from '../../support/identities.ts';
import { skipUnless } from '../../support/require.ts';
import type { Config } from '../../../src/config/config.ts';
import { keystoneProjects } from '../../../src/drivers/auth/keystone-projects.ts';

const skip = skipUnless(keystoneMissing());

interface World {
  keystone: Keystone;
  /** Keystone project ids. */
  projects: { tenant: { id: string; name: string }; unknown: { id: string; name: string } };
  tokens: { admin: string; member: string; unknownProject: string; adminElsewhere: string };
}

let world: World | undefined;

async function makeWorld(): Promise<World> {
  const keystone = await sharedKeystone();
  const tenant = await keystone.createProject('kt-tenant');
  const unknown = await keystone.createProject('kt-unknown');
  const carol = await keystone.createUser('kt-carol', 'carol-pw');
  const root = await keystone.createUser('kt-root', 'root-pw');
  await keystone.grant(carol.id, tenant.id, 'member');
  await keystone.grant(carol.id, unknown.id, 'member');
  // Keystone's admin role, on a tenant project: upstream made this a HIL admin.
  await keystone.grant(root.id, tenant.id, 'admin');
  const token = async (username: string, password: string, project: string) => (await keystone.issueToken({ username, password, project })).token;
  return {
    keystone,
    projects: { tenant, unknown },
    tokens: {
      admin: await keystone.adminToken(),
      member: await token('kt-carol', 'carol-pw', 'kt-tenant'),
      unknownProject: await token('kt-carol', 'carol-pw', 'kt-unknown'),
      adminElsewhere: await token('kt-root', 'root-pw', 'kt-tenant'),
    },
  };
}

const xAuth = (token: string) => ({ 'x-auth-token': token });

function configured(w: World, more: (c: Config) => void = () => {}) {
  return {
    auth: 'keystone' as const,
    config: (c: Config) => {
      keystoneConfig(c, w.keystone);
      more(c);
    },
  };
}

/** Who the token is, as GET /v0/projects (admin only) and GET /v0/project/<p>/nodes (members) tell. */
async function reach(t: TestHil, headers: Record<string, string>, project: string): Promise<{ admin: number; project: number }> {
  const as = t.withHeaders(headers);
  return { admin: (await as('GET', '/v0/projects')).status, project: (await as('GET', `/v0/project/${project}/nodes`)).status };
}

for (const database of testDatabases()) {
  describe(`keystone auth on ${database.name}`, { skip: database.skip ?? skip }, () => {
    before(async () => {
      world ??= await makeWorld();
    });

    it('maps by name: a member reaches its project only; a token for a project HIL does not know is refused', () =>
      withHil(database, configured(world!), async (t) => {
        await t.withHeaders(xAuth(world!.tokens.admin))('PUT', '/v0/project/kt-tenant');
        assert.deepEqual(await reach(t, xAuth(world!.tokens.member), 'kt-tenant'), { admin: 401, project: 200 });
        // Authorization: Bearer works as X-Auth-Token does (our client sends tokens that way).
        assert.deepEqual(await reach(t, { authorization: `Bearer ${world!.tokens.member}` }, 'kt-tenant'), { admin: 401, project: 200 });
        const refused = await t.withHeaders(xAuth(world!.tokens.unknownProject))('GET', '/v0/project/kt-tenant/nodes');
        assert.equal(refused.status, 401);
        assert.equal(refused.body.msg, 'Authentication failed. Authentication is required to use this service.');
        assert.ok(t.logs.some((l) => l.msg === 'Keystone token confirmed, but its project is not a HIL project' && l.keystoneProject === world!.projects.unknown.id));
      }));

    it('offers the project table\'s routes only with project_mapping = "table"', () =>
      withHil(database, configured(world!), async (t) => {
        const admin = t.withHeaders(xAuth(world!.tokens.admin));
        assert.equal((await admin('GET', '/v0/auth/keystone/projects')).status, 404);
        assert.equal((await admin('PUT', `/v0/auth/keystone/project/${world!.projects.tenant.id}`, { project: 'x' })).status, 404);
      }));

    it("maps by id (upstream's rule): the HIL project is named by the Keystone project's id", () =>
      withHil(database, configured(world!, (c) => (c.keystone.project_mapping = 'id')), async (t) => {
        const admin = t.withHeaders(xAuth(world!.tokens.admin));
        assert.equal((await admin('PUT', `/v0/project/${world!.projects.tenant.id}`)).status, 200);
        assert.equal((await admin('PUT', '/v0/project/kt-tenant')).status, 200);
        assert.deepEqual(await reach(t, xAuth(world!.tokens.member), world!.projects.tenant.id), { admin: 401, project: 200 });
        // The project named like the Keystone project is somebody else's under this rule.
        assert.equal((await t.withHeaders(xAuth(world!.tokens.member))('GET', '/v0/project/kt-tenant/nodes')).status, 401);
      }));

    it('maps by table: only what an administrator mapped, through /v0/auth/keystone/project', () =>
      withHil(database, configured(world!, (c) => (c.keystone.project_mapping = 'table')), async (t) => {
        const admin = t.withHeaders(xAuth(world!.tokens.admin));
        const member = xAuth(world!.tokens.member);
        assert.equal((await admin('PUT', '/v0/project/ours')).status, 200);
        assert.equal((await t.withHeaders(member)('GET', '/v0/project/ours/nodes')).status, 401, 'nothing is mapped yet');
        assert.equal((await admin('PUT', `/v0/auth/keystone/project/${world!.projects.tenant.id}`, { project: 'ours' })).status, 200);
        assert.deepEqual((await admin('GET', '/v0/auth/keystone/projects')).body, { [world!.projects.tenant.id]: 'ours' });
        // The mapping takes effect at once, though the token's refusal was cached.
        assert.deepEqual(await reach(t, member, 'ours'), { admin: 401, project: 200 });
        assert.equal((await admin('PUT', `/v0/auth/keystone/project/${world!.projects.tenant.id}`, { project: 'nosuch' })).status, 404);
        assert.equal((await admin('PUT', '/v0/auth/keystone/project/has%20space', { project: 'ours' })).status, 400);
        assert.equal((await admin('DELETE', `/v0/auth/keystone/project/${world!.projects.tenant.id}`)).status, 200);
        assert.equal((await t.withHeaders(member)('GET', '/v0/project/ours/nodes')).status, 401);
        assert.equal((await admin('DELETE', `/v0/auth/keystone/project/${world!.projects.tenant.id}`)).status, 404);
        // The mapping goes with its project.
        await admin('PUT', `/v0/auth/keystone/project/${world!.projects.tenant.id}`, { project: 'ours' });
        assert.equal((await admin('DELETE', '/v0/project/ours')).status, 200);
        assert.deepEqual((await admin('GET', '/v0/auth/keystone/projects')).body, {});
      }));

    it('mappings raced against each other and against their project\'s deletion end consistent', () =>
      withHil(database, configured(world!, (c) => (c.keystone.project_mapping = 'table')), async (t) => {
        const headers = xAuth(world!.tokens.admin);
        const admin = t.withHeaders(headers);
        for (const p of ['p1', 'p2', 'doomed']) assert.equal((await admin('PUT', `/v0/project/${p}`)).status, 200);
        const url = await listen(t);
        const id = world!.projects.tenant.id;
        const answers = await sendSimultaneously(url, [
          { method: 'PUT', path: `/v0/auth/keystone/project/${id}`, body: { project: 'p1' }, headers },
          { method: 'PUT', path: `/v0/auth/keystone/project/${id}`, body: { project: 'p2' }, headers },
          { method: 'PUT', path: '/v0/auth/keystone/project/aaaa0000aaaa0000aaaa0000aaaa0000', body: { project: 'doomed' }, headers },
          { method: 'DELETE', path: '/v0/project/doomed', headers },
        ]);
        assert.deepEqual(answers.slice(0, 2).map((a) => a.status), [200, 200]);
        const mapped = (await admin('GET', '/v0/auth/keystone/projects')).body;
        assert.ok(['p1', 'p2'].includes(mapped[id]), JSON.stringify(mapped));
        // The project went (the mapping with it), or the map came after and the delete saw none.
        const [doomedMap, doomedDelete] = [answers[2].status, answers[3].status];
        const doomedExists = (await admin('GET', '/v0/projects')).body.includes('doomed');
        assert.equal(doomedExists, doomedDelete !== 200, `map ${doomedMap}, delete ${doomedDelete}`);
        // Read the table itself: the listing's join would hide a row left pointing at nothing.
        const rows = await keystoneProjects(t.hil.store.db).selectFrom('keystone_project').select('keystone_id').execute();
        assert.deepEqual(rows.map((r) => r.keystone_id).sort(), doomedExists ? ['aaaa0000aaaa0000aaaa0000aaaa0000', id].sort() : [id]);
      }));

    it('admin is the configured role on the configured project only (upstream: on any project)', () =>
      withHil(database, configured(world!), async (t) => {
        await t.withHeaders(xAuth(world!.tokens.admin))('PUT', '/v0/project/kt-tenant');
        assert.deepEqual(await reach(t, xAuth(world!.tokens.admin), 'kt-tenant'), { admin: 200, project: 200 });
        // Keystone's admin role on kt-tenant: a member of kt-tenant here, not an administrator.
        assert.deepEqual(await reach(t, xAuth(world!.tokens.adminElsewhere), 'kt-tenant'), { admin: 401, project: 200 });
      }));

    it('a revoked token stops working within cache_seconds, and Keystone is asked once per token while cached', () =>
      withHil(database, configured(world!, (c) => (c.auth.cache_seconds = 1)), async (t) => {
        await t.withHeaders(xAuth(world!.tokens.admin))('PUT', '/v0/project/kt-tenant');
        const token = (await world!.keystone.issueToken({ username: 'kt-carol', password: 'carol-pw', project: 'kt-tenant' })).token;
        const validations = () => world!.keystone.validationsOf(token);
        const before = validations();
        const calls = await Promise.all(Array.from({ length: 5 }, () => t.withHeaders(xAuth(token))('GET', '/v0/project/kt-tenant/nodes')));
        assert.deepEqual(calls.map((r) => r.status), [200, 200, 200, 200, 200]);
        assert.equal(validations() - before, 1, 'five requests, one validation');
        await world!.keystone.revoke(token);
        const deadline = Date.now() + 3000;
        let status = 200;
        while (status === 200 && Date.now() < deadline) {
          status = (await t.withHeaders(xAuth(token))('GET', '/v0/project/kt-tenant/nodes')).status;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(status, 401, 'still accepted 3 s after revocation with cache_seconds = 1');
      }));

    it('refuses garbage, an empty token and a token in the wrong header form with 401, asking Keystone about a bad token once and about the last two never', () =>
      withHil(database, configured(world!), async (t) => {
        const status = async (headers: Record<string, string>) => (await t.withHeaders(headers)('GET', '/v0/projects')).status;
        assert.equal(await status(xAuth('gAAAAABnot-a-token')), 401);
        const forged = world!.tokens.member.slice(0, -4) + 'AAAA';
        const before = world!.keystone.validationsOf(forged);
        assert.equal(await status(xAuth(forged)), 401);
        assert.equal(await status(xAuth(forged)), 401);
        assert.equal(world!.keystone.validationsOf(forged), before + 1, 'Keystone was asked about the forged token once: the refusal is remembered briefly');
        const empty = world!.keystone.validationsOf('');
        assert.equal(await status({ 'x-auth-token': '' }), 401);
        assert.equal(world!.keystone.validationsOf(''), empty, 'an empty token is no token');
        const asked = world!.keystone.validationsOf(world!.tokens.admin);
        assert.equal(await status({ authorization: `Basic ${Buffer.from(`admin:${world!.tokens.admin}`).toString('base64')}` }), 401);
        assert.equal(world!.keystone.validationsOf(world!.tokens.admin), asked, 'a token in Basic credentials is not a token');
      }));
  });
}

describe('keystone auth: a token that expires', { skip }, () => {
  let keystone: Keystone | undefined;
  const database = testDatabases()[0];
  before(async () => {
    keystone = await startKeystone({ tokenExpirationSeconds: 3 });
  });
  after(() => keystone?.stop());

  it('is refused once expired, though cache_seconds is longer than its life', () =>
    withHil(database, { auth: 'keystone', config: (c: Config) => (keystoneConfig(c, keystone!), (c.auth.cache_seconds = 3600)) }, async (t) => {
      const a = keystone!.adminUser;
      const issued = await keystone!.issueToken({ username: a.username, password: a.password, project: a.project });
      assert.equal((await t.withHeaders(xAuth(issued.token))('GET', '/v0/projects')).status, 200);
      await new Promise((r) => setTimeout(r, Math.max(0, issued.expiresAt.getTime() - Date.now()) + 50));
      assert.equal((await t.withHeaders(xAuth(issued.token))('GET', '/v0/projects')).status, 401);
    }));
});

describe('keystone auth: a Keystone that does not answer, or refuses HIL', { skip }, () => {
  const database = testDatabases()[0];
  let keystone: Keystone;
  before(async () => {
    keystone = await sharedKeystone();
  });

  const config = (more: (c: Config) => void = () => {}) => ({
    auth: 'keystone' as const,
    config: (c: Config) => {
      keystoneConfig(c, keystone);
      c.keystone.timeout_seconds = 1;
      more(c);
    },
  });
  const adminToken = async () => {
    const a = keystone.adminUser;
    return (await keystone.issueToken({ username: a.username, password: a.password, project: a.project })).token;
  };

  it('503 after timeout_seconds, the details only in the log, and cached tokens go on working meanwhile', () =>
    withHil(database, config(), async (t) => {
      const known = await adminToken();
      const unknown = await adminToken();
      assert.equal((await t.withHeaders(xAuth(known))('GET', '/v0/projects')).status, 200);
      keystone.pause();
      try {
        const started = Date.now();
        const slow = t.withHeaders(xAuth(unknown))('GET', '/v0/projects').then((r) => ({ r, ms: Date.now() - started }));
        await new Promise((r) => setTimeout(r, 100));
        const fast = await t.withHeaders(xAuth(known))('GET', '/v0/projects');
        const fastMs = Date.now() - started;
        const { r, ms } = await slow;
        assert.equal(fast.status, 200);
        assert.ok(fastMs < ms, `the cached token answered after ${fastMs} ms, the uncached one after ${ms} ms`);
        assert.equal(r.status, 503);
        assert.equal(r.body.msg, 'The identity service (Keystone) could not confirm the token within 1 s; try again later');
        assert.ok(ms >= 1000 && ms < 5000, `503 after ${ms} ms`);
        const line = t.logs.find((l) => l.msg === 'Keystone cannot confirm tokens');
        assert.equal(line?.keystone, keystone.url, 'the log says which Keystone');
        assert.equal(line?.detail, 'no answer within 1000 ms');
      } finally {
        keystone.resume();
      }
      assert.equal((await t.withHeaders(xAuth(unknown))('GET', '/v0/projects')).status, 200, 'works again once Keystone answers');
    }));

  it("a wrong service password: 503, not 401, and not tried again on every request", () =>
    withHil(database, config((c) => (c.keystone.password = 'not-the-password')), async (t) => {
      const token = await adminToken();
      for (let i = 0; i < 3; i++) assert.equal((await t.withHeaders(xAuth(token))('GET', '/v0/projects')).status, 503);
      const details = t.logs.filter((l) => l.msg === 'Keystone cannot confirm tokens').map((l) => l.detail);
      assert.deepEqual(details, [
        "Keystone refused HIL's service user hil-service: 401",
        "HIL's service user was refused moments ago; not retried yet",
        "HIL's service user was refused moments ago; not retried yet",
      ]);
      assert.ok(!JSON.stringify(t.logs).includes('not-the-password'), 'the password is in no log line');
    }));
});
