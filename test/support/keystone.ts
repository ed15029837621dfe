/**
 * A throwaway OpenStack Keystone for the auth tests: Debian's Keystone (the
 * python3-keystone package) on 127.0.0.1 and a free port, SQLite and fernet
 * tokens, everything (config, database, keys, logs) in a fresh temporary
 * directory. Nothing is read from /etc/keystone.
 *
 * The server is a few lines of Python around the standard library's wsgiref
 * with one thread per request (ThreadingMixIn), so requests are served
 * concurrently and the whole Keystone is one process: pause() stops it with
 * SIGSTOP and the kernel still accepts connections that then never answer.
 *
 * The server also counts the validations it is asked for, per token (a hash
 * of it in validations.log), so a test can see what a cache spared Keystone.
 *
 * Start time is mostly Python importing Keystone (about 3 s of CPU per
 * process), so there are only three processes and they overlap: the server
 * imports while `keystone-manage db_sync` makes the schema, then builds its
 * application (it waits for a `go` file) while `keystone-manage bootstrap`
 * adds the admin. The fernet keys are written here, not by two more
 * keystone-manage runs.
 *
 * Secrets never go on a command line: bootstrap reads OS_BOOTSTRAP_PASSWORD,
 * and the other passwords travel in request bodies.
 *
 * Quirks met:
 * - Fernet tokens' issue times and revocation events both have whole-second
 *   precision, and an event revokes what was issued at or before it: after an
 *   event for a whole user (a password change, the user disabled or deleted)
 *   a token issued in the same second is revoked too, 404 at once. Wait for
 *   the next second (nextSecond()) before issuing the token that should
 *   live. Revoking one token (DELETE /v3/auth/tokens) names its audit id and
 *   hits no other token. Removing a role makes no event: the token validates
 *   as 404 while its user holds no role on its project, and as 200 again
 *   after a new grant.
 * - Tokens and revocation events are never cached (see keystoneConf), so a
 *   revocation counts from the next request on.
 * - A token whose expiry passed validates as 404, like a revoked one.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { freePort } from '../../src/lab/system.ts';
import { start, type Child } from './processes.ts';

const PYTHON = '/usr/bin/python3';
const MANAGE = '/usr/bin/keystone-manage';
/** How long one keystone-manage step or the server's start may take. */
const STEP_MS = 60_000;
/** Keystone's Default domain, where bootstrap puts the admin. */
const DEFAULT_DOMAIN = 'default';
/**
 * The role the service user holds. Keystone 22's policy for
 * identity:validate_token is `admin_required or (role:reader and
 * system_scope:all) or rule:service_role or rule:token_subject`: `service` on
 * a project is the least that validates other users' tokens without reaching
 * anything else. Bootstrap does not make it (only admin, member, reader).
 */
export const SERVICE_ROLE = 'service';

export interface KeystoneUser {
  username: string;
  password: string;
  /** A project name, in `domain`. */
  project: string;
  /** The id of the user's and the project's domain. */
  domain: string;
}

export interface IssuedToken {
  /** The X-Subject-Token header. */
  token: string;
  expiresAt: Date;
  /** The response body: `{ token: { project, roles, user, expires_at, … } }`. */
  body: TokenBody;
}

export interface TokenBody {
  token: {
    expires_at: string;
    issued_at: string;
    user: { id: string; name: string; domain: { id: string } };
    project?: { id: string; name: string; domain: { id: string } };
    roles?: { id: string; name: string }[];
    [k: string]: unknown;
  };
}

