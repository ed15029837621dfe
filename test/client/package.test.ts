/**
 * hil-client as a stranger's project gets it: `npm pack` in the workspace,
 * the tarball installed into a fresh project with nothing else, then used
 * from plain JavaScript on the system's Node.js (20 on Debian 12) and on the
 * project's Node.js 24 against a running server, and type-checked from
 * TypeScript with `tsc --init`'s settings.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { testDatabases, type FreshDb } from '../support/databases.ts';
import { REPO } from '../support/processes.ts';
import { startTestHil, type TestHil } from '../support/hil.ts';
import { skipUnless } from '../support/require.ts';

const TSC = `${REPO}node_modules/.bin/tsc`;
const NODE24 = `${REPO}node_modules/.bin/node`;
/** The system's Node.js, found on PATH without the project's node_modules/.bin. */
function systemNode(): string | undefined {
  const path = (process.env.PATH ?? '').split(':').filter((d) => !d.includes('node_modules'));
  for (const dir of path) {
    try {
      if (statSync(join(dir, 'node')).isFile()) return join(dir, 'node');
    } catch {
      // not here
    }
  }
  return undefined;
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

const sqlite = testDatabases().find((d) => d.name === 'sqlite')!;

describe('the hil-client package, packed and installed elsewhere', () => {
  let root: string;
  let project: string;
  let db: FreshDb;
  let t: TestHil;
  let endpoint: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'hil-client-pkg-'));
    // npm pack runs the package's prepack (tsc), so this also proves the build works from a clean
    // tree: a copy of the package without dist/, so that nothing else building it here (the README's
    // own block, in test/docs) writes the files this pack reads.
    const source = join(root, 'hil-client');
    cpSync(join(REPO, 'packages', 'hil-client'), source, { recursive: true, filter: (f) => !f.includes('/dist') });
    const path = `${REPO}node_modules/.bin:${process.env.PATH}`;
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', root], { cwd: source, encoding: 'utf8', env: { ...process.env, PATH: path }, stdio: ['ignore', 'pipe', 'pipe'] }));
    const tarball = join(root, packed[0].filename);
    project = join(root, 'consumer');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: project, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

    db = await sqlite.create();
    t = await startTestHil(db, { auth: 'null' });
    endpoint = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
    for (const [method, path, body] of [
      ['PUT', '/v0/project/runway', undefined],
      ['PUT', '/v0/node/free1', { obm: { type: 'mock' } }],
      ['PUT', '/v0/node/free2', { obm: { type: 'mock' } }],
      ['PUT', '/v0/node/taken', { obm: { type: 'mock' } }],
      ['POST', '/v0/project/runway/connect_node', { node: 'taken' }],
    ] as const) {
      const r = await t.as()(method, path, body);
      assert.equal(r.status, 200, `${method} ${path}: ${r.text}`);
    }
  });

  after(async () => {
    await t?.close();
    await db?.drop();
    rmSync(root, { recursive: true, force: true });
  });

  it('installs alone: no dependencies, and only the built JavaScript and its types', () => {
    assert.deepEqual(readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.')), ['hil-client']);
    const installed = join(project, 'node_modules', 'hil-client');
    const shipped = files(installed);
    for (const f of shipped) assert.match(f, /^(package\.json|README\.md|dist\/[\w-]+\.(js|d\.ts))$/, `the package ships ${f}`);
    assert.ok(shipped.includes('dist/index.js') && shipped.includes('dist/index.d.ts'), shipped.join(' '));
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    assert.equal(manifest.dependencies, undefined);
    // No server code came along: nothing imports the server's libraries or Node-only modules.
    for (const f of shipped.filter((n) => n.endsWith('.js'))) {
      const text = readFileSync(join(installed, f), 'utf8');
      assert.doesNotMatch(text, /from ['"](fastify|pg|pino|kysely|typebox|node:[\w/]+)['"]/, `${f} imports server code`);
      assert.doesNotMatch(text, /\.ts['"]/, `${f} imports TypeScript source`);
    }
  });

  const script = `import { HilClient, HilApiError } from 'hil-client';
const hil = new HilClient({ endpoint: process.argv[2] });
const free = await hil.node.list('free');
const missing = await hil.node.show('nope').catch((e) => e);
console.log(JSON.stringify({ node: process.version, free, missing: [missing instanceof HilApiError, missing.type, missing.status] }));
`;

  for (const [label, node] of [
    ['the system Node.js', systemNode()],
    ['Node.js 24', NODE24],
  ] as const) {
    it(`runs from plain JavaScript on ${label} and lists the free nodes of a running server`, { skip: skipUnless(node ? undefined : 'no system Node.js on PATH (apt-get install nodejs)') }, async () => {
      writeFileSync(join(project, 'main.mjs'), script);
      // Asynchronously: the server answering it runs in this process.
      const out = await new Promise<string>((resolve, reject) =>
        execFile(node!, ['main.mjs', endpoint], { cwd: project, encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
      );
      const result = JSON.parse(out);
      assert.deepEqual(result.free.sort(), ['free1', 'free2']);
      assert.deepEqual(result.missing, [true, 'NotFoundError', 404]);
      if (node === NODE24) assert.match(result.node, /^v24\./);
    });
  }

  it('installs from a source directory too (its prepare builds it) and runs on the system Node.js', { skip: skipUnless(systemNode() ? undefined : 'no system Node.js on PATH (apt-get install nodejs)') }, async () => {
    const source = join(root, 'from-source');
    cpSync(join(REPO, 'packages', 'hil-client'), source, { recursive: true, filter: (f) => !f.includes('/dist') });
    const other = join(root, 'consumer-of-a-directory');
    mkdirSync(other);
    writeFileSync(join(other, 'package.json'), JSON.stringify({ name: 'consumer2', private: true, type: 'module' }));
    const path = `${REPO}node_modules/.bin:${process.env.PATH}`;
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', source], { cwd: other, env: { ...process.env, PATH: path }, stdio: ['ignore', 'pipe', 'pipe'] });
    writeFileSync(join(other, 'main.mjs'), script);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(systemNode()!, ['main.mjs', endpoint], { cwd: other, encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
    );
    assert.deepEqual(JSON.parse(out).free.sort(), ['free1', 'free2']);
  });

  it("type-checks a TypeScript consumer with tsc --init's settings, library declarations included", () => {
    writeFileSync(
      join(project, 'main.ts'),
      `import { HilClient, HilApiError, type Node, type NetworkingAction } from 'hil-client';
const hil = new HilClient({ endpoint: 'http://127.0.0.1:5000', username: 'alice', password: 'alice-pw' });
const free: string[] = await hil.node.list('free');
const node: Node = await hil.node.show(free[0] ?? 'node1');
const nic: string | undefined = node.nics[0]?.label;
const action: NetworkingAction = await hil.waitForAction((await hil.node.connectNetwork(node.name, nic ?? 'eth0', 'net')).status_id);
const failed: boolean = new HilApiError('AuthorizationError', 'no', 403).status === 403;
console.log(action.status, failed);
`,
    );
    rmSync(join(project, 'tsconfig.json'), { force: true });
    execFileSync(TSC, ['--init'], { cwd: project, stdio: 'ignore' });
    // tsc --init skips checking declaration files; the package's own must hold up too.
    const config = readFileSync(join(project, 'tsconfig.json'), 'utf8').replace('"skipLibCheck": true', '"skipLibCheck": false');
    writeFileSync(join(project, 'tsconfig.json'), config);
    const ok = spawnSync(TSC, ['-p', '.', '--noEmit'], { cwd: project, encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    // And the types are real: a wrong use is an error.
    writeFileSync(join(project, 'wrong.ts'), `import { HilClient } from 'hil-client';\nconst n: number = await new HilClient({ endpoint: 'http://x' }).node.list('free');\nconsole.log(n);\n`);
    const bad = spawnSync(TSC, ['-p', '.', '--noEmit'], { cwd: project, encoding: 'utf8' });
    rmSync(join(project, 'wrong.ts'));
    assert.notEqual(bad.status, 0, bad.stdout);
    assert.match(bad.stdout, /wrong\.ts.*TS2322/);
  });
});
