/**
 * The authorization matrix (spec §4, §5, §16 tests/unit/api/auth.py): a
 * fixture with three real database-auth users and one target object per
 * mutating case, and a runner that turns a table of cases into one `it` per
 * (route, role). Roles that can change state get fresh fixtures of their own
 * (see MatrixOptions.groups), and inside a fixture every mutating case has
 * its own target, so no case depends on another. A case may name the state
 * it can change: a refused call must leave it as it was.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestDatabase, FreshDb } from './databases.ts';
import { must, startTestHil, waitAction, type Caller, type Response, type TestHil, type TestHilOptions } from './hil.ts';
import { AUTH_BACKENDS, identityFor, type AuthBackendName, type Headers, type Identity } from './identities.ts';
import { keystoneMissing } from './keystone.ts';
import { skipUnless } from './require.ts';

export type { Response };

export type Role = 'admin' | 'alice' | 'bob' | 'anon' | 'wrong';
export const ROLES: Role[] = ['admin', 'alice', 'bob', 'anon', 'wrong'];

export const ADMIN_ONLY = 'This operation is administrator-only.';
export const NO_PROJECT = 'You do not have access to the required project.';
export const NO_NETWORK = 'You do not have access to this network.';
export const NOT_AUTHENTICATED = 'Authentication failed. Authentication is required to use this service.';

export interface Fixture {
  t: TestHil;
  /** The auth backend the server runs, and how the roles authenticate to it. */
  identity: Identity;
  /** Requests as a role (anon: no credentials; wrong: credentials the backend refuses, see ./identities.ts). */
  as(role: Role): Caller;
  /** The headers a role's requests carry. */
  headers(role: Role): Headers;
  admin: Caller;
  /** status_id of a finished action on runway_node/eth3 (connect to runway_net). */
  runwayAction: string;
  /** status_id of a finished port revert on free_node/eth0 (a free node). */
  freeAction: string;
  close(): Promise<void>;
}

export { must };

/**
 * Builds the fixture (all through the API, as admin):
 * - projects runway, manhattan, doomed (empty); callers admin, alice (runway), bob (manhattan)
 *   as the identity makes them, and with extraUsers database users dave (no projects), erin (manhattan);
 * - mock switch sw0 with ports gi1/0/1..13, empty switch sw_empty;
 * - free_node: eth0@1, eth_detach@7, eth_revert@9, eth_spare and eth_cable (no port); OBM enabled;
 *   free_node2, free_node3, spare_node (free, no nics);
 * - runway_node: eth0@2, eth1@3 on pub_net, eth2@4 on shared_net, eth3@10 on runway_net,
 *   eth4@12; OBM enabled; metadata EK; runway_node2 and runway_obm (runway, no nics, OBM off);
 * - manhattan_node: eth0@5 on pub_net, eth1@6 on shared_net, eth2@13; OBM enabled;
 * - networks runway_net, manhattan_net, pub_net (public), prov_runway (admin, access runway),
 *   shared_net (manhattan + runway), and single-use targets runway_spare, pub_spare,
 *   runway_grant, prov_grant, man_shared (manhattan + runway), prov_rev (admin, runway),
 *   prov_two (admin, runway + manhattan).
 */