export interface Keystone {
  /** The v3 base, http://127.0.0.1:PORT/v3. */
  url: string;
  /** The temporary directory: keystone.conf, keystone.db, keys, keystone.log, access.log, validations.log. */
  dir: string;
  /** How long startKeystone took, in ms. */
  startMs: number;
  /** `hil-service`, holding SERVICE_ROLE on project `service`: what the code under test authenticates as. */
  serviceUser: KeystoneUser;
  /** Bootstrap's `admin`, holding admin on project `admin` (and on the system). */
  adminUser: KeystoneUser;
  /** An admin token scoped to the admin project, issued once and reused. */
  adminToken(): Promise<string>;
  createProject(name: string, domainId?: string): Promise<{ id: string; name: string }>;
  createUser(name: string, password: string, domainId?: string): Promise<{ id: string }>;
  /** The role's id, made if no role has the name yet. */
  createRole(name: string): Promise<{ id: string }>;
  grant(userId: string, projectId: string, roleName: string): Promise<void>;
  /** A token scoped to `project` (by name, in `domain`, default `default`) with the password method. */
  issueToken(o: { username: string; password: string; project: string; domain?: string }): Promise<IssuedToken>;
  issueUnscopedToken(o: { username: string; password: string; domain?: string }): Promise<IssuedToken>;
  /** GET /v3/auth/tokens for `token`, authenticated with `authToken` (the admin's by default). Never throws on the status. */
  validate(token: string, authToken?: string): Promise<{ status: number; body: TokenBody | undefined }>;
  revoke(token: string): Promise<void>;
  /** How often Keystone has been asked to validate `token` (GET or HEAD /v3/auth/tokens), counted before each answer. */
  validationsOf(token: string): number;
  /** SIGSTOP: connections are still accepted, nothing is answered. */
  pause(): void;
  resume(): void;
  /** Kills the server and removes the directory. */
  stop(): Promise<void>;
}

export interface KeystoneOptions {
  /** [token] expiration; Keystone's default is 3600. */
  tokenExpirationSeconds?: number;
}

/** Why a Keystone cannot be started here, or undefined when it can. */
export function keystoneMissing(): string | undefined {
  const install = 'apt-get install python3-keystone';
  if (!existsSync(MANAGE)) return `${MANAGE} is missing (${install})`;
  // Not an import of Keystone (3 s): only whether Debian's Python can find it.
  const found = spawnSync(PYTHON, ['-c', 'import importlib.util, sys; sys.exit(importlib.util.find_spec("keystone.server") is None)'], { stdio: 'ignore' });
  if (found.error || found.status !== 0) return `the keystone Python module is missing for ${PYTHON} (${install})`;
  return undefined;
}

/** Resolves at the start of the next wall-clock second: see the revocation quirk above. */
export function nextSecond(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 5));
}

let shared: Promise<Keystone> | undefined;

/** One Keystone per test process, started on first use; gone when the process exits. */
export function sharedKeystone(): Promise<Keystone> {
  // startKeystone registers its own exit cleanup, so nothing to add here.
  shared ??= startKeystone();
  return shared;
}

/** The server: the slow import first, then the application once the database is ready (the `go` file). */
const SERVER_PY = `
import ctypes, hashlib, os, signal, socketserver, sys, threading, time
import wsgiref.simple_server as wss

parent, port, dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# oslo.config parses sys.argv: leave it only Keystone's own options.
sys.argv[1:] = sys.argv[4:]

# Dies with the test process, even a killed one (no exit handler of ours then runs).
ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != parent:
    sys.exit('the test process is gone')

from keystone.server import wsgi

while not os.path.exists(os.path.join(dir, 'go')):
    time.sleep(0.02)
keystone = wsgi.initialize_public_application()
# Keystone makes its policy enforcer on first use without a lock, and requests
# racing on that are refused (403) or fail (500): made here, before any.
from keystone.common.rbac_enforcer.enforcer import RBACEnforcer
with keystone.test_request_context():
    RBACEnforcer()._enforcer.load_rules()
# SQLite has one writer, and Keystone's transactions (deferred: they read,
# then write) deadlock on it ("database is locked") where MySQL would wait.
# Writing requests take turns; reads (validating a token) still run at once.
writing = threading.Lock()
# One line per validation asked for, the subject token's SHA-256 (not the
# token), written before the answer: what validationsOf() counts.
validations = open(os.path.join(dir, 'validations.log'), 'a', buffering=1)
counting = threading.Lock()


def app(environ, start_response):
    method = environ['REQUEST_METHOD']
    if method in ('GET', 'HEAD') and environ['PATH_INFO'].rstrip('/') == '/v3/auth/tokens':
        subject = environ.get('HTTP_X_SUBJECT_TOKEN', '').encode()
        with counting:
            validations.write(hashlib.sha256(subject).hexdigest() + '\\n')
    if method in ('GET', 'HEAD'):
        return keystone(environ, start_response)
    with writing:
        return list(keystone(environ, start_response))


class Server(socketserver.ThreadingMixIn, wss.WSGIServer):
    daemon_threads = True
    # Connections queue while the process is paused; the default 5 would drop some.
    request_queue_size = 128


log = open(os.path.join(dir, 'access.log'), 'a', buffering=1)


class Handler(wss.WSGIRequestHandler):
    def log_message(self, format, *args):
        log.write('%s %s\\n' % (self.log_date_time_string(), format % args))


server = wss.make_server('127.0.0.1', port, app, Server, Handler)
print('keystone listening', flush=True)
server.serve_forever()
`;

