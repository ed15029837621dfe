/**
 * The small datacenter the fuzz test starts from, and the callers it acts
 * as. Generated requests draw their names from the same lists, so most of
 * them name something that exists (or can be created), and the rest name
 * nothing.
 *
 * The callers are ordinary users that requests may also change (demote,
 * delete, drop from a project); `restoreActors` puts them back afterwards,
 * so that one generated DELETE does not turn the rest of the run into 401s.
 */
import assert from 'node:assert/strict';
import type { TestHil } from '../support/hil.ts';
import { addUser } from '../support/hil.ts';
import { attach, cable, connectNode, mkNetwork, mkNic, mkNode, mkPort, mkProjects, mkSwitch } from '../support/fixtures.ts';

export interface Actor {
  username: string;
  password: string;
  isAdmin: boolean;
  projects: string[];
}

export const ACTORS = {
  admin: { username: 'admin', password: 'admin-pw', isAdmin: true, projects: [] },
  member: { username: 'member', password: 'member-pw', isAdmin: false, projects: ['p1'] },
  other: { username: 'other', password: 'other-pw', isAdmin: false, projects: ['p2'] },
} satisfies Record<string, Actor>;

export type ActorName = keyof typeof ACTORS;

/**
 * Names per kind of path parameter (and of body field naming the same kind):
 * the seeded objects first, then names requests may create.
 */
export const NAMES: Record<string, readonly string[]> = {
  project: ['p1', 'p2', 'p3', 'p4', 'p5'],
  node: ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8'],
  nic: ['eth0', 'eth1', 'eth2'],
  // The VLAN pool (see VLANS) has fewer IDs than there are names here, so the run can exhaust it.
  network: ['net1', 'net2', 'pub', 'adm', 'v100', 'net3', 'net4', 'net5', 'net6', 'net7', 'net8', 'net9'],
  switch: ['sw0', 'sw1', 'sw2', 'sw3'],
  port: ['gi1/0/1', 'gi1/0/2', 'gi1/0/3', 'gi1/0/4', 'gi1/0/5', 'gi1/0/6', 'gi1/0/7', 'te1/0/1', 'te1/0/2'],
  // Besides these, requests name the callers (ACTORS) too.
  user: ['u1', 'u2', 'u3'],
  image: ['img1', 'img2', 'img3'],
  part: ['kernel', 'initrd', 'rootfs'],
  label: ['EK', 'serial', 'k3'],
  is_free: ['free', 'all'],
  headnode: ['h1'],
  hnic: ['eth0'],
};

/** The networking allocator's pool: 8 VLANs, 4 of them taken by the seed. */
export const VLANS = '40-47';

/**
 * Seeds the world through the API as the admin, every step asserted:
 * projects p1..p3; users member (p1), other (p2), u1 (p1); mock switches sw0
 * and sw1 with ports; nodes n1..n6 with cabled nics, n1 n2 in p1 and n3 in
 * p2; networks net1 (p1), net2 (p2, also p1), pub (public), adm (admin, p3),
 * v100 (admin, VLAN 100 outside the pool); n1/eth0 on net1, n3/eth0 on net2;
 * metadata on n1; images img1 (public, with a kernel) and img2 (p1).
 */
