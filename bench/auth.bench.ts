/**
 * What each auth backend costs a request: `npm run bench:auth` (add
 * `-- --write-docs` to update docs/benchmarks.md).
 *
 * Four hil servers, each in its own child process on its own SQLite file:
 * null auth (no credentials: the floor), database auth (HTTP Basic as an
 * administrator), keystone auth (a token from a real Keystone, started here
 * as the tests start it) and oidc auth (a JWT from a real OpenID provider,
 * in this process). autocannon sends GET /v0/nodes/free (an empty list: the
 * request is mostly routing and authentication) to each in turn, in
 * interleaved rounds, so the machine's drift hits all four alike. This is
 * the cache-hit path: every backend has confirmed the credential once.
 *
 * The first request with a credential not seen before (the cache-miss path)
 * is timed too, for --misses fresh credentials per backend: a password hash
 * (database), a Keystone round trip (keystone), a signature check with the
 * key set already fetched (oidc).
 *
 *   npm run bench:auth [-- --rounds 3 --seconds 3 --connections 10 --misses 10 --write-docs]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { load, median, type LoadResult } from './lib/measure.ts';
import { ok } from './lib/populate.ts';
import { replaceDocsBlock, revision } from './lib/report.ts';
import { machineLine } from './lib/scale-report.ts';
import { ROOT, startHil, type Server } from './lib/servers.ts';
import { startKeystone, type Keystone } from '../test/support/keystone.ts';
import { startOidcProvider, type OidcProvider } from '../test/support/oidc-provider.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '10' },
    misses: { type: 'string', default: '10' },
    'write-docs': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const MISSES = Number(values.misses);
const PATH = '/v0/nodes/free';
const ADMIN_PASSWORD = 'bench-admin-secret';
type Backend = 'null' | 'database' | 'keystone' | 'oidc';
const BACKENDS: Backend[] = ['null', 'database', 'keystone', 'oidc'];

const t0 = performance.now();
const log = (msg: string) => process.stderr.write(`[bench:auth ${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);

const work = mkdtempSync(join(tmpdir(), 'hil-bench-auth-'));
let keystone: Keystone | undefined;
let provider: OidcProvider | undefined;
const servers = new Map<Backend, Server>();

/** The config file and headers that make a server use `backend`. */
function backendSetup(backend: Backend): { toml: string; headers?: Record<string, string>; env?: Record<string, string> } {
  if (backend === 'keystone') {
    const k = keystone!;
    return {
      toml: `[auth]\nbackend = "keystone"\n[keystone]\nurl = "${k.url}"\nusername = "${k.serviceUser.username}"\nproject = "${k.serviceUser.project}"\n`,
      env: { HIL_KEYSTONE_PASSWORD: k.serviceUser.password },
    };
  }
  if (backend === 'oidc') return { toml: `[auth]\nbackend = "oidc"\n[oidc]\nissuer = "${provider!.issuer}"\naudience = "${provider!.audience}"\n` };
  return { toml: `[auth]\nbackend = "${backend}"\n` };
}