function keystoneConf(dir: string, o: KeystoneOptions): string {
  return `[DEFAULT]
log_dir = ${dir}
log_file = keystone.log
[database]
connection = sqlite:///${dir}/keystone.db
[token]
caching = false
provider = fernet
expiration = ${o.tokenExpirationSeconds ?? 3600}
[fernet_tokens]
key_repository = ${dir}/fernet-keys
[fernet_receipts]
key_repository = ${dir}/fernet-keys
[credential]
key_repository = ${dir}/credential-keys
# Caching on, in the server's memory: without it one validation makes some 400
# queries (0.6 s). Keystone invalidates this cache itself on every change, and
# there is one server process, so nothing stale is seen. Tokens and revocation
# events are never cached, so a revocation counts from the next request on.
[cache]
enabled = true
backend = dogpile.cache.memory
[revoke]
caching = false
[identity]
# bcrypt's least: test passwords need no 250 ms of hashing each.
password_hash_rounds = 4
# bcrypt's own limit; the default (4096) has Keystone warn at every hash.
max_password_length = 72
[oslo_policy]
# Found next to the config file, so /etc/keystone's are never read.
policy_file = ${dir}/policy.yaml
policy_dirs = ${dir}/policy.d
# Only the current rules, not OR-ed with the deprecated ones: the service user's role is checked as upstream means it.
enforce_new_defaults = true
`;
}

