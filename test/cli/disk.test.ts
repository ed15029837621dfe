/**
 * `hil image upload --disk` and `hil disk …` through bin/hil in
 * subprocesses, against a real server (SQLite, database auth, local
 * storage, real exports): a tenant uploads a golden disk image, creates,
 * lists, shows, attaches (the key into a file), snapshots (waiting for it),
 * detaches and deletes disks; the data goes through the export with the key
 * the CLI wrote.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil } from '../support/hil.ts';
import { runHil } from '../support/processes.ts';
import { diskConfig, diskDirs, diskSkipReason, freePorts } from '../support/disks.ts';
import { makeGolden } from '../support/storage-contract.ts';
import { ioNbd } from '../support/qemu-io.ts';
import { skipUnless } from '../support/require.ts';
import { mkNode, mkProject, connectNode } from '../support/fixtures.ts';

const hil = runHil;

const sqlite = testDatabases().find((d) => d.name === 'sqlite')!;

describe('hil disk', { skip: skipUnless(diskSkipReason()) }, () => {
  it('a tenant uploads a disk image, makes, attaches, snapshots, detaches and deletes disks', async () => {
    const dirs = diskDirs();
    const files = mkdtempSync(join(tmpdir(), 'hil-cli-disks-'));
    try {
      await withHil(sqlite, { auth: 'database', config: diskConfig(dirs, await freePorts(10)) }, async (t) => {
        await addUser(t, 'admin', 'admin-pw', true);
        const admin = t.as({ username: 'admin', password: 'admin-pw' });
        await mkProject(admin, 'runway');
        await mkNode(admin, 'n1');
        await connectNode(admin, 'runway', 'n1');
        await addUser(t, 'alice', 'alice-pw', false, ['runway']);
        const endpoint = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
        const ALICE: [string, string] = ['alice', 'alice-pw'];
        const ok = async (args: string[]) => {
          const r = await hil(endpoint, ALICE, args);
          assert.equal(r.status, 0, `hil ${args.join(' ')}: ${r.stderr}`);
          return r;
        };
        const fails = async (args: string[], message: RegExp) => {
          const r = await hil(endpoint, ALICE, args);
          assert.equal(r.status, 1, `hil ${args.join(' ')} should fail; printed ${r.stdout}`);
          assert.match(r.stderr, message);
        };

        const golden = makeGolden(files);
        const up = await ok(['image', 'upload', 'golden', '--disk', golden, '--project', 'runway']);
        assert.match(up.stderr, /created image golden \(qcow2 disk image\)/);
        assert.match(up.stdout, /disk\s+[0-9a-f]{64}/);
        await fails(['image', 'upload', 'golden2', '--disk', golden, '--format', 'vmdk', '--project', 'runway'], /unknown --format "vmdk": use qcow2 or raw/);
        assert.match((await ok(['image', 'show', 'golden'])).stdout, /format: qcow2\n[\s\S]*disk size: 67108864 bytes/);

        await fails(['disk', 'create', 'd1', 'golden'], /give --project P/);
        await ok(['disk', 'create', 'd1', 'golden', '--project', 'runway']);
        assert.deepEqual(JSON.parse((await ok(['disk', 'list', '--json'])).stdout), ['d1']);
        assert.equal((await ok(['disk', 'list', '--project', 'runway'])).stdout, 'd1\n');
        assert.match((await ok(['disk', 'show', 'd1'])).stdout, /disk: d1\nproject: runway\nimage: golden\nsize: 64 MiB\nstate: ready\nnode: \(none\)/);

        const pskFile = join(files, 'n1.psk');
        const attached = await ok(['disk', 'attach', 'd1', 'n1', '--psk-file', pskFile, '--wait']);
        assert.ok(!/psk: /.test(attached.stdout), 'the key went to the file, not the terminal');
        assert.equal(statSync(pskFile).mode & 0o777, 0o600);
        const [identity, key] = readFileSync(pskFile, 'utf8').trim().split(':');
        const shown = JSON.parse((await ok(['disk', 'show', 'd1', '--json'])).stdout);
        assert.equal(shown.export.state, 'serving');
        const target = { host: shown.export.host, port: shown.export.port, export: shown.export.name, identity: identity!, key: key! };
        const r = ioNbd(target, ['write -P 0x11 0 1M']);
        assert.ok(r.ok, r.output);

        const snap = await ok(['disk', 'snapshot', 'd1', 'd1-saved']);
        assert.match(snap.stderr, /snapshot d1-saved of disk d1 is ready/);
        await ok(['disk', 'create', 'd2', 'd1-saved', '--project', 'runway']);
        const printed = await ok(['disk', 'attach', 'd2', 'n1', '--wait']);
        const [, line] = /psk: (\S+)/.exec(printed.stdout) ?? [];
        const [id2, key2] = line!.split(':');
        const e2 = JSON.parse((await ok(['disk', 'show', 'd2', '--json'])).stdout).export;
        assert.ok(ioNbd({ host: e2.host, port: e2.port, export: e2.name, identity: id2!, key: key2! }, ['read -P 0x11 0 1M']).ok, "disk 2 has disk 1's data");

        await fails(['disk', 'delete', 'd1'], /in use by node "n1"; detach it first/);
        await ok(['disk', 'detach', 'd1']);
        await ok(['disk', 'detach', 'd2']);
        await t.hil.exports!.settled();
        for (let i = 0; i < 50 && (await hil(endpoint, ALICE, ['disk', 'delete', 'd2'])).status !== 0; i++) await new Promise((res) => setTimeout(res, 100));
        await fails(['disk', 'show', 'd2'], /Disk "d2" does not exist/);
      });
    } finally {
      rmSync(dirs.root, { recursive: true, force: true });
      rmSync(files, { recursive: true, force: true });
    }
  });
});
