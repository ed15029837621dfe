/**
 * The Keystone harness against the real Keystone: tokens issued, validated by
 * the service user, revoked, expired; requests served concurrently; a paused
 * Keystone that accepts connections and never answers.
 */
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { keystoneMissing, sharedKeystone, startKeystone, type Keystone } from '../support/keystone.ts';
import { skipUnless } from '../support/require.ts';

const skip = skipUnless(keystoneMissing());

/** A project with one user holding `role` on it; names unique to the call, as the Keystone is shared. */
async function member(k: Keystone, role = 'member') {
  const suffix = randomUUID().slice(0, 8);
  const project = await k.createProject(`p-${suffix}`);
  const password = randomUUID();
  const user = await k.createUser(`u-${suffix}`, password);
  await k.grant(user.id, project.id, role);
  return { project, user, creds: { username: `u-${suffix}`, password, project: project.name } };
}

/** A TCP connection to the Keystone, once connected. */
function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s));
    s.once('error', reject);
  });
}

describe('a real Keystone', { skip }, () => {
  let k: Keystone;
  let serviceToken: string;

  before(async () => {
    k = await sharedKeystone();
    console.log(`# keystone started in ${k.startMs} ms`);
    serviceToken = (await k.issueToken(k.serviceUser)).token;
  });

  it('is started once per process', async () => {
    assert.equal(await sharedKeystone(), k);
  });

  it("lets the service user validate a user's project token: project and roles", async () => {
    const m = await member(k);
    const issued = await k.issueToken(m.creds);
    // Keystone's default lifetime, as no tokenExpirationSeconds was given.
    assert.equal(issued.expiresAt.getTime() - Date.parse(issued.body.token.issued_at), 3600_000);
    const v = await k.validate(issued.token, serviceToken);
    assert.equal(v.status, 200);
    assert.equal(v.body!.token.project!.name, m.project.name);
    assert.equal(v.body!.token.project!.id, m.project.id);
    assert.equal(v.body!.token.user.id, m.user.id);
    // Bootstrap makes member imply reader.
    assert.deepEqual(v.body!.token.roles!.map((r) => r.name).sort(), ['member', 'reader']);
    // The existing role, not a second one of that name.
    assert.equal((await k.createRole('member')).id, v.body!.token.roles!.find((r) => r.name === 'member')!.id);
  });

  it('gives the service user no more than validating: a member cannot validate, the service user cannot list users', async () => {
    const a = await member(k);
    const b = await member(k);
    const tokenA = (await k.issueToken(a.creds)).token;
    const tokenB = (await k.issueToken(b.creds)).token;
    assert.equal((await k.validate(tokenA, tokenB)).status, 403);
    const users = await fetch(`${k.url}/users`, { headers: { 'x-auth-token': serviceToken } });
    await users.body?.cancel();
    assert.equal(users.status, 403);
  });

  it('an unscoped token carries no project', async () => {
    const m = await member(k);
    const issued = await k.issueUnscopedToken(m.creds);
    const v = await k.validate(issued.token, serviceToken);
    assert.equal(v.status, 200);
    assert.equal(v.body!.token.user.id, m.user.id);
    assert.equal(v.body!.token.project, undefined);
  });

  it('a revoked token fails validation at once; another token of the same user does not', async () => {
    const m = await member(k);
    const revoked = await k.issueToken(m.creds);
    const kept = await k.issueToken(m.creds);
    assert.equal((await k.validate(revoked.token, serviceToken)).status, 200);
    await k.revoke(revoked.token);
    assert.equal((await k.validate(revoked.token, serviceToken)).status, 404);
    assert.equal((await k.validate(kept.token, serviceToken)).status, 200);
  });

  it('counts the validations asked for each token', async () => {
    const m = await member(k);
    const counted = (await k.issueToken(m.creds)).token;
    const other = (await k.issueToken(m.creds)).token;
    for (let i = 0; i < 3; i++) assert.equal((await k.validate(counted, serviceToken)).status, 200);
    assert.equal(k.validationsOf(counted), 3);
    assert.equal(k.validationsOf(other), 0);
  });

  it('serves requests concurrently', async () => {
    // A request that never ends holds one thread; a single-threaded server would answer nothing else.
    const stuck = await open(k.url);
    try {
      stuck.write('GET /v3 HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      const res = await fetch(k.url, { signal: AbortSignal.timeout(5000) });
      await res.body?.cancel();
      assert.equal(res.status, 200);
      const m = await member(k);
      const token = (await k.issueToken(m.creds)).token;
      const all = await Promise.all(Array.from({ length: 20 }, () => k.validate(token, serviceToken)));
      assert.deepEqual(
        all.map((v) => v.status),
        all.map(() => 200),
      );
    } finally {
      stuck.destroy();
    }
  });

  it('paused, accepts connections and answers nothing; resumed, answers again', async () => {
    k.pause();
    try {
      (await open(k.url)).destroy();
      await assert.rejects(fetch(k.url, { signal: AbortSignal.timeout(1000) }), { name: 'TimeoutError' });
    } finally {
      k.resume();
    }
    const res = await fetch(k.url, { signal: AbortSignal.timeout(5000) });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { version: { id: string } }).version.id, 'v3.14');
  });
});

describe('a Keystone with short-lived tokens', { skip }, () => {
  let k: Keystone;

  before(async () => {
    k = await startKeystone({ tokenExpirationSeconds: 2 });
  });
  after(() => k?.stop());

  it('lets tokens expire after tokenExpirationSeconds, and its helpers outlive their admin token', async () => {
    const m = await member(k);
    const issued = await k.issueToken(m.creds);
    const life = issued.expiresAt.getTime() - Date.parse(issued.body.token.issued_at);
    assert.equal(life, 2000);
    const service = await k.issueToken(k.serviceUser);
    assert.equal((await k.validate(issued.token, service.token)).status, 200);
    await new Promise((r) => setTimeout(r, issued.expiresAt.getTime() - Date.now() + 100));
    const fresh = await k.issueToken(k.serviceUser);
    assert.equal((await k.validate(issued.token, fresh.token)).status, 404);
    // The first admin token is expired by now too.
    const again = await member(k);
    assert.equal((await k.validate((await k.issueToken(again.creds)).token, fresh.token)).status, 200);
  });

  it('stop() kills the server and removes its directory', async () => {
    const dir = k.dir;
    assert.ok(existsSync(dir));
    await k.stop();
    assert.ok(!existsSync(dir));
    await assert.rejects(fetch(k.url, { signal: AbortSignal.timeout(2000) }));
  });
});
