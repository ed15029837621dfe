/**
 * The race harness. A scenario builds a small world through the API (fresh
 * names every round, so one server serves every scenario), then fires its
 * contenders, each an HTTP request as some caller, at the real server over
 * loopback, all at once (test/support/simultaneous.ts). Contenders come in
 * groups; each group says how many of its requests may succeed and which
 * clean refusals the others may get. Every round then checks:
 *
 * - no answer is a 5xx, and every refusal is `{type, msg}` with a type the
 *   group allows (e.g. "409 DuplicateError");
 * - each group's number of winners (2xx);
 * - once the networking worker has drained, the database invariants
 *   (test/support/invariants.ts);
 * - the scenario's own check of the state, read back through the API and SQL.
 *
 * Races are probabilistic, so each scenario runs several rounds (in a fresh
 * random order each time); a failing test names every failing round with the
 * answers it got. `raceSuite` runs a list of scenarios on every database,
 * with one server per database.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { Config } from '../../src/config/config.ts';
import type { Database } from '../../src/store/schema.ts';
import { testDatabases, type FreshDb, type TestDatabase } from '../support/databases.ts';
import { basicAuth, startTestHil, type Caller, type Credentials, type TestHil } from '../support/hil.ts';
import { pendingActions, violations } from '../support/invariants.ts';
import { sendSimultaneously, type SimultaneousAnswer } from '../support/simultaneous.ts';

export interface RaceServer {
  t: TestHil;
  /** The server's base URL on loopback. */
  url: string;
  database: TestDatabase['name'];
  db: Kysely<Database>;
  admin: Credentials;
  /** Requests as the admin through inject, for building worlds and reading them back. */
  api: Caller;
  /** A new user (not an admin unless asked), member of these projects. */
  user(o?: { admin?: boolean; projects?: string[] }): Promise<Credentials>;
  /** Stops the server and removes its files (not its database). */
  close(): Promise<void>;
}

export interface Contender {
  /** Default: the admin. */
  as?: Credentials;
  method: 'PUT' | 'POST' | 'DELETE' | 'PATCH';
  path: string;
  /** JSON; scenarios read it back (e.g. the winner's macaddr), hence `any`. */
  body?: any;
  /** Raw bytes instead of JSON (an image upload). */
  raw?: Buffer;
}

export interface Group {
  requests: Contender[];
  /** How many of them succeed (answer 2xx): exactly n, or [min, max]. */
  wins: number | [number, number];
  /** The refusals the others may get, as "status Type". */
  losers: string[];
}

export interface Answer extends SimultaneousAnswer {
  group: string;
  request: Contender;
}

/** One round's answers, by group (in the order they were sent, which each round shuffles). */
export type Answers = Record<string, Answer[]>;

export interface Scenario<W> {
  name: string;
  /** Default 5. */
  rounds?: number;
  /** Stop the networking worker while the contenders run, so queued actions stay PENDING until the checks are done. */
  pauseWorker?: boolean;
  /** Builds the world; `fresh(base)` gives a name unique to this round. */
  setup(s: RaceServer, fresh: (base: string) => string): Promise<W>;
  contenders(w: W, s: RaceServer): Record<string, Group>;
  /** Checks the state afterwards (after the worker drained); throws on what is wrong. */
  check?(s: RaceServer, w: W, a: Answers): Promise<void>;
}

// ---------------------------------------------------------------- contenders

/** The refusals scenarios expect most: the name is taken, the object is gone, the state forbids it, the project may not. */
export const DUP = '409 DuplicateError';
export const GONE = '404 NotFoundError';
export const BLOCKED = '409 BlockedError';
export const MISMATCH = '409 ProjectMismatchError';

export const times = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
export const put = (path: string, body?: unknown, as?: Credentials): Contender => ({ method: 'PUT', path, body, as });
export const post = (path: string, body?: unknown, as?: Credentials): Contender => ({ method: 'POST', path, body, as });
export const del = (path: string, as?: Credentials): Contender => ({ method: 'DELETE', path, as });
export const patch = (path: string, body?: unknown, as?: Credentials): Contender => ({ method: 'PATCH', path, body, as });

