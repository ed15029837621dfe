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
import { setTimeout as sleep } from 'node:timers/promises';
import type { MockBmcState } from '../../src/drivers/bmc/mock.ts';
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
    const bmc = () => (t.hil.bmcs.resolve('mock') as unknown as { state(n: string): MockBmcState }).state('n1');
    const nodeId = async () => Number((await t.hil.store.db.selectFrom('node').select('id').where('label', '=', 'n1').executeTakeFirstOrThrow()).id);

    /** Deploys over the held report and plays the FPBL through the move; answers the deploy command. */
    async function deployed(body: Record<string, unknown>) {
      const r = await alice('POST', '/v0/node/n1/deploy', body);
      assert.equal(r.status, 200, r.text);
      const cmd = await fpbl.nextCommand(fpblToken);
      assert.equal(cmd.fields.command, 'deploy', cmd.text);
      // The FPBL learns of the move from the boot network's server: its own address there, and the URL.
      const boot = (await alice('GET', '/v0/node/n1/boot_disk')).body;
      assert.equal(cmd.fields.jump_ip, `${boot.address}/24`);
      assert.match(cmd.fields.jump_url, new RegExp(`^http://${boot.server.replace(/\./g, '\\.')}:\\d+/boot/${MAC}/deployed$`));
      // "deploy, then wait": the first loaded report, naming this deploy, starts the move.
      const waited = await fpbl.report(fpblToken, 'loaded', { waiting: '1', deploy: cmd.fields.deploy_id });
      assert.deepEqual([waited.fields.command, waited.fields.jump_url, waited.fields.jump_ip], ['wait', cmd.fields.jump_url, cmd.fields.jump_ip]);
      await fpbl.untilState('deployed', 'running');
      return cmd.fields;
    }

    /** Reclaims by power cycle into a fresh FPBL. */
    async function reclaimed(body: Record<string, unknown> = {}) {
      const r = await alice('POST', '/v0/node/n1/reclaim', { ...body, power_cycle: true });
      assert.equal(r.status, 200, r.text);
      fpblToken = await fpbl.pxeToken();
      assert.equal((await fpbl.status()).path, 'power-cycle');
      await fpbl.bootFpbl(fpblToken);
    }

    /** What the return agent of the OS that `deploy` booted reports (through its boot network's server, which relays it here unchanged). */
    const returnAgent = (deploy: Record<string, string>, state: string) =>
      fpbl.agent('/fpbl/v1/agent', { token: /hil\.token=([0-9a-f]{64})/.exec(deploy.cmdline)![1], body: { agent: 'return', state, mac: MAC, boot_id: 'os-1', uptime: '9.1' } });

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
          c.provisioning = { ...c.provisioning, enabled: true, listen: `unix:${socket}`, url: 'http://10.128.0.1', network: 'provisioning', fpbl_dir: dir, return_timeout_seconds: 3, tick_ms: 20 };
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

    it('deploys again on the disk that is there, and reclaims it by kexec through the boot network, deleting the disk without --keep-disk', async () => {
      const before = (await diskRow('root-a'))!;
      const cmd = await deployed({ image: 'os-disk', disk: 'root-a' });
      assert.equal((await diskRow('root-a'))!.storage_key, before.storage_key, 'the same disk, not a new clone');
      assert.match(cmd.cmdline, new RegExp(`netroot=iscsi:\\S+:1:${(await alice('GET', '/v0/disk/root-a')).body.export.name.replace(/\./g, '\\.')} `));
      // Its OS reaches HIL through its boot network's server only.
      const boot = (await alice('GET', '/v0/node/n1/boot_disk')).body;
      const server = new URL(cmd.jump_url).origin;
      assert.equal(new URL(cmd.jump_url).hostname, boot.server);
      assert.match(cmd.cmdline, new RegExp(` hil\\.url=${server.replace(/\./g, '\\.')} hil\\.token=[0-9a-f]{64} hil\\.mac=${MAC}$`), 'no hil.ip: the OS is on its boot network');
      const events = bmc().powerEvents.length;

      // Reclaimed by kexec: the NIC and the disk stay while the OS is asked to return.
      assert.equal((await alice('POST', '/v0/node/n1/reclaim')).status, 200);
      await fpbl.untilState('reclaiming', 'returning');
      assert.deepEqual(await nicNetworks(), { 'vlan/native': 'hil-boot-proj-a' });
      assert.equal((await alice('GET', '/v0/node/n1/boot_disk')).body.disk, 'root-a');
      const back = await returnAgent(cmd, 'running');
      assert.equal(back.fields.command, 'return', back.text);
      assert.equal(back.fields.kernel_url, `${server}/fpbl/v1/fpbl/vmlinuz`, 'the FPBL from the boot network');
      assert.equal(back.fields.initrd_url, `${server}/fpbl/v1/fpbl/initrd.img`);
      assert.match(back.fields.cmdline, new RegExp(`hil\\.url=${server.replace(/\./g, '\\.')} `), 'its FPBL reports through the boot network first');
      const token = /hil\.token=([0-9a-f]{64})/.exec(back.fields.cmdline)![1]!;
      await fpbl.untilState('reclaiming', 'starting');
      // It jumps: its kernel's shutdown still writes to the disk, so nothing moves yet.
      assert.equal((await returnAgent(cmd, 'returning')).fields.command, 'none');
      await sleep(200);
      assert.deepEqual(await nicNetworks(), { 'vlan/native': 'hil-boot-proj-a' });
      assert.equal((await alice('GET', '/v0/node/n1/boot_disk')).body.disk, 'root-a');
      // Its FPBL reports (through the boot network's server): now the disk goes, the NIC moves, and the FPBL follows it.
      const rejoin = await fpbl.report(token, 'fresh');
      assert.deepEqual(rejoin.fields, { command: 'rejoin', url: 'http://10.128.0.1' });
      await fpbl.until('the NIC on the provisioning network', async () => JSON.stringify(await nicNetworks()) === '{"vlan/native":"provisioning"}');
      assertError(await alice('GET', '/v0/node/n1/boot_disk'), 404, 'NotFoundError');
      await fpbl.untilState('reclaiming', 'starting');
      await waitFor('root-a deleted', async () => ((await alice('GET', '/v0/disk/root-a')).status === 404 ? true : undefined));
      await fpbl.bootFpbl(token);
      fpblToken = token;
      assert.equal((await fpbl.status()).path, 'kexec');
      assert.equal(bmc().powerEvents.length, events, 'no power event');
    });

    it('reclaims a diskless node whose OS does not return by power cycle, off its boot network first, keeping the disk when asked', async () => {
      await deployed({ image: 'os-disk', disk: 'root-b' });
      const events = bmc().powerEvents.length;
      assert.equal((await alice('POST', '/v0/node/n1/reclaim', { keep_disk: true })).status, 200);
      await fpbl.untilState('reclaiming', 'returning');
      // Nobody answers within return_timeout_seconds (3 s here).
      fpblToken = await fpbl.pxeToken();
      assert.ok(bmc().powerEvents.length > events, 'power-cycled');
      assert.deepEqual(await nicNetworks(), { 'vlan/native': 'provisioning' }, 'PXE on the provisioning network, not the boot network');
      assertError(await alice('GET', '/v0/node/n1/boot_disk'), 404, 'NotFoundError');
      await fpbl.bootFpbl(fpblToken);
      assert.equal((await alice('GET', '/v0/disk/root-b')).status, 200, 'kept, as asked');
      // Its export stops within a heartbeat or two; until then the delete is refused as still being worked on.
      await waitFor('root-b deleted', async () => ((await alice('DELETE', '/v0/disk/root-b')).status === 200 ? true : undefined));
    });
  });
}
