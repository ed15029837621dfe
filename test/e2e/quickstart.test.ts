/**
 * The README's quick start, as a new user runs it: one command starts a
 * server on the embedded SQLite default in an empty directory, and an
 * authenticated call works. Also: hil-admin's other commands from a shell.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HIL_ADMIN, REPO, start } from '../support/processes.ts';
import { freePort } from '../../src/lab/system.ts';


describe('quick start', () => {
  it('`npm start` in a fresh directory serves authenticated calls on SQLite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-quickstart-'));
    const port = await freePort();
    const env = { HIL_ADMIN_PASSWORD: 'quick-start-pw', HIL_LISTEN: `127.0.0.1:${port}`, HIL_DATA_DIR: join(dir, 'data') };
    const server = start('npm', ['--prefix', REPO, 'start'], env);
    try {
      await server.waitFor('hil API server listening', 30000);
      const base = `http://127.0.0.1:${port}`;
      const auth = { authorization: 'Basic ' + Buffer.from('admin:quick-start-pw').toString('base64') };
      const created = await fetch(`${base}/v0/project/demo`, { method: 'PUT', headers: auth });
      assert.equal(created.status, 200);
      assert.deepEqual(await (await fetch(`${base}/v0/projects`, { headers: auth })).json(), ['demo']);
      assert.equal((await fetch(`${base}/v0/projects`)).status, 401);
      assert.ok(existsSync(join(dir, 'data', 'hil.db')));
      assert.equal(statSync(join(dir, 'data')).mode & 0o077, 0, 'the data directory is private');
    } finally {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hil-admin: migrate is idempotent, create-admin-user reads the environment, a missing admin is pointed out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-admin-'));
    const env = { ...process.env, HIL_DATA_DIR: dir };
    try {
      const run = (args: string[], extra: Record<string, string> = {}) => execFileSync(HIL_ADMIN, args, { env: { ...env, ...extra }, encoding: 'utf8' });
      assert.match(run(['--version']), /^hil-admin \d+\.\d+\.\d+/);
      assert.match(run(['db', 'migrate']), /applied: 0001-init/);
      assert.match(run(['db', 'migrate']), /already up to date/);

      const port = await freePort();
      const server = start(HIL_ADMIN, ['serve'], { HIL_DATA_DIR: dir, HIL_LISTEN: `127.0.0.1:${port}` });
      try {
        await server.waitFor('no administrator exists yet');
      } finally {
        await server.kill();
      }
      assert.match(run(['create-admin-user', 'ops'], { HIL_ADMIN_PASSWORD: 'ops-pw' }), /administrator ops created/);
      assert.throws(() => run(['create-admin-user', 'ops'], { HIL_ADMIN_PASSWORD: 'x' }), /already exists/);
      assert.throws(() => run(['frobnicate']), /unknown command/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serve refuses a database whose schema is not migrated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-admin-'));
    try {
      const server = start(HIL_ADMIN, ['serve'], { HIL_DATA_DIR: dir, HIL_LISTEN: '127.0.0.1:0' });
      await server.waitFor(/run "hil-admin db migrate"/);
      const code = server.proc.exitCode ?? (await new Promise((resolve) => server.proc.once('exit', resolve)));
      assert.equal(code, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
