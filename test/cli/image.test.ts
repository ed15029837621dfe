/**
 * `hil image …` through bin/hil in subprocesses, against a real server
 * (SQLite, database auth) on a socket: an admin and a tenant upload, list,
 * show, download (checked) and delete images.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../support/databases.ts';
import { NO_DISK } from '../support/fixtures.ts';
import { addUser, withHil } from '../support/hil.ts';
import { runHil } from '../support/processes.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const hil = runHil;

const sqlite = testDatabases().find((d) => d.name === 'sqlite')!;

describe('hil image', () => {
  it('uploads (creating the image), lists, shows, downloads and deletes, as an admin and as a tenant', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-cli-images-'));
    try {
      await withHil(sqlite, { auth: 'database', config: (c) => void (c.images.dir = join(dir, 'blobs')) }, async (t) => {
        await addUser(t, 'admin', 'admin-pw', true);
        const endpoint = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
        const ADMIN: [string, string] = ['admin', 'admin-pw'];
        const ALICE: [string, string] = ['alice', 'alice-pw'];
        const ok = async (user: [string, string], args: string[]) => {
          const r = await hil(endpoint, user, args);
          assert.equal(r.status, 0, `hil ${args.join(' ')}: ${r.stderr}`);
          return r;
        };
        const fails = async (user: [string, string], args: string[], message: RegExp) => {
          const r = await hil(endpoint, user, args);
          assert.equal(r.status, 1, `hil ${args.join(' ')} should fail; printed ${r.stdout}`);
          assert.match(r.stderr, message);
        };

        const kernel = randomBytes(150_000);
        const initrd = randomBytes(70_000);
        writeFileSync(join(dir, 'vmlinuz'), kernel);
        writeFileSync(join(dir, 'initrd.img'), initrd);

        const up = await ok(ADMIN, ['image', 'upload', 'debian', '--kernel', join(dir, 'vmlinuz'), '--initrd', join(dir, 'initrd.img'), '--cmdline', 'console=ttyS0 quiet', '--public']);
        assert.match(up.stdout, new RegExp(`kernel\\s+${sha(kernel)}\\s+150000`));
        assert.match(up.stdout, new RegExp(`initrd\\s+${sha(initrd)}\\s+70000`));
        assert.match(up.stderr, /created image debian/);

        const shown = JSON.parse((await ok(ADMIN, ['image', 'show', 'debian', '--json'])).stdout);
        assert.deepEqual(shown, {
          name: 'debian',
          project: 'admin',
          public: true,
          cmdline: 'console=ttyS0 quiet',
          format: 'kexec',
          kernel: { sha256: sha(kernel), size: kernel.length },
          initrd: { sha256: sha(initrd), size: initrd.length },
          rootfs: null,
          ...NO_DISK,
        });
        assert.match((await ok(ADMIN, ['image', 'show', 'debian'])).stdout, /cmdline: console=ttyS0 quiet\n[\s\S]*rootfs\s+\(none\)/);

        // Uploading to an existing image replaces the part; contradicting its settings is refused.
        const newer = randomBytes(1000);
        writeFileSync(join(dir, 'vmlinuz2'), newer);
        const json = JSON.parse((await ok(ADMIN, ['image', 'upload', 'debian', '--kernel', join(dir, 'vmlinuz2'), '--json'])).stdout);
        assert.deepEqual(json, { kernel: { sha256: sha(newer), size: 1000 } });
        await fails(ADMIN, ['image', 'upload', 'debian', '--kernel', join(dir, 'vmlinuz2'), '--cmdline', 'other'], /image debian exists with cmdline "console=ttyS0 quiet"; delete it first/);
        await fails(ADMIN, ['image', 'upload', 'debian'], /give at least one file: --kernel, --initrd, --rootfs or --disk/);
        await fails(ADMIN, ['image', 'upload', 'fresh', '--kernel', join(dir, 'nothing')], /cannot read .*nothing/);
        assert.equal((await ok(ADMIN, ['image', 'list'])).stdout, 'debian\n', 'a failed upload created nothing');

        // A tenant: its own project's images, and the public one.
        await ok(ADMIN, ['project', 'create', 'runway']);
        await addUser(t, 'alice', 'alice-pw', false, ['runway']);
        await ok(ALICE, ['image', 'upload', 'mine', '--kernel', join(dir, 'vmlinuz'), '--project', 'runway']);
        assert.equal((await ok(ALICE, ['image', 'list'])).stdout, 'debian\nmine\n');
        await fails(ALICE, ['image', 'upload', 'theirs', '--kernel', join(dir, 'vmlinuz')], /Only administrators may create admin-owned images/);
        await fails(ALICE, ['image', 'delete', 'debian'], /You do not have access to the required project/);

        const out = join(dir, 'downloaded');
        const dl = await ok(ALICE, ['image', 'download', 'debian', 'initrd', '--out', out]);
        assert.equal(dl.stdout, `${sha(initrd)}  ${out}\n`);
        assert.ok(readFileSync(out).equals(initrd));
        await fails(ALICE, ['image', 'download', 'debian', 'rootfs', '--out', join(dir, 'none')], /Image "debian" has no rootfs/);
        assert.equal(existsSync(join(dir, 'none')), false);
        await fails(ALICE, ['image', 'download', 'debian', 'bootloader', '--out', out], /^Error: command-argument value 'bootloader' is invalid for argument 'kernel\|initrd\|rootfs\|disk'\. Allowed choices are kernel, initrd, rootfs, disk\./m);

        await ok(ALICE, ['image', 'delete', 'mine']);
        await ok(ADMIN, ['image', 'delete', 'debian']);
        assert.equal((await ok(ADMIN, ['image', 'list'])).stdout, '');
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
