/**
 * A deploy of a disk image by kexec (`POST /v0/node/<n>/deploy {"image",
 * "disk"}`), with the FPBL played by this test and mock hardware under a
 * real HIL, its networking worker and its real iSCSI exports (on loopback,
 * `[exports.boot]` of test/support/disks.ts), on both databases:
 *
 * - a refused deploy makes no disk, no boot disk and no move;
 * - the deploy makes the disk from the image, exports it on the project's
 *   boot network, and the FPBL's deploy command boots the image's kernel with
 *   the words that mount its root from that export; the NIC goes to the boot
 *   network, not a tenant network, before the jump;
 * - the export serves the disk to the node's initiator with its CHAP secret;
 * - a reclaim power-cycles (the OS's root went with the export), clears the
 *   boot disk, and keeps the disk (--keep-disk) or deletes it;
 * - a second deploy uses the disk that is there.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases, type FreshDb } from '../support/databases.ts';
import { addUser, startTestHil, type Caller, type TestHil } from '../support/hil.ts';
import { assertError, mkNetwork, mkNodeWithNic, mkSwitch } from '../support/fixtures.ts';
import { bootConfig, diskConfig, diskDirs, freePorts, iscsiExportSkipReason, uploadDisk, waitFor, type DiskDirs } from '../support/disks.ts';
import { fpblAgent } from '../support/fpbl-agent.ts';
import { ioIscsi } from '../support/qemu-io.ts';
import { skipUnless } from '../support/require.ts';

const MAC = '52:54:00:aa:0d:01';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const skip = skipUnless(iscsiExportSkipReason());

for (const database of testDatabases()) {
  describe(`deploy of a disk image by kexec (${database.name})`, { skip: database.skip ?? skip }, () => {
    let db: FreshDb;
    let t: TestHil;
    let dirs: DiskDirs;
    let admin: Caller;
    let alice: Caller;
    let dir: string;
    let socket: string;
    let fpblToken = '';
    const kernel = Buffer.from('diskless kernel '.repeat(64));
    const initrd = Buffer.from('diskless initrd '.repeat(32));
    const fpbl = fpblAgent({ socket: () => socket, admin: () => admin, node: 'n1', mac: MAC });
    const nicNetworks = async () => (await admin('GET', '/v0/node/n1')).body.nics[0].networks as Record<string, string>;
    const diskRow = (label: string) => t.hil.store.db.selectFrom('disk').selectAll().where('label', '=', label).executeTakeFirst();
    const nodeId = async () => Number((await t.hil.store.db.selectFrom('node').select('id').where('label', '=', 'n1').executeTakeFirstOrThrow()).id);

    /** Deploys over the held report and plays the FPBL through the move; answers the deploy command. */
    async function deployed(body: Record<string, unknown>) {
      const r = await alice('POST', '/v0/node/n1/deploy', body);
      assert.equal(r.status, 200, r.text);
      const cmd = await fpbl.nextCommand(fpblToken);
      assert.equal(cmd.fields.command, 'deploy', cmd.text);
      assert.equal((await fpbl.report(fpblToken, 'loaded')).fields.command, 'wait');
      assert.equal((await fpbl.report(fpblToken, 'loaded', { waiting: '1' })).fields.command, 'wait');
      await fpbl.untilState('deployed', 'running');
      return cmd.fields;
    }

    /** Reclaims (by power cycle, whatever was asked) into a fresh FPBL. */
    async function reclaimed(body?: Record<string, unknown>) {
      const r = await alice('POST', '/v0/node/n1/reclaim', body);
      assert.equal(r.status, 200, r.text);
      fpblToken = await fpbl.pxeToken();
      assert.equal((await fpbl.status()).path, 'power-cycle', 'a diskless OS cannot return by kexec: its root went with its export');
      await fpbl.bootFpbl(fpblToken);
    }

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'hil-disk-deploy-'));
      socket = join(dir, 'fpbl.sock');
      writeFileSync(join(dir, 'vmlinuz'), 'FPBL kernel');
      writeFileSync(join(dir, 'initrd.img'), 'FPBL initrd');
      dirs = diskDirs();
      db = await database.create();
      const ports = await freePorts(10);
      t = await startTestHil(db, {
        auth: 'database',
        config: (c) => {
          diskConfig(dirs, ports, bootConfig())(c);
          c.provisioning = { ...c.provisioning, enabled: true, listen: `unix:${socket}`, url: 'http://10.128.0.1', network: 'provisioning', fpbl_dir: dir, return_timeout_seconds: 30, tick_ms: 20 };
        },
      });
      admin = t.as(await addUser(t, 'admin', 'admin-pw', true));
      for (const p of ['proj-a', 'proj-b', 'hil-provisioning']) assert.equal((await admin('PUT', `/v0/project/${p}`)).status, 200);
      alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['proj-a']));
      await mkSwitch(admin, 'sw0');
      await mkNodeWithNic(admin, { node: 'n1', macaddr: MAC, port: 'gi1/0/1' });
      await mkNetwork(admin, 'provisioning', 'admin', 'hil-provisioning');
      await mkNetwork(alice, 'net-a', 'proj-a');
      const aliceAuth = 'Basic ' + Buffer.from('alice:alice-pw').toString('base64');
      assert.equal((await alice('PUT', '/v0/image/os-disk', { project: 'proj-a', format: 'raw', cmdline: 'console=ttyS0 quiet' })).status, 200);
      assert.equal((await uploadDisk(t, 'os-disk', Buffer.alloc(1 << 20, 0x5d), aliceAuth)).status, 200);
      for (const [part, data] of [['kernel', kernel], ['initrd', initrd]] as const) {
        const r = await t.hil.app!.inject({ method: 'PUT', url: `/v0/image/os-disk/${part}`, payload: data, headers: { 'content-type': 'application/octet-stream', authorization: aliceAuth } });
        assert.equal(r.statusCode, 200, r.body);
      }
      // A disk image without a kernel, and a disk of another project.
      assert.equal((await alice('PUT', '/v0/image/bare', { project: 'proj-a', format: 'raw' })).status, 200);
      assert.equal((await uploadDisk(t, 'bare', Buffer.alloc(1 << 20, 0x11), aliceAuth)).status, 200);
      assert.equal((await admin('PUT', '/v0/disk/b-root', { image: 'os-disk', project: 'proj-b' })).status, 200);

      assert.equal((await admin('POST', '/v0/node/n1/reclaim')).status, 200);
      fpblToken = await fpbl.pxeToken();
      await fpbl.bootFpbl(fpblToken);
      assert.equal((await alice('POST', '/v0/project/proj-a/connect_node', { ready: true })).status, 200);
    });

    after(async () => {
      await t?.close();
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
      if (dirs) rmSync(dirs.root, { recursive: true, force: true });
    });

    it('refuses a deploy it cannot do, and makes nothing for it', async () => {
      assertError(await alice('POST', '/v0/node/n1/deploy', { image: 'bare', disk: 'new-root' }), 400, 'BadArgumentError', /has no kernel/);
      assertError(await alice('POST', '/v0/node/n1/deploy', { image: 'os-disk', disk: 'new-root', networks: { eth0: 'net-a' } }), 400, 'BadArgumentError', /boots from disk new-root on the boot network/);
      assertError(await alice('POST', '/v0/node/n1/deploy', { image: 'os-disk', disk: 'b-root' }), 404, 'NotFoundError');
      assert.equal(await diskRow('new-root'), undefined, 'the disk a refused deploy made is gone again');
      assert.equal((await t.hil.store.db.selectFrom('node_boot').selectAll().execute()).length, 0);
      assert.deepEqual([(await fpbl.status()).state, await nicNetworks()], ['ready', { 'vlan/native': 'provisioning' }]);
    });

    it("makes the disk, exports it on the project's boot network, and the FPBL boots the kernel with its root there", async () => {
      const cmd = await deployed({ image: 'os-disk', disk: 'root-a' });
      const d = (await alice('GET', '/v0/disk/root-a')).body;
      assert.equal(d.image, 'os-disk');
      assert.deepEqual([d.export.protocol, d.export.host], ['iscsi', '127.77.0.1']);
      const id = await nodeId();
      const psk = (await diskRow('root-a'))!.export_psk!;
      assert.equal(cmd.kernel_sha256, sha(kernel));
      assert.equal(cmd.initrd_sha256, sha(initrd));
      assert.ok(
        cmd.cmdline.startsWith(`console=ttyS0 quiet rd.iscsi.initiator=iqn.2026-12.org.hil.initiator:node-${id} netroot=iscsi:hil-node-${id}:${psk}@127.77.0.1:tcp:${d.export.port}:1:${d.export.name} hil.url=`),
        cmd.cmdline,
      );
      assert.deepEqual(await nicNetworks(), { 'vlan/native': 'hil-boot-proj-a' }, 'moved to the boot network before the jump');
      assert.deepEqual((await fpbl.status()).networks, { eth0: 'hil-boot-proj-a' });
      assert.equal((await alice('GET', '/v0/node/n1/boot_disk')).body.disk, 'root-a');
    });

    it('serves the disk to the node, with its CHAP secret', async () => {
      const e = await waitFor('root-a serving', async () => {
        const x = (await alice('GET', '/v0/disk/root-a')).body.export;
        return x?.state === 'serving' ? x : undefined;
      });
      const secret = (await diskRow('root-a'))!.export_psk!;
      const r = ioIscsi({ portal: `${e.host}:${e.port}`, iqn: e.name, initiator: e.initiator, chap: { user: e.identity, secret } }, ['read -P 0x5d 0 64k']);
      assert.ok(r.ok, r.output);
    });

    it('reclaims by power cycle and keeps the disk when asked: no boot disk, no export, the NIC back on the provisioning network', async () => {
      await reclaimed({ keep_disk: true });
      assertError(await alice('GET', '/v0/node/n1/boot_disk'), 404, 'NotFoundError');
      const d = (await alice('GET', '/v0/disk/root-a')).body;
      assert.equal(d.export, null);
      assert.deepEqual(await nicNetworks(), { 'vlan/native': 'provisioning' });
    });

    it('deploys again on the disk that is there, and deletes it on a reclaim without --keep-disk', async () => {
      const before = (await diskRow('root-a'))!;
      const cmd = await deployed({ image: 'os-disk', disk: 'root-a' });
      assert.equal((await diskRow('root-a'))!.storage_key, before.storage_key, 'the same disk, not a new clone');
      assert.match(cmd.cmdline, new RegExp(`netroot=iscsi:\\S+:1:${(await alice('GET', '/v0/disk/root-a')).body.export.name.replace(/\./g, '\\.')} `));
      await reclaimed();
      await waitFor('root-a deleted', async () => ((await alice('GET', '/v0/disk/root-a')).status === 404 ? true : undefined));
    });
  });
}
