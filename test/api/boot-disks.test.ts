/**
 * A node booting from its disk, through the API on both databases: the
 * project's boot network is made (admin-owned, only that project may use
 * it, its own /24), the boot NIC goes on it natively through the worker and
 * the switch, and the disk is exported over iSCSI at the boot network's
 * storage address to that node's initiator name alone (really served: the
 * boot subnets are on loopback here). Refusals change nothing; clearing
 * stops the export and takes the NIC off; a boot network no node uses goes.
 * The host side (VLAN links, DHCP, iPXE scripts) is test/exports/boot-networks.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { testDatabases } from '../support/databases.ts';
import { startTestHil, waitAction, withHil, type Caller, type TestHil } from '../support/hil.ts';
import { assertEmptyOk, assertError, attachments, mkNetwork, mkNodeWithNic, mkProject, mkSwitch, networkRow, attach, switchPort } from '../support/fixtures.ts';
import { ioIscsi } from '../support/qemu-io.ts';
import { skipUnless } from '../support/require.ts';
import { bootConfig, diskConfig, diskDirs, diskSkipReason, freePorts, iscsiExportSkipReason, uploadDisk, waitFor, waitServing, type DiskDirs } from '../support/disks.ts';

const skip = skipUnless(diskSkipReason());
const RAW = Buffer.alloc(1024 * 1024, 0x41);
const INITIATOR = /^iqn\.2026-12\.org\.hil\.initiator:node-\d+$/;

async function bootState(t: TestHil) {
  const db = t.hil.store.db;
  return {
    boots: await db.selectFrom('node_boot').select(['node_id', 'disk_id', 'nic_id', 'host']).orderBy('node_id').execute(),
    nets: await db.selectFrom('boot_network').select(['project_id', 'network_id', 'subnet']).orderBy('id').execute(),
    disks: await db.selectFrom('disk').select(['label', 'node_id', 'export_port', 'export_address']).orderBy('label').execute(),
    actions: await db.selectFrom('networking_action').select(['nic_id', 'status']).where('status', '=', 'PENDING').execute(),
  };
}

/** Sets the boot disk and waits for the NIC's move; answers the view. */
async function setBoot(api: Caller, node: string, disk: string, nic?: string) {
  const r = await api('POST', `/v0/node/${node}/boot_disk`, nic ? { disk, nic } : { disk });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.status_id, 'a move of the NIC was queued');
  assert.equal((await waitAction(api, r.body.status_id)).status, 'DONE');
  return r.body;
}

