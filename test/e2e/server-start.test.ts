/**
 * `hil-admin serve` as an operator starts it: a mistake at start is one line
 * on stderr that says what to change (a busy port, a misspelt key, a file
 * that is not there), and the log is for people on a terminal, JSON
 * otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/lab/system.ts';
import { HIL_ADMIN, start } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';

const noScript = spawnSync('script', ['--version']).error ? 'script(1) is not installed (apt-get install bsdutils)' : undefined;

/** Runs `hil-admin serve` to its end (it must fail): status, stdout, stderr. */
function serveFails(env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(HIL_ADMIN, ['serve', '--migrate'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe('hil-admin serve at start', () => {
  let dir: string;
  let squatter: Server;
  let busy: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hil-start-'));
    busy = await freePort();
    squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(busy, '127.0.0.1', resolve));
  });

  after(() => {
    squatter?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('says in one line that the port is taken and which setting chooses another', async () => {
    const r = await serveFails({ HIL_DATA_DIR: join(dir, 'busy'), HIL_LISTEN: `127.0.0.1:${busy}`, HIL_LOG_FORMAT: 'json' });
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      `hil-admin: cannot listen on 127.0.0.1:${busy} for the API: the address is already in use (is another hil-admin serve running?); choose another with [server] listen or HIL_LISTEN\n`,
    );
    assert.doesNotMatch(r.stdout + r.stderr, /\n\s+at |EADDRINUSE/, 'no stack, no error object');
  });

  it('names a misspelt key and the one that was meant, and a missing file, in one line', async () => {
    const config = join(dir, 'hil.toml');
    writeFileSync(config, '[server]\nlistn = "127.0.0.1:5000"\n');
    const typo = await serveFails({ HIL_DATA_DIR: join(dir, 'typo'), HIL_CONFIG: config });
    assert.deepEqual([typo.status, typo.stderr], [1, `hil-admin: unknown configuration key "server.listn"; did you mean "server.listen"? (in ${config})\n`]);
    const missing = await serveFails({ HIL_DATA_DIR: join(dir, 'missing'), HIL_CONFIG: join(dir, 'nope.toml') });
    assert.deepEqual([missing.status, missing.stderr], [1, `hil-admin: cannot read the configuration file ${join(dir, 'nope.toml')}: no such file\n`]);
  });

  it('logs JSON lines when stdout is not a terminal', async () => {
    const port = await freePort();
    const server = start(HIL_ADMIN, ['serve', '--migrate'], { HIL_DATA_DIR: join(dir, 'json'), HIL_LISTEN: `127.0.0.1:${port}` });
    try {
      await server.waitFor('hil API server listening', 30_000);
    } finally {
      await server.kill();
    }
    const line = server.output().split('\n').find((l) => l.includes('hil API server listening'))!;
    const parsed = JSON.parse(line);
    assert.deepEqual([parsed.msg, parsed.level, parsed.listen], ['hil API server listening', 30, `127.0.0.1:${port}`]);
  });

  it('logs for people on a terminal: a time, a level name, the message, then the fields', { skip: skipUnless(noScript) }, async () => {
    const port = await freePort();
    // script(1) gives the server a terminal as stdout, as an operator's shell would.
    const server = start('script', ['-qfec', `${HIL_ADMIN} serve --migrate`, '/dev/null'], { HIL_DATA_DIR: join(dir, 'tty'), HIL_LISTEN: `127.0.0.1:${port}` });
    try {
      await server.waitFor(/hil API server listening[\s\S]*auth/, 30_000);
    } finally {
      await server.kill();
    }
    const text = server.output().replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(text, /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: hil API server listening\r?\n {4}listen: "127\.0\.0\.1:\d+"/m);
    assert.doesNotMatch(text, /^\{"level"/m, 'no JSON lines on a terminal');
  });
});