function manage(dir: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  // --config-dir: an empty one of ours, else oslo.config also reads /etc/keystone/keystone.conf.d.
  const all = ['--config-file', join(dir, 'keystone.conf'), '--config-dir', join(dir, 'conf.d'), ...args];
  return new Promise((resolve, reject) => {
    execFile(MANAGE, all, { env: { ...process.env, ...env }, timeout: STEP_MS, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`keystone-manage ${args[0]}: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

export async function startKeystone(o: KeystoneOptions = {}): Promise<Keystone> {
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'hil-keystone-'));
  let server: Child | undefined;
  let removed = false;
  const removeDir = () => {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    removed = true;
  };
  // Also when the test process ends without stop(), or while it runs: processes.ts SIGKILLs the server's group on exit too.
  const onExit = () => {
    if (removed) return;
    try {
      if (server) process.kill(server.proc.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    removeDir();
  };
  process.once('exit', onExit);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Held again until it is gone, or nothing would wait for its exit.
      server?.proc.ref();
      // SIGKILL also ends a paused server; nothing in the directory is worth a clean shutdown.
      await server?.kill('SIGKILL');
      removeDir();
      process.removeListener('exit', onExit);
    })());
  try {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/v3`;
    for (const sub of ['conf.d', 'policy.d']) mkdirSync(join(dir, sub));
    writeFileSync(join(dir, 'policy.yaml'), "# None: Keystone's own defaults.\n");
    writeFileSync(join(dir, 'keystone.conf'), keystoneConf(dir, o));
    writeFileSync(join(dir, 'server.py'), SERVER_PY);

    server = start(PYTHON, [join(dir, 'server.py'), String(process.pid), String(port), dir, '--config-file', join(dir, 'keystone.conf'), '--config-dir', join(dir, 'conf.d')], {});
    // The server alone never keeps the test process alive (a shared one is never stopped); the exit handlers end it.
    for (const handle of [server.proc, server.proc.stdout, server.proc.stderr]) (handle as unknown as { unref(): void }).unref();
    writeKeys(join(dir, 'fernet-keys'));
    writeKeys(join(dir, 'credential-keys'));
    await manage(dir, ['db_sync']);
    // WAL: readers and the writer no longer wait for each other. Kept in the database file.
    const db = new DatabaseSync(join(dir, 'keystone.db'));
    db.exec('PRAGMA journal_mode = WAL');
    db.close();
    writeFileSync(join(dir, 'go'), '');
    const adminPassword = randomBytes(18).toString('base64url');
    // Both settle before an error goes up, so bootstrap writes nothing into the directory after stop() removed it.
    await allSettled([
      manage(dir, ['bootstrap', '--bootstrap-admin-url', url, '--bootstrap-public-url', url, '--bootstrap-region-id', 'RegionOne'], { OS_BOOTSTRAP_PASSWORD: adminPassword }),
      answers(url, server),
    ]);
    const k = client(dir, url, adminPassword, server, stop);
    await createServiceUser(k);
    k.startMs = Date.now() - t0;
    return k;
  } catch (err) {
    const logs = tail(join(dir, 'keystone.log')) + (server ? `\nserver output:\n${server.output().slice(-2000)}` : '');
    await stop();
    throw new Error(`Keystone did not start: ${(err as Error).message}${logs}`);
  }
}

/**
 * A key repository as \`keystone-manage fernet_setup\` (or credential_setup)
 * leaves it: key 0 staged, key 1 primary, each a Fernet key (32 random bytes,
 * URL-safe base64). Written here because each keystone-manage run is 3 s of
 * Python start-up, and these two would compete for the CPU with db_sync.
 */
function writeKeys(repo: string): void {
  mkdirSync(repo, { mode: 0o700 });
  for (const n of ['0', '1']) writeFileSync(join(repo, n), randomBytes(32).toString('base64url') + '=', { mode: 0o600 });
}

async function allSettled(steps: Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(steps);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
}

/** Waits until GET /v3 answers 200. */
async function answers(url: string, server: Child): Promise<void> {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const { exitCode, signalCode } = server.proc;
    if (exitCode !== null || signalCode !== null) throw new Error(`the server exited (${signalCode ?? exitCode})`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`GET ${url} did not answer`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function tail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const errors = lines.filter((l) => / (ERROR|CRITICAL) /.test(l)).slice(-5);
    return `\n${file}:\n  ${(errors.length ? errors : lines.slice(-10)).join('\n  ')}`;
  } catch {
    return '';
  }
}

async function createServiceUser(k: Keystone): Promise<void> {
  const u = k.serviceUser;
  const [project, user] = await Promise.all([k.createProject(u.project), k.createUser(u.username, u.password), k.createRole(SERVICE_ROLE)]);
  await k.grant(user.id, project.id, SERVICE_ROLE);
}

function client(dir: string, url: string, adminPassword: string, server: Child, stop: () => Promise<void>): Keystone {
  let admin: Promise<IssuedToken> | undefined;

  async function send(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
    return fetch(url + path, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  }

  /** An admin call that must succeed; the parsed body, or undefined for none. */
  async function api(method: string, path: string, body?: unknown): Promise<any> {
    const res = await send(method, path, { 'x-auth-token': await k.adminToken() }, body);
    const text = await res.text();
    if (!res.ok) throw new Error(`Keystone ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  async function authenticate(o: { username: string; password: string; domain?: string }, scope?: unknown): Promise<IssuedToken> {
    const domain = { id: o.domain ?? DEFAULT_DOMAIN };
    const auth = { identity: { methods: ['password'], password: { user: { name: o.username, domain, password: o.password } } }, ...(scope ? { scope } : {}) };
    const res = await send('POST', '/auth/tokens', {}, { auth });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`Keystone refused a token for ${o.username}: ${res.status} ${text}`);
    const body = JSON.parse(text) as TokenBody;
    return { token: res.headers.get('x-subject-token')!, expiresAt: new Date(body.token.expires_at), body };
  }

  async function roleId(name: string): Promise<string | undefined> {
    const { roles } = await api('GET', `/roles?name=${encodeURIComponent(name)}`);
    return roles[0]?.id;
  }

  const k: Keystone = {
    url,
    dir,
    startMs: 0,
    serviceUser: { username: 'hil-service', password: randomBytes(18).toString('base64url'), project: 'service', domain: DEFAULT_DOMAIN },
    adminUser: { username: 'admin', password: adminPassword, project: 'admin', domain: DEFAULT_DOMAIN },
    async adminToken() {
      const current = admin;
      const t = current && (await current.catch(() => undefined));
      // Reused for the first half of its life, which also serves a tokenExpirationSeconds of 1.
      if (t && Date.now() < (Date.parse(t.body.token.issued_at) + t.expiresAt.getTime()) / 2) return t.token;
      // Unless a concurrent caller already asked for a new one.
      if (admin === current) admin = k.issueToken(k.adminUser);
      return (await admin!).token;
    },
    async createProject(name, domainId = DEFAULT_DOMAIN) {
      const { project } = await api('POST', '/projects', { project: { name, domain_id: domainId } });
      return { id: project.id, name: project.name };
    },
    async createUser(name, password, domainId = DEFAULT_DOMAIN) {
      const { user } = await api('POST', '/users', { user: { name, password, domain_id: domainId } });
      return { id: user.id };
    },
    async createRole(name) {
      const found = await roleId(name);
      if (found) return { id: found };
      try {
        const { role } = await api('POST', '/roles', { role: { name } });
        return { id: role.id };
      } catch (err) {
        // Made meanwhile by a concurrent caller (409): theirs is as good.
        const raced = await roleId(name);
        if (raced) return { id: raced };
        throw err;
      }
    },
    async grant(userId, projectId, roleName) {
      const id = await roleId(roleName);
      if (!id) throw new Error(`Keystone has no role ${roleName}`);
      await api('PUT', `/projects/${projectId}/users/${userId}/roles/${id}`);
    },
    issueToken(o) {
      return authenticate(o, { project: { name: o.project, domain: { id: o.domain ?? DEFAULT_DOMAIN } } });
    },
    issueUnscopedToken(o) {
      return authenticate(o);
    },
    async validate(token, authToken) {
      const res = await send('GET', '/auth/tokens', { 'x-auth-token': authToken ?? (await k.adminToken()), 'x-subject-token': token });
      const text = await res.text();
      return { status: res.status, body: res.ok ? (JSON.parse(text) as TokenBody) : undefined };
    },
    async revoke(token) {
      const res = await send('DELETE', '/auth/tokens', { 'x-auth-token': await k.adminToken(), 'x-subject-token': token });
      if (res.status !== 204) throw new Error(`Keystone did not revoke the token: ${res.status} ${await res.text()}`);
    },
    validationsOf(token) {
      const hash = createHash('sha256').update(token).digest('hex');
      let lines: string[];
      try {
        lines = readFileSync(join(dir, 'validations.log'), 'utf8').split('\n');
      } catch {
        return 0;
      }
      return lines.filter((l) => l === hash).length;
    },
    pause() {
      process.kill(server.proc.pid!, 'SIGSTOP');
    },
    resume() {
      process.kill(server.proc.pid!, 'SIGCONT');
    },
    stop,
  };
  return k;
}