export async function buildFixture(database: TestDatabase, o: TestHilOptions = {}, extraUsers = false, identity?: Identity): Promise<Fixture> {
  const id = identity ?? (await identityFor('database'));
  const db: FreshDb = await database.create();
  let t: TestHil;
  try {
    t = await startTestHil(db, {
      ...o,
      auth: id.backend,
      config: (c) => {
        id.configure(c);
        o.config?.(c);
      },
    });
  } catch (err) {
    await db.drop();
    throw err;
  }
  const close = async () => {
    await t.close();
    await db.drop();
  };
  try {
    const roleHeaders: Partial<Record<Role, Headers>> = { anon: {}, admin: await id.admin(t) };
    const admin = t.withHeaders(roleHeaders.admin!);
    const put = (path: string, body?: unknown) => must(admin('PUT', path, body), `PUT ${path}`);
    const post = (path: string, body?: unknown) => must(admin('POST', path, body), `POST ${path}`);

    for (const p of ['runway', 'manhattan', 'doomed']) await put(`/v0/project/${p}`);
    Object.assign(roleHeaders, await id.members(t, extraUsers));
    const headers = (role: Role) => roleHeaders[role]!;
    const as = (role: Role) => t.withHeaders(headers(role));

    const sw = { type: 'mock', hostname: 'sw0.example', username: 'u', password: 'p' };
    await put('/v0/switch/sw0', sw);
    await put('/v0/switch/sw_empty', { ...sw, hostname: 'empty.example' });
    for (let i = 1; i <= 13; i++) await put(`/v0/switch/sw0/port/gi1/0/${i}`);

    const nodes: Record<string, { project?: string; nics: Array<[string, number | null]> }> = {
      free_node: { nics: [['eth0', 1], ['eth_detach', 7], ['eth_revert', 9], ['eth_spare', null], ['eth_cable', null]] },
      free_node2: { nics: [] },
      free_node3: { nics: [] },
      spare_node: { nics: [] },
      runway_node: { project: 'runway', nics: [['eth0', 2], ['eth1', 3], ['eth2', 4], ['eth3', 10], ['eth4', 12]] },
      runway_node2: { project: 'runway', nics: [] },
      runway_obm: { project: 'runway', nics: [] },
      manhattan_node: { project: 'manhattan', nics: [['eth0', 5], ['eth1', 6], ['eth2', 13]] },
    };
    let mac = 0;
    for (const [node, spec] of Object.entries(nodes)) {
      await put(`/v0/node/${node}`, { obm: { type: 'mock' } });
      for (const [nic, port] of spec.nics) {
        await put(`/v0/node/${node}/nic/${nic}`, { macaddr: `de:ad:be:ef:00:${(mac++).toString(16).padStart(2, '0')}` });
        if (port !== null) await post(`/v0/switch/sw0/port/gi1/0/${port}/connect_nic`, { node, nic });
      }
      if (spec.project) await post(`/v0/project/${spec.project}/connect_node`, { node });
    }
    for (const node of ['free_node', 'runway_node', 'manhattan_node']) await put(`/v0/node/${node}/obm`, { enabled: true });
    await put('/v0/node/runway_node/metadata/EK', { value: 'pk' });

    const networks: Array<[string, string, string, string[]]> = [
      ['runway_net', 'runway', 'runway', []],
      ['manhattan_net', 'manhattan', 'manhattan', []],
      ['pub_net', 'admin', '', []],
      ['prov_runway', 'admin', 'runway', []],
      ['shared_net', 'manhattan', 'manhattan', ['runway']],
      ['runway_spare', 'runway', 'runway', []],
      ['pub_spare', 'admin', '', []],
      ['runway_grant', 'runway', 'runway', []],
      ['prov_grant', 'admin', 'runway', []],
      ['man_shared', 'manhattan', 'manhattan', ['runway']],
      ['prov_rev', 'admin', 'runway', []],
      ['prov_two', 'admin', 'runway', ['manhattan']],
    ];
    for (const [net, owner, access, extra] of networks) {
      await put(`/v0/network/${net}`, { owner, access, net_id: '' });
      for (const p of extra) await put(`/v0/network/${net}/access/${p}`);
    }

    const attach = async (node: string, nic: string, network: string) =>
      (await post(`/v0/node/${node}/nic/${nic}/connect_network`, { network })).body.status_id as string;
    const pending = [
      await attach('runway_node', 'eth1', 'pub_net'),
      await attach('runway_node', 'eth2', 'shared_net'),
      await attach('manhattan_node', 'eth0', 'pub_net'),
      await attach('manhattan_node', 'eth1', 'shared_net'),
    ];
    const runwayAction = await attach('runway_node', 'eth3', 'runway_net');
    const freeAction = (await post('/v0/switch/sw0/port/gi1/0/1/revert')).body.status_id as string;
    for (const id of [...pending, runwayAction, freeAction]) {
      const done = await waitAction(admin, id);
      if (done.status !== 'DONE') throw new Error(`fixture: action ${id} ended ${done.status}: ${done.error}`);
    }
    return { t, identity: id, as, headers, admin, runwayAction, freeAction, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface Expect {
  admin: number;
  alice: number;
  bob: number;
  /** Also the wrong-password caller. Default 401. */
  anon?: number;
}

export interface Case {
  method: string;
  /** The path; a function for paths holding ids the fixture made. */
  path: string | ((fx: Fixture) => string);
  /** How the test is named when `path` is a function. */
  name?: string;
  body?: unknown;
  /** A body sent as it is (e.g. a file upload), instead of `body` as JSON. */
  rawBody?: string;
  headers?: Record<string, string>;
  query?: string;
  expect: Expect;
  /** The message a refused authenticated caller gets (checked when given). */
  msg?: string;
  /** The message an anonymous 401 carries; default: authentication required. */
  anonMsg?: string;
  /** The console: read the first chunk of the stream, then hang up. */
  stream?: boolean;
  /** A snapshot of what the call may change, taken before and after it: a refused call must leave it as it was. */
  state?: (fx: Fixture) => Promise<unknown>;
  /** The snapshot after a successful call: a value, or a function asserting on it. Default: it changed. */
  after?: unknown | ((now: any, res: Response) => void);
  /** Assertions on a successful answer. */
  view?: (res: Response, role: Role) => void;
  /** Only with these auth backends (a backend's own routes); default: every one. */
  only?: AuthBackendName[];
}

export function expected(c: Case, role: Role): number {
  if (role === 'anon' || role === 'wrong') return c.expect.anon ?? 401;
  return c.expect[role];
}

/** Opens a streaming GET (the console), reads one chunk, and hangs up. */
async function streamCall(fx: Fixture, role: Role, path: string): Promise<Response> {
  const res = await fx.t.hil.app!.inject({ method: 'GET', url: path, headers: fx.headers(role), payloadAsStream: true });
  const stream = res.stream();
  let text = '';
  if (res.statusCode === 200) {
    for await (const chunk of stream) {
      text += String(chunk);
      break;
    }
  } else {
    for await (const chunk of stream) text += String(chunk);
  }
  stream.destroy();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // a console chunk, not JSON
  }
  return { status: res.statusCode, body, text, headers: res.headers };
}

export async function call(fx: Fixture, role: Role, c: Case): Promise<Response> {
  const path = typeof c.path === 'function' ? c.path(fx) : c.path;
  if (c.stream) return streamCall(fx, role, path);
  return fx.as(role)(c.method, path, c.body, { query: c.query, rawBody: c.rawBody, headers: c.headers });
}

export function caseName(c: Case, role: Role): string {
  const path = typeof c.path === 'function' ? c.name! : c.path;
  return `${c.method} ${path}${c.query ?? ''} as ${role} → ${expected(c, role)}`;
}

/** Asserts the status, and for a 401 the error type and message. */
export function assertOutcome(c: Case, role: Role, res: Response): void {
  const want = expected(c, role);
  assert.equal(res.status, want, `${caseName(c, role)}: got ${res.status} ${res.text.slice(0, 200)}`);
  if (want === 401) {
    assert.equal(res.body.type, 'AuthorizationError');
    if (role === 'anon' || role === 'wrong') assert.equal(res.body.msg, c.anonMsg ?? NOT_AUTHENTICATED);
    else if (c.msg) assert.equal(res.body.msg, c.msg);
  }
}

export interface MatrixOptions {
  /**
   * Which roles share a fixture; each group gets a fresh one, its roles run
   * in order. Default: admin, alice, then bob with the two unauthenticated
   * callers. Only bob of the last group can change anything, and he runs
   * first; what anonymous callers get does not depend on the state.
   */
  groups?: Role[][];
  /** Options for the server (e.g. config), on top of the auth backend's. */
  hil?: TestHilOptions;
  /** The auth backends the matrix runs with, each in its own describe; default: all (database, keystone, oidc). */
  backends?: AuthBackendName[];
  /** Also create users dave (no projects) and erin (manhattan), targets of the user routes. */
  extraUsers?: boolean;
  /** More objects for the cases, made once per fixture (as admin). */
  setup?: (fx: Fixture) => Promise<void>;
}

export const DEFAULT_GROUPS: Role[][] = [['admin'], ['alice'], ['bob', 'anon', 'wrong']];

/**
 * The wrong-password caller takes the anonymous caller's path through every
 * route, and each of its calls costs a full password hash; it runs on the
 * admin-only routes (as auth.py's admin calls) and where the anonymous
 * outcome is not the default 401.
 */
export function runsAs(c: Case, role: Role): boolean {
  if (role !== 'wrong') return true;
  const adminOnly = c.expect.alice === 401 && c.expect.bob === 401 && c.expect.admin >= 200 && c.expect.admin < 300;
  return adminOnly || c.expect.anon !== undefined;
}

function roleCases(getFx: () => Fixture, role: Role, cases: Case[]): void {
  for (const c of cases.filter((c) => runsAs(c, role))) {
    it(caseName(c, role), async () => {
      const fx = getFx();
      if (c.state) await settle(fx);
      const before = await c.state?.(fx);
      const res = await call(fx, role, c);
      assertOutcome(c, role, res);
      const ok = res.status >= 200 && res.status < 300;
      if (c.state) {
        const now = await c.state(fx);
        if (!ok) assert.deepEqual(now, before, 'a refused call must change nothing');
        else if (typeof c.after === 'function') c.after(now, res);
        else if (c.after !== undefined) assert.deepEqual(now, c.after);
        else assert.notDeepEqual(now, before, 'a successful call must have done something');
      }
      if (ok) c.view?.(res, role);
    });
  }
}

/**
 * One `it` per (backend, case, role): the same rules whichever backend
 * authenticates. See MatrixOptions.groups for which roles share a fixture.
 */
export function matrix(database: TestDatabase, cases: Case[], o: MatrixOptions = {}): void {
  for (const backend of o.backends ?? AUTH_BACKENDS) {
    const mine = cases.filter((c) => !c.only || c.only.includes(backend));
    if (mine.length === 0) continue;
    // Only the keystone identity needs a system part (Debian's Keystone); the other two run in this process.
    describe(`with ${backend} auth`, { skip: backend === 'keystone' ? skipUnless(keystoneMissing()) : false }, () => {
      for (const group of o.groups ?? DEFAULT_GROUPS) {
        describe(group.map((r) => `as ${r}`).join(', then '), () => {
          let fx: Fixture | undefined;
          before(async () => {
            fx = await buildFixture(database, o.hil, o.extraUsers ?? false, await identityFor(backend));
            await o.setup?.(fx);
          });
          after(() => fx?.close());
          for (const role of group) roleCases(() => fx!, role, mine);
        });
      }
    });
  }
}

/** Waits until the networking worker has applied every queued action (so snapshots hold still). */
export async function settle(fx: Fixture, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending = await fx.t.hil.store.db.selectFrom('networking_action').select('id').where('status', '=', 'PENDING').executeTakeFirst();
    if (!pending) return;
    if (Date.now() > deadline) throw new Error('networking actions still PENDING');
    await new Promise((res) => setTimeout(res, 5));
  }
}

/** Reads a row count from the store (to prove what a call did or did not do). */
export async function count(fx: Fixture, table: 'project' | 'node' | 'nic' | 'network' | 'port' | 'switch' | 'user' | 'node_metadata', label: string): Promise<number> {
  const rows = await fx.t.hil.store.db.selectFrom(table).select('id').where('label', '=', label).execute();
  return rows.length;
}