export async function seedWorld(t: TestHil): Promise<void> {
  await addUser(t, ACTORS.admin.username, ACTORS.admin.password, true);
  const api = t.as(ACTORS.admin);
  await mkProjects(api, 'p1', 'p2', 'p3');
  for (const a of [ACTORS.member, ACTORS.other]) await addUser(t, a.username, a.password, a.isAdmin, a.projects);
  await addUser(t, 'u1', 'u1-pw', false, ['p1']);

  await mkSwitch(api, 'sw0');
  await mkSwitch(api, 'sw1');
  for (let i = 1; i <= 6; i++) await mkPort(api, 'sw0', `gi1/0/${i}`);
  await mkPort(api, 'sw1', 'gi1/0/1');
  await mkPort(api, 'sw1', 'te1/0/1');

  const nics: Array<[node: string, nic: string, sw: string, port: string]> = [
    ['n1', 'eth0', 'sw0', 'gi1/0/1'],
    ['n1', 'eth1', 'sw0', 'gi1/0/2'],
    ['n2', 'eth0', 'sw0', 'gi1/0/3'],
    ['n3', 'eth0', 'sw0', 'gi1/0/4'],
    ['n4', 'eth0', 'sw0', 'gi1/0/5'],
    ['n5', 'eth0', 'sw1', 'gi1/0/1'],
  ];
  for (const node of ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']) await mkNode(api, node);
  for (const [i, [node, nic, sw, port]] of nics.entries()) {
    await mkNic(api, node, nic, `52:54:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`);
    await cable(api, sw, port, node, nic);
  }
  await connectNode(api, 'p1', 'n1');
  await connectNode(api, 'p1', 'n2');
  await connectNode(api, 'p2', 'n3');

  await mkNetwork(api, 'net1', 'p1');
  await mkNetwork(api, 'net2', 'p2');
  assert.equal((await api('PUT', '/v0/network/net2/access/p1')).status, 200);
  await mkNetwork(api, 'pub', 'admin', '');
  await mkNetwork(api, 'adm', 'admin', 'p3');
  await mkNetwork(api, 'v100', 'admin', 'p1', '100');
  await attach(api, 'n1', 'eth0', 'net1');
  await attach(api, 'n3', 'eth0', 'net2');

  assert.equal((await api('PUT', '/v0/node/n1/metadata/EK', { value: 'abc' })).status, 200);
  assert.equal((await api('PUT', '/v0/image/img1', { public: true })).status, 200);
  const kernel = await api('PUT', '/v0/image/img1/kernel', undefined, { rawBody: 'kernel bytes', headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(kernel.status, 200, kernel.text);
  assert.equal((await api('PUT', '/v0/image/img2', { project: 'p1' })).status, 200);
}

/**
 * Puts the callers back as seeded (present, same password, same admin flag,
 * in their projects where those still exist), straight in the database, and
 * drops what the server cached about them. Returns what had to be repaired.
 */
export async function restoreActors(t: TestHil, hashes: ReadonlyMap<string, string>): Promise<string[]> {
  const db = t.hil.store.db;
  const repaired: string[] = [];
  for (const a of Object.values(ACTORS) as Actor[]) {
    const hash = hashes.get(a.username)!;
    let user = await db.selectFrom('user').select(['id', 'is_admin', 'password_hash']).where('label', '=', a.username).executeTakeFirst();
    if (!user) {
      await db.insertInto('user').values({ label: a.username, is_admin: a.isAdmin, password_hash: hash }).execute();
      user = await db.selectFrom('user').select(['id', 'is_admin', 'password_hash']).where('label', '=', a.username).executeTakeFirstOrThrow();
      repaired.push(`${a.username}: re-created`);
    } else if (Boolean(user.is_admin) !== a.isAdmin || user.password_hash !== hash) {
      await db.updateTable('user').set({ is_admin: a.isAdmin, password_hash: hash }).where('id', '=', user.id).execute();
      repaired.push(`${a.username}: admin flag or password reset`);
    }
    for (const label of a.projects) {
      const project = await db.selectFrom('project').select('id').where('label', '=', label).executeTakeFirst();
      if (!project) continue;
      const member = await db.selectFrom('user_project').select('user_id').where('user_id', '=', user.id).where('project_id', '=', project.id).executeTakeFirst();
      if (!member) {
        await db.insertInto('user_project').values({ user_id: user.id, project_id: project.id }).execute();
        repaired.push(`${a.username}: back in ${label}`);
      }
    }
  }
  if (repaired.length) t.hil.auth.invalidate();
  return repaired;
}

/** The callers' password hashes as seeded, for restoreActors. */
export async function actorHashes(t: TestHil): Promise<Map<string, string>> {
  const rows = await t.hil.store.db.selectFrom('user').select(['label', 'password_hash']).where('label', 'in', Object.values(ACTORS).map((a) => a.username)).execute();
  return new Map(rows.map((r) => [r.label, r.password_hash]));
}
