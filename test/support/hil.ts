/**
 * Starts a real HIL (real database, in-process networking worker) for a
 * test, and talks to it through Fastify's inject (no sockets).
 */
import { Writable } from 'node:stream';
import { defaultConfig, type Config } from '../../src/config/config.ts';
import { createHil, type Hil, type HilOptions } from '../../src/assembly/hil.ts';
import type { MockSwitchTables } from '../../src/drivers/switch/mock-schema.ts';
import { createLogger } from '../../src/util/log.ts';
import { createUser } from '../../src/core/user.service.ts';
import type { FreshDb, TestDatabase } from './databases.ts';


/** The value of an Authorization header for HTTP Basic. */
export function basicAuth(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64');
}

export interface Response {
  status: number;
  body: any;
  text: string;
  headers: Record<string, string | number | string[] | undefined>;
}

export interface Credentials {
  username: string;
  password: string;
}

export type Caller = (method: string, path: string, body?: unknown, extra?: { query?: string; rawBody?: string; headers?: Record<string, string> }) => Promise<Response>;

export interface TestHil {
  hil: Hil;
  /** Requests as the given user (or anonymously). */
  as(creds?: Credentials): Caller;
  /** Requests with these headers (a token, as the keystone and oidc backends take it). */
  withHeaders(headers: Record<string, string>): Caller;
  /** Log lines written so far, parsed. */
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export interface TestHilOptions {
  auth?: Config['auth']['backend'];
  worker?: boolean;
  config?: (c: Config) => void;
  /** Built-in OBM drivers to offer instead of the defaults. */
  bmcDrivers?: HilOptions['bmcDrivers'];
}

export function testConfig(url: string, o: TestHilOptions = {}): Config {
  const c = defaultConfig();
  c.database.url = url;
  c.auth.backend = o.auth ?? 'null';
  c.network.vlans = '40-80';
  c.log.level = 'info';
  c.worker.action_timeout_seconds = 2;
  c.worker.max_attempts = 1;
  c.worker.retry_backoff_ms = 10;
  o.config?.(c);
  return c;
}

export async function startTestHil(db: FreshDb, o: TestHilOptions = {}): Promise<TestHil> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  const config = testConfig(db.url, o);
  const hil = await createHil(config, { log: createLogger(config.log.level, sink), api: true, worker: o.worker ?? true, migrate: true, bmcDrivers: o.bmcDrivers });
  const app = hil.app!;

  const withHeaders =
    (fixed: Record<string, string>): Caller =>
    async (method: string, path: string, body?: unknown, extra: Parameters<Caller>[3] = {}) => {
      const headers: Record<string, string> = { ...fixed, ...extra.headers };
      const payload = extra.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
      const res = await app.inject({ method: method as 'GET', url: path + (extra.query ?? ''), headers, payload });
      let parsed: unknown = res.body;
      try {
        parsed = res.body === '' ? '' : JSON.parse(res.body);
      } catch {
        // not JSON: leave the text
      }
      return { status: res.statusCode, body: parsed, text: res.body, headers: res.headers };
    };

  const as = (creds?: Credentials) => withHeaders(creds ? { authorization: basicAuth(creds.username, creds.password) } : {});
  return { hil, as, withHeaders, logs, close: () => hil.close() };
}

/** A database for one test: created fresh, dropped afterwards. */
export async function withHil(database: TestDatabase, o: TestHilOptions, fn: (t: TestHil) => Promise<void>): Promise<void> {
  const db = await database.create();
  const t = await startTestHil(db, o);
  try {
    await fn(t);
  } finally {
    await t.close();
    await db.drop();
  }
}

export async function addUser(t: TestHil, username: string, password: string, isAdmin: boolean, projects: string[] = []): Promise<Credentials> {
  await createUser(t.hil.deps, username, password, isAdmin);
  for (const p of projects) {
    const project = await t.hil.store.db.selectFrom('project').select('id').where('label', '=', p).executeTakeFirstOrThrow();
    const user = await t.hil.store.db.selectFrom('user').select('id').where('label', '=', username).executeTakeFirstOrThrow();
    await t.hil.store.db.insertInto('user_project').values({ user_id: user.id, project_id: project.id }).execute();
  }
  return { username, password };
}

/** A fixture's call that must succeed (2xx), or an error naming it. */
export async function must(r: Promise<Response>, what: string): Promise<Response> {
  const res = await r;
  if (res.status < 200 || res.status >= 300) throw new Error(`fixture: ${what}: ${res.status} ${res.text}`);
  return res;
}

/** Polls a networking action until it leaves PENDING (the worker runs in-process). */
export async function waitAction(call: Caller, statusId: string, timeoutMs = 5000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call('GET', `/v0/networking_action/${statusId}`);
    if (r.status !== 200) throw new Error(`networking_action ${statusId}: ${r.status} ${r.text}`);
    if (r.body.status !== 'PENDING') return r.body;
    if (Date.now() > deadline) throw new Error(`networking_action ${statusId} still PENDING after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 5));
  }
}

/** The mock switch's own tables (its port state, calls and injected faults), in a test HIL's database. */
export function mockSwitchDb(t: TestHil) {
  return t.hil.store.db.withTables<MockSwitchTables>();
}