async function credentials(backend: Backend): Promise<Record<string, string>> {
  if (backend === 'keystone') return { 'x-auth-token': await keystone!.adminToken() };
  if (backend === 'oidc') return { authorization: `Bearer ${await provider!.issue('bench-admin')}` };
  if (backend === 'database') return { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') };
  return {};
}

/** Fresh credentials for the cache-miss timing, made before the clock starts. */
async function freshCredentials(backend: Backend, server: Server, i: number): Promise<Record<string, string>> {
  if (backend === 'keystone') {
    const a = keystone!.adminUser;
    return { 'x-auth-token': (await keystone!.issueToken({ username: a.username, password: a.password, project: a.project })).token };
  }
  if (backend === 'oidc') return { authorization: `Bearer ${await provider!.issue('bench-admin')}` };
  if (backend === 'database') {
    const user = `miss${i}`;
    await ok(server, 'PUT', `/v0/auth/basic/user/${user}`, { password: `${user}-pw`, is_admin: true });
    return { authorization: 'Basic ' + Buffer.from(`${user}:${user}-pw`).toString('base64') };
  }
  return {};
}

async function firstRequestMs(server: Server, headers: Record<string, string>): Promise<number> {
  const started = performance.now();
  const res = await fetch(server.url + PATH, { headers });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${server.name}: ${res.status} on a fresh credential`);
  return performance.now() - started;
}

interface Row {
  backend: Backend;
  rps: number;
  p50: number;
  p99: number;
  cpuUs: number;
  /** Median first-request time with a new credential, ms (null auth: none). */
  missMs?: number;
}

try {
  log(machineLine());
  keystone = await startKeystone();
  log(`Keystone up in ${(keystone.startMs / 1000).toFixed(1)} s`);
  provider = await startOidcProvider({ clients: [{ id: 'bench-admin', claims: { hil_roles: ['admin'] } }] });
  for (const backend of BACKENDS) {
    const setup = backendSetup(backend);
    const configFile = join(work, `${backend}.toml`);
    writeFileSync(configFile, setup.toml);
    const server = await startHil({
      name: `hil-${backend}`,
      dbFile: join(work, `${backend}.db`),
      configFile,
      workDir: work,
      auth: backend,
      adminPassword: ADMIN_PASSWORD,
      headers: await credentials(backend),
      env: setup.env,
    });
    servers.set(backend, server);
  }
  log(`servers up; ${ROUNDS} rounds × ${SECONDS} s × ${BACKENDS.length} backends, ${CONNECTIONS} connections`);

  const results = new Map<Backend, LoadResult[]>(BACKENDS.map((b) => [b, []]));
  for (const b of BACKENDS) await load(servers.get(b)!, [PATH], { seconds: 1, connections: CONNECTIONS }); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    // Each round starts with a different backend, so none always runs first (or last).
    const order = BACKENDS.map((_, i) => BACKENDS[(i + round) % BACKENDS.length]);
    for (const b of order) {
      const r = await load(servers.get(b)!, [PATH], { seconds: SECONDS, connections: CONNECTIONS });
      if (r.non2xx || r.errors) throw new Error(`${b}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
      results.get(b)!.push(r);
    }
    log(`round ${round + 1}: ${order.map((b) => `${b} ${results.get(b)!.at(-1)!.rps.toFixed(0)}`).join(', ')} req/s`);
  }

  const misses = new Map<Backend, number>();
  for (const b of BACKENDS.filter((x) => x !== 'null')) {
    const server = servers.get(b)!;
    const fresh: Array<Record<string, string>> = [];
    for (let i = 0; i < MISSES; i++) fresh.push(await freshCredentials(b, server, i));
    const times: number[] = [];
    for (const headers of fresh) times.push(await firstRequestMs(server, headers));
    misses.set(b, median(times));
  }

  const rows: Row[] = BACKENDS.map((b) => {
    const rs = results.get(b)!;
    return { backend: b, rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), cpuUs: median(rs.map((r) => r.cpuUsPerRequest)), missMs: misses.get(b) };
  });
  const floor = rows[0];
  const table = [
    '| auth | req/s | ÷ null auth | p50 / p99 ms | server CPU µs/req | first request with a new credential, ms (median) |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.backend} | ${r.rps.toFixed(0)} | ${(r.rps / floor.rps).toFixed(2)} | ${r.p50} / ${r.p99} | ${r.cpuUs.toFixed(0)} | ${r.missMs === undefined ? '—' : r.missMs.toFixed(1)} |`,
    ),
  ].join('\n');
  const resultsDir = join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `auth-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ revision: revision(ROOT), rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, rows, raw: Object.fromEntries(results) }, null, 2));
  const body = [
    `${machineLine()}; revision ${revision(ROOT)}; ${ROUNDS} rounds × ${SECONDS} s, ${CONNECTIONS} connections, \`GET ${PATH}\` (empty), medians; raw: \`${relative(ROOT, file)}\`.`,
    '',
    table,
  ].join('\n');
  process.stdout.write(`${table}\n`);
  if (values['write-docs']) replaceDocsBlock(join(ROOT, 'docs', 'benchmarks.md'), { name: 'auth', command: 'npm run bench:auth -- --write-docs', heading: 'Auth backends', body });
} finally {
  for (const s of servers.values()) await s.stop();
  await provider?.close();
  await keystone?.stop();
  rmSync(work, { recursive: true, force: true });
}
