/**
 * `hil node boot-disk …` through bin/hil in subprocesses, against a real
 * server (SQLite, database auth, real exports on loopback boot subnets, a
 * mock switch): a tenant sets a node's boot disk and waits for its NIC,
 * shows it, is refused a second disk with the command to run, and clears it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { testDatabases } from '../support/databases.ts';
import { addUser, basicAuth, withHil } from '../support/hil.ts';
import { runHil } from '../support/processes.ts';
import { bootConfig, diskConfig, diskDirs, diskSkipReason, freePorts, uploadDisk } from '../support/disks.ts';
import { skipUnless } from '../support/require.ts';
import { mkNodeWithNic, mkProject, mkSwitch } from '../support/fixtures.ts';

const sqlite = testDatabases().find((d) => d.name === 'sqlite')!;

describe('hil node boot-disk', { skip: skipUnless(diskSkipReason()) }, () => {
  it('a tenant sets, shows and clears a node\'s boot disk', async () => {
    const dirs = diskDirs();
    try {
      await withHil(sqlite, { auth: 'database', config: diskConfig(dirs, await freePorts(10), bootConfig()) }, async (t) => {
        await addUser(t, 'admin', 'admin-pw', true);
        const admin = t.as({ username: 'admin', password: 'admin-pw' });
        await mkProject(admin, 'runway');
        await mkSwitch(admin, 'sw0');
        await mkNodeWithNic(admin, { node: 'n1', project: 'runway', port: 'gi1/0/1', macaddr: '52:54:00:b0:07:aa' });
        await addUser(t, 'alice', 'alice-pw', false, ['runway']);
        assert.equal((await admin('PUT', '/v0/image/gold', { project: 'runway', format: 'raw' })).status, 200);
        assert.equal((await uploadDisk(t, 'gold', Buffer.alloc(1 << 20, 1), basicAuth('admin', 'admin-pw'))).status, 200);
        for (const d of ['d1', 'd2']) assert.equal((await admin('PUT', `/v0/disk/${d}`, { image: 'gold', project: 'runway' })).status, 200);
        const endpoint = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
        const ALICE: [string, string] = ['alice', 'alice-pw'];
        const ok = async (args: string[]) => {
          const r = await runHil(endpoint, ALICE, args);
          assert.equal(r.status, 0, `hil ${args.join(' ')}: ${r.stderr}`);
          return r;
        };

        const set = await ok(['node', 'boot-disk', 'set', 'n1', 'd1', '--wait']);
        assert.match(set.stderr, /move n1\/eth0 to hil-boot-runway: DONE in \d+ ms/);
        assert.match(set.stdout, /node: n1\ndisk: d1\nnic: eth0 \(52:54:00:b0:07:aa\)\nnetwork: hil-boot-runway\naddress: 127\.77\.0\.2\nserver: 127\.77\.0\.1\n/);
        const shown = JSON.parse((await ok(['node', 'boot-disk', 'show', 'n1', '--json'])).stdout);
        assert.deepEqual([shown.disk, shown.export.protocol, shown.export.host, shown.export.state], ['d1', 'iscsi', '127.77.0.1', 'serving'], '--wait waited for the export too');
        assert.equal(shown.export.key, undefined);
        const again = await runHil(endpoint, ALICE, ['node', 'boot-disk', 'set', 'n1', 'd2']);
        assert.equal(again.status, 1);
        assert.match(again.stderr, /boots from another disk or NIC already; clear it first \(hil node boot-disk clear n1\)/);
        assert.equal((await ok(['node', 'boot-disk', 'clear', 'n1'])).stdout, 'Node n1 boots from no disk.\n');
        const gone = await runHil(endpoint, ALICE, ['node', 'boot-disk', 'show', 'n1']);
        assert.equal(gone.status, 1);
        assert.match(gone.stderr, /Node n1 boots from no disk/);
      });
    } finally {
      rmSync(dirs.root, { recursive: true, force: true });
    }
  });
});