for (const database of testDatabases()) {
  describe(`boot disks on ${database.name}`, { skip: database.skip ?? skip }, () => {
    let dirs: DiskDirs;
    let db: Awaited<ReturnType<typeof database.create>>;
    let t: TestHil;
    let api: Caller;

    before(async () => {
      dirs = diskDirs();
      db = await database.create();
      t = await startTestHil(db, { config: diskConfig(dirs, await freePorts(20), bootConfig()) });
      api = t.as();
      await mkSwitch(api, 'sw0');
      for (const p of ['runway', 'manhattan']) await mkProject(api, p);
      const nodes = [
        ['r1', 'runway', 'gi1/0/1'],
        ['r2', 'runway', 'gi1/0/2'],
        ['r3', 'runway', 'gi1/0/3'],
        ['m1', 'manhattan', 'gi1/0/4'],
      ];
      for (const [i, [node, project, port]] of nodes.entries()) await mkNodeWithNic(api, { node, project, port, macaddr: `52:54:00:b0:07:0${i + 1}` });
      assertEmptyOk(await api('PUT', '/v0/image/gold', { project: 'runway', format: 'raw', public: true }));
      assert.equal((await uploadDisk(t, 'gold', RAW)).status, 200);
      for (const [d, p] of [['rd1', 'runway'], ['rd2', 'runway'], ['rd3', 'runway'], ['md1', 'manhattan']]) assertEmptyOk(await api('PUT', `/v0/disk/${d}`, { image: 'gold', project: p }));
    });
    after(async () => {
      await t?.close();
      await db?.drop();
      if (dirs) rmSync(dirs.root, { recursive: true, force: true });
    });

    it("the first boot disk makes the project's boot network; the NIC goes on it natively and the disk is exported there", async () => {
      const view = await setBoot(api, 'r1', 'rd1');
      assert.deepEqual(
        { ...view, export: undefined, status_id: undefined },
        { node: 'r1', disk: 'rd1', nic: 'eth0', mac: '52:54:00:b0:07:01', network: 'hil-boot-runway', address: '127.77.0.2', server: '127.77.0.1', export: undefined, status_id: undefined },
      );
      assert.equal(view.export.protocol, 'iscsi');
      assert.equal(view.export.host, '127.77.0.1');
      assert.match(view.export.initiator, INITIATOR);
      assert.equal(view.export.key, undefined, 'no secret in the answer');
      // An admin network that only runway may use, on a VLAN of the pool, carried untagged to r1's port.
      const net = await networkRow(t, 'hil-boot-runway');
      assert.equal(net?.owner, null);
      assert.deepEqual((await api('GET', '/v0/network/hil-boot-runway')).body.access, ['runway']);
      assert.deepEqual(await attachments(t, 'r1'), [{ nic: 'eth0', network: 'hil-boot-runway', channel: 'vlan/native' }]);
      assert.deepEqual(await switchPort(t, 'gi1/0/1'), [{ channel: 'vlan/native', network_id: net!.network_id }]);
      // The disk shows the same export; its holder serves it.
      assert.deepEqual((await api('GET', '/v0/disk/rd1')).body.node, 'r1');
      assert.deepEqual((await api('GET', '/v0/node/r1/boot_disk')).body, { ...view, status_id: view.status_id, export: { ...view.export, state: (await api('GET', '/v0/disk/rd1')).body.export.state } });
    });

    it("a second node of the project shares its boot network with the next address; another project gets its own /24", async () => {
      const v2 = await setBoot(api, 'r2', 'rd2');
      assert.equal(v2.network, 'hil-boot-runway');
      assert.equal(v2.address, '127.77.0.3');
      const vm = await setBoot(api, 'm1', 'md1');
      assert.deepEqual([vm.network, vm.address, vm.server, vm.export.host], ['hil-boot-manhattan', '127.77.1.2', '127.77.1.1', '127.77.1.1']);
      assert.notEqual(v2.export.port, vm.export.port);
      // Setting it again is a no-op that answers the same.
      const again = await api('POST', '/v0/node/r2/boot_disk', { disk: 'rd2' });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.export.port, v2.export.port);
    });

    it('the export admits its own node (initiator name and CHAP secret) and no other node', { skip: iscsiExportSkipReason() }, async () => {
      const e1 = await waitServing(api, 'rd1');
      const e2 = await waitServing(api, 'rd2');
      const secret = async (disk: string) => (await t.hil.store.db.selectFrom('disk').select('export_psk').where('label', '=', disk).executeTakeFirstOrThrow()).export_psk!;
      const target = (e: typeof e1, key: string) => ({ portal: `${e.host}:${e.port}`, iqn: e.name, initiator: e.initiator!, chap: { user: e.identity, secret: key } });
      let r = ioIscsi(target(e1, await secret('rd1')), ['read -P 0x41 0 64k', 'write -P 0x51 0 64k', 'read -P 0x51 0 64k']);
      assert.ok(r.ok, r.output);
      // r2's initiator name and secret on r1's target: refused either way.
      r = ioIscsi({ ...target(e1, await secret('rd1')), initiator: e2.initiator! }, ['read 0 64k']);
      assert.ok(!r.ok, `another node's initiator got in: ${r.output}`);
      r = ioIscsi({ ...target(e1, await secret('rd2')), chap: { user: e2.identity, secret: await secret('rd2') } }, ['read 0 64k']);
      assert.ok(!r.ok, `another node's CHAP account got in: ${r.output}`);
      r = ioIscsi(target(e2, await secret('rd2')), ['read -P 0x41 0 64k']);
      assert.ok(r.ok, `r2 sees the golden image, not r1's write: ${r.output}`);
    });

    it('refusals are clear and change nothing', async () => {
      const before = await bootState(t);
      assertError(await api('POST', '/v0/node/r3/boot_disk', { disk: 'md1' }), 409, 'ProjectMismatchError', 'Disk "md1" belongs to another project than node "r3".');
      assertError(await api('POST', '/v0/node/r3/boot_disk', { disk: 'rd1' }), 409, 'BlockedError', /in use by node "r1"/);
      assertError(await api('POST', '/v0/node/r1/boot_disk', { disk: 'rd3' }), 409, 'BlockedError', /boots from another disk or NIC already; clear it first \(hil node boot-disk clear r1\)/);
      assertError(await api('POST', '/v0/node/r3/boot_disk', { disk: 'rd3', nic: 'eth9' }), 404, 'NotFoundError');
      assertError(await api('POST', '/v0/node/r3/boot_disk', {}), 400, 'ValidationError', /must have required property 'disk'/);
      assertError(await api('POST', '/v0/node/r3/boot_disk', { disk: 'rd3', colour: 'red' }), 400, 'ValidationError');
      assertError(await api('POST', '/v0/node/nosuch/boot_disk', { disk: 'rd3' }), 404, 'NotFoundError');
      // A boot disk is attached and detached through the node's boot_disk only; it cannot be deleted; its network not either.
      assertError(await api('POST', '/v0/disk/rd1/detach'), 409, 'BlockedError', 'Disk "rd1" is the boot disk of node "r1"; clear it there (hil node boot-disk clear r1).');
      assertError(await api('POST', '/v0/disk/rd1/attach', { node: 'r1' }), 409, 'BlockedError', /is the boot disk of node "r1"/);
      assertError(await api('DELETE', '/v0/disk/rd1'), 409, 'BlockedError', /is the boot disk of node "r1"/);
      assertError(await api('DELETE', '/v0/network/hil-boot-runway'), 409, 'BlockedError', /is still connected to nodes|is the boot network of project runway/);
      // The node cannot leave its project with it.
      assertError(await api('POST', '/v0/project/runway/detach_node', { node: 'r1' }), 409, 'BlockedError');
      assert.deepEqual(await bootState(t), before);
    });

    it('a NIC natively on another network is refused, naming it', async () => {
      await mkNetwork(api, 'r3net', 'runway');
      await attach(api, 'r3', 'eth0', 'r3net');
      const before = await bootState(t);
      assertError(await api('POST', '/v0/node/r3/boot_disk', { disk: 'rd3' }), 409, 'BlockedError', /Nic eth0 is on network r3net natively.*hil node network detach r3 eth0 r3net/);
      assert.deepEqual(await bootState(t), before);
      assert.equal((await api('GET', '/v0/network/hil-boot-runway')).status, 200);
    });

    it('clearing stops the export and takes the NIC off the boot network; the disk stays; the last one takes the boot network away', async () => {
      assertEmptyOk(await api('DELETE', '/v0/node/m1/boot_disk'));
      assertError(await api('GET', '/v0/node/m1/boot_disk'), 404, 'NotFoundError', 'Node m1 boots from no disk.');
      const md1 = (await api('GET', '/v0/disk/md1')).body;
      assert.deepEqual([md1.node, md1.export], [null, null]);
      await waitFor('m1 off its boot network', async () => ((await attachments(t, 'm1')).length === 0 ? true : undefined));
      assert.deepEqual(await switchPort(t, 'gi1/0/4'), []);
      // Nobody in manhattan boots from a disk: its boot network goes (and its /24 is free again).
      await waitFor('hil-boot-manhattan removed', async () => ((await api('GET', '/v0/network/hil-boot-manhattan')).status === 404 ? true : undefined));
      assert.equal((await t.hil.store.db.selectFrom('boot_network').select('id').execute()).length, 1);
      // Clearing again is fine; the disk can be attached or deleted now.
      assertEmptyOk(await api('DELETE', '/v0/node/m1/boot_disk'));
      assertEmptyOk(await api('DELETE', '/v0/disk/md1'));
      // runway still boots r1 and r2: its network stays.
      assert.equal((await api('GET', '/v0/network/hil-boot-runway')).status, 200);
    });
  });

  describe(`boot disks not configured on ${database.name}`, { skip: database.skip ?? skip }, () => {
    it('the routes answer 501 and make nothing', async () => {
      await withHil(database, {}, async (t) => {
        const api = t.as();
        assertError(await api('POST', '/v0/node/n1/boot_disk', { disk: 'd' }), 501, 'NotImplementedError', /not configured on this HIL \(\[exports\.boot\]\)/);
        assertError(await api('GET', '/v0/node/n1/boot_disk'), 501, 'NotImplementedError');
        assert.equal((await t.hil.store.db.selectFrom('network').select('id').execute()).length, 0);
      });
    });
  });
}