/** The group's winners. */
export const winners = (answers: Answer[]): Answer[] => answers.filter((a) => a.status >= 200 && a.status < 300);

// ---------------------------------------------------------------- the server

/**
 * A password hash in the server's format ("scrypt$N$r$p$salt$key", see
 * src/drivers/auth/password.ts) at the lowest cost: every request still
 * verifies the password whenever the auth cache misses, but that no longer
 * spreads simultaneous requests over the hashing thread pool.
 */
function cheapHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 16, r: 8, p: 1 });
  return ['scrypt', 16, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
}

let users = 0;

async function insertUser(db: Kysely<Database>, isAdmin: boolean, projects: string[]): Promise<Credentials> {
  const creds = { username: `racer-${++users}-${randomBytes(3).toString('hex')}`, password: randomBytes(9).toString('base64') };
  const user = await db.insertInto('user').values({ label: creds.username, is_admin: isAdmin, password_hash: cheapHash(creds.password) }).returning('id').executeTakeFirstOrThrow();
  for (const label of projects) {
    const project = await db.selectFrom('project').select('id').where('label', '=', label).executeTakeFirstOrThrow();
    await db.insertInto('user_project').values({ user_id: user.id, project_id: project.id }).execute();
  }
  return creds;
}

async function startRaceServer(database: TestDatabase, fresh: FreshDb, config?: (c: Config) => void): Promise<RaceServer> {
  const images = mkdtempSync(join(tmpdir(), 'hil-race-images-'));
  const t = await startTestHil(fresh, {
    auth: 'database',
    config: (c) => {
      c.network.vlans = '100-999';
      c.images.dir = images;
      c.log.level = 'warn';
      config?.(c);
    },
  });
  const url = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
  const db = t.hil.store.db;
  const admin = await insertUser(db, true, []);
  return {
    t,
    url,
    database: database.name,
    db,
    admin,
    api: t.as(admin),
    user: (o = {}) => insertUser(db, o.admin ?? false, o.projects ?? []),
    async close() {
      await t.close();
      rmSync(images, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- a round

const isWin = (status: number) => status >= 200 && status < 300;
const outcome = (a: SimultaneousAnswer) => (isWin(a.status) ? String(a.status) : `${a.status} ${typeof a.body === 'object' ? a.body?.type : a.text.slice(0, 60)}`);

/** "2×200 18×409 DuplicateError" */
function tally(answers: Answer[]): string {
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(outcome(a), (counts.get(outcome(a)) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n}×${k}`).join(' ');
}

function shuffled<T>(xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** What the server logged about a failed request (the error's message), if anything. */
function loggedError(s: RaceServer, a: Answer): string {
  const line = s.t.logs.find((l) => l.reqId === a.requestId && l.err);
  const err = line?.err as { message?: string } | undefined;
  return err?.message ? ` (logged: ${err.message})` : '';
}

/** What is wrong with one group's answers (empty: nothing). */
function groupProblems(s: RaceServer, name: string, group: Group, answers: Answer[]): string[] {
  const out: string[] = [];
  for (const a of answers) {
    if (isWin(a.status)) continue;
    const where = `${name}: ${a.request.method} ${a.request.path} ${a.request.raw ? `(${a.request.raw.length} bytes)` : JSON.stringify(a.request.body ?? {})}`;
    const clean = typeof a.body === 'object' && a.body !== null && typeof a.body.type === 'string' && typeof a.body.msg === 'string';
    if (a.status >= 500) out.push(`${where} answered ${a.status} ${a.text}${loggedError(s, a)}`);
    else if (!clean) out.push(`${where} answered ${a.status} without {type, msg}: ${a.text}`);
    else if (!group.losers.includes(`${a.status} ${a.body.type}`)) out.push(`${where} answered ${a.status} ${a.text}, not one of ${group.losers.join(', ')}`);
  }
  const [min, max] = typeof group.wins === 'number' ? [group.wins, group.wins] : group.wins;
  const won = winners(answers).length;
  if (won < min || won > max) out.push(`${name}: ${won} of ${answers.length} succeeded, expected ${min === max ? min : `${min} to ${max}`}`);
  return out;
}

async function drained(s: RaceServer, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await pendingActions(s.db)) > 0) {
    if (Date.now() > deadline) throw new Error(`networking actions still PENDING after ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Sends the contenders at once (the worker paused meanwhile if asked); answers by group. */
async function fire(s: RaceServer, groups: Record<string, Group>, o: { pauseWorker?: boolean }): Promise<Answers> {
  const contenders = shuffled(Object.entries(groups).flatMap(([group, g]) => g.requests.map((request) => ({ group, request }))));
  const worker = s.t.hil.worker!;
  if (o.pauseWorker) await worker.stop();
  let sent: SimultaneousAnswer[];
  try {
    sent = await sendSimultaneously(
      s.url,
      contenders.map(({ request: r }) => {
        const who = r.as ?? s.admin;
        return { method: r.method, path: r.path, body: r.body, raw: r.raw, headers: { authorization: basicAuth(who.username, who.password) } };
      }),
    );
  } finally {
    if (o.pauseWorker) await worker.start();
  }
  const answers: Answers = Object.fromEntries(Object.keys(groups).map((g) => [g, [] as Answer[]]));
  contenders.forEach((c, i) => answers[c.group].push({ ...sent[i], ...c }));
  return answers;
}

/** Runs one round; returns what went wrong (empty: nothing) and the answers' tally. */
async function round<W>(s: RaceServer, scenario: Scenario<W>, fresh: (base: string) => string): Promise<{ problems: string[]; summary: string }> {
  // Earlier rounds may have broken an invariant already; this round answers only for what it breaks.
  const before = new Set(await violations(s.db));
  const world = await scenario.setup(s, fresh);
  const groups = scenario.contenders(world, s);
  const answers = await fire(s, groups, scenario);
  const summary = Object.entries(answers)
    .map(([g, a]) => `${g}: ${tally(a)}`)
    .join('; ');

  const problems = Object.entries(groups).flatMap(([name, g]) => groupProblems(s, name, g, answers[name]));
  await drained(s);
  problems.push(...(await violations(s.db)).filter((v) => !before.has(v)).map((v) => `invariant: ${v}`));
  try {
    await scenario.check?.(s, world, answers);
  } catch (err) {
    problems.push(`state: ${(err as Error).message}`);
  }
  return { problems, summary };
}

// ---------------------------------------------------------------- suites

export interface SuiteOptions {
  /** Changes to the test configuration (e.g. a smaller VLAN pool). */
  config?: (c: Config) => void;
}

let scenarioNo = 0;

/** One test per scenario, on every database; one server per database for the whole list. */
export function raceSuite(title: string, scenarios: Scenario<any>[], o: SuiteOptions = {}): void {
  for (const database of testDatabases()) {
    describe(`${title} on ${database.name}`, { skip: database.skip }, () => {
      let fresh: FreshDb;
      let s: RaceServer;
      before(async () => {
        fresh = await database.create();
        s = await startRaceServer(database, fresh, o.config);
      });
      after(async () => {
        await s?.close();
        await fresh?.drop();
      });
      for (const scenario of scenarios) {
        const no = ++scenarioNo;
        it(scenario.name, async (t) => {
          const failed: string[] = [];
          const rounds = scenario.rounds ?? 5;
          for (let r = 1; r <= rounds; r++) {
            const { problems, summary } = await round(s, scenario, (base) => `${base}-s${no}r${r}`);
            t.diagnostic(`round ${r}: ${summary}`);
            if (problems.length) failed.push(`round ${r} (${summary}):\n    ${problems.join('\n    ')}`);
          }
          assert.equal(failed.length, 0, `${failed.length} of ${rounds} rounds failed on ${database.name}:\n  ${failed.join('\n  ')}`);
        });
      }
    });
  }
}
