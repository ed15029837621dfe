/**
 * The provisioning state machine and the agent protocol, on both databases,
 * with the agents played by this test (docs/fast-provisioning.md, protocol
 * version 1) and mock hardware (switch and BMC) under a real HIL and its
 * networking worker. The lab e2e test (test/e2e/fast-provisioning.test.ts)
 * runs the real agents in QEMU; this one covers every branch in seconds:
 *
 * - enrolling: NICs onto the provisioning network, boot device PXE and a
 *   power cycle, one token per PXE boot, wipe, ready;
 * - deploy: the payload only with this node's token, checksums, the network
 *   move before the kexec ("wait"), the FPBL's token dead afterwards;
 * - reclaim by kexec through the return agent, and the fallback (power
 *   cycle) when the customer's OS does not answer;
 * - failures: a load the agent refuses, an image of another project;
 * - guards: a tenant cannot touch the networks of a node the service holds,
 *   nor release a deployed one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentCall, fpblAgent } from '../support/fpbl-agent.ts';
import { wantedBlobs } from '../../src/provisioning/prefetch.ts';
import { testDatabases, type FreshDb } from '../support/databases.ts';
import { addUser, startTestHil, type Caller, type TestHil } from '../support/hil.ts';
import { assertError, mkNetwork, mkNodeWithNic, mkProject, mkSwitch } from '../support/fixtures.ts';
import type { MockBmcState } from '../../src/drivers/bmc/mock.ts';

const MAC = '52:54:00:aa:00:01';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

for (const database of testDatabases()) {
  describe(`fast provisioning: state machine and agent protocol (${database.name})`, { skip: database.skip }, () => {
    let db: FreshDb;
    let t: TestHil;
    let admin: Caller;
    let alice: Caller;
    let bob: Caller;
    let dir: string;
    let socket: string;
    /** The current FPBL's token, and the return token of the last deploy: the tests follow one node's life. */
    let fpblToken = '';
    let savedReturnToken = '';
    const kernel = Buffer.from('customer kernel bytes '.repeat(100));
    const initrd = Buffer.from('customer initrd bytes '.repeat(50));
    /** What makes os-b's files differ from os-a's. */
    const otherBytes = Buffer.from(' of project b');

    const fpbl = fpblAgent({ socket: () => socket, admin: () => admin, node: 'n1', mac: MAC });
    const { agent, report, status, untilState } = fpbl;
    const nicNetworks = async () => (await admin('GET', '/v0/node/n1')).body.nics[0].networks as Record<string, string>;
    const bmc = () => (t.hil.bmcs.resolve('mock') as unknown as { state(n: string): MockBmcState }).state('n1');
    const { bootFpbl, nextCommand, pxeToken } = fpbl;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'hil-prov-'));
      socket = join(dir, 'fpbl.sock');
      writeFileSync(join(dir, 'vmlinuz'), 'FPBL kernel');
      writeFileSync(join(dir, 'initrd.img'), 'FPBL initrd');
      db = await database.create();
      t = await startTestHil(db, {
        auth: 'database',
        config: (c) => {
          c.provisioning = { ...c.provisioning, enabled: true, listen: `unix:${socket}`, url: 'http://10.128.0.1', network: 'provisioning', fpbl_dir: dir, return_timeout_seconds: 1, tick_ms: 20 };
          c.images.dir = join(dir, 'blobs');
        },
      });
      admin = t.as(await addUser(t, 'admin', 'admin-pw', true));
      for (const p of ['proj-a', 'proj-b', 'hil-provisioning']) assert.equal((await admin('PUT', `/v0/project/${p}`)).status, 200);
      alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['proj-a']));
      bob = t.as(await addUser(t, 'bob', 'bob-pw', false, ['proj-b']));
      const ok = async (r: Promise<{ status: number; text: string }>) => assert.equal((await r).status, 200, (await r).text);
      await mkSwitch(admin, 'sw0');
      await mkNodeWithNic(admin, { node: 'n1', macaddr: MAC, port: 'gi1/0/1' });
      // Admin-owned, and only a project without members may use it: no tenant can attach a NIC to it.
      await mkNetwork(admin, 'provisioning', 'admin', 'hil-provisioning');
      await mkNetwork(alice, 'net-a', 'proj-a');
      await mkNetwork(bob, 'net-b', 'proj-b');
      for (const [who, name, owner] of [[alice, 'os-a', 'proj-a'], [bob, 'os-b', 'proj-b']] as const) {
        await ok(who('PUT', `/v0/image/${name}`, { project: owner, cmdline: `console=ttyS0 marker=${name}` }));
        for (const [part, data] of [['kernel', kernel], ['initrd', initrd]] as const) {
          const r = await t.hil.app!.inject({ method: 'PUT', url: `/v0/image/${name}/${part}`, payload: name === 'os-a' ? data : Buffer.concat([data, otherBytes]), headers: { 'content-type': 'application/octet-stream', authorization: 'Basic ' + Buffer.from(owner === 'proj-a' ? 'alice:alice-pw' : 'bob:bob-pw').toString('base64') } });
          assert.equal(r.statusCode, 200, r.body);
        }
      }
    });
    after(async () => {
      await t?.close();
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('enrolls a free node: provisioning network, PXE by power cycle, one token per boot, wipe, ready', async () => {
      assertError(await alice('POST', '/v0/node/n1/reclaim'), 401, 'AuthorizationError');
      const r = await admin('POST', '/v0/node/n1/reclaim');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.state, 'booting-fpbl');
      // The tick may have cycled the node already (a loaded machine answers slowly): a script is served only after that.
      const early = await agent(`/fpbl/v1/boot.ipxe?mac=${MAC}`);
      if (early.status === 200) assert.deepEqual(bmc().powerEvents.slice(-2), ['off', 'on'], 'a boot script only after the power cycle');
      else assert.equal(early.status, 404, 'no boot script before the power cycle');
      // The early fetch, if it got the script, took this boot's token.
      const token = early.status === 200 ? /hil\.token=([0-9a-f]{64})/.exec(early.text)![1]! : await pxeToken();
      assert.deepEqual(await nicNetworks(), { 'vlan/native': 'provisioning' });
      assert.equal(bmc().bootDevice, 'pxe');
      assert.deepEqual(bmc().powerEvents.slice(-2), ['off', 'on']);
      assert.equal((await agent(`/fpbl/v1/boot.ipxe?mac=${MAC}`)).status, 404, 'a second fetch mints no second token');
      assert.equal((await agent('/fpbl/v1/boot.ipxe?mac=52:54:00:ff:ff:ff')).status, 404);
      assert.equal((await report('0'.repeat(64), 'fresh')).status, 401);
      assert.equal((await agent('/fpbl/v1/agent', { body: { state: 'fresh' } })).status, 401);
      await bootFpbl(token);
      const s = await status();
      assert.equal(s.path, 'power-cycle');
      assert.equal((await agent('/fpbl/v1/fpbl/vmlinuz')).text, 'FPBL kernel');
      fpblToken = token;
    });

    it('hands a ready node to a project that asks for any ready node, and back', async () => {
      const r = await alice('POST', '/v0/project/proj-a/connect_node', { ready: true });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body, { node: 'n1' });
      assertError(await bob('POST', '/v0/project/proj-b/connect_node', { ready: true }), 409, 'BlockedError', 'No free node is ready.');
      assertError(await alice('POST', '/v0/project/proj-a/connect_node', {}), 400, 'ValidationError');
      assertError(await alice('POST', '/v0/project/proj-a/connect_node', { node: 'n1', ready: true }), 400, 'ValidationError');
      // Held by the service, the node's networks are not the tenant's to change until it is deployed.
      assertError(await alice('POST', '/v0/node/n1/nic/eth0/detach_network', { network: 'provisioning' }), 409, 'BlockedError', /provisioning service holds/);
      assertError(await alice('POST', '/v0/node/n1/nic/eth0/connect_network', { network: 'net-a' }), 409, 'BlockedError', /provisioning service holds/);
      // A ready node goes back to the free pool with its FPBL still on the provisioning network.
      assert.equal((await alice('POST', '/v0/project/proj-a/detach_node', { node: 'n1' })).status, 200);
      assert.deepEqual(await nicNetworks(), { 'vlan/native': 'provisioning' });
      assert.equal((await alice('POST', '/v0/project/proj-a/connect_node', { ready: true })).status, 200);
    });

    it("fills a ready FPBL's cache with its project's images only, and serves those blobs to its token only", async () => {
      const fpbl = fpblToken;
      const mine = [sha(kernel), sha(initrd)].sort();
      const first = await report(fpbl, 'idle', { cached: '' });
      assert.equal(first.fields.command, 'cache', first.text);
      assert.deepEqual(first.fields.keep.split(',').sort(), mine);
      const one = first.fields.fetch_sha256;
      assert.ok(mine.includes(one), first.text);
      assert.equal(first.fields.fetch_url, `http://10.128.0.1/fpbl/v1/blob/${one}`);
      assert.equal(first.fields.fetch_size, String(one === sha(kernel) ? kernel.length : initrd.length));
      const blob = await agent(`/fpbl/v1/blob/${one}`, { token: fpbl });
      assert.equal(blob.status, 200);
      assert.equal(sha(Buffer.from(blob.text, 'latin1')), one);
      assert.equal((await agent(`/fpbl/v1/blob/${one}`)).status, 401);
      assert.equal((await agent(`/fpbl/v1/blob/${one}`, { token: 'f'.repeat(64) })).status, 401);
      assert.equal((await agent(`/fpbl/v1/blob/${sha(Buffer.concat([kernel, otherBytes]))}`, { token: fpbl })).status, 404, "another project's kernel");
      // Told what it holds, HIL names the other half; holding both and something else, only what to keep.
      const second = await report(fpbl, 'idle', { cached: one });
      assert.equal(second.fields.fetch_sha256, mine.find((h) => h !== one));
      const stale = 'e'.repeat(64);
      const third = await report(fpbl, 'idle', { cached: [...mine, stale].join(',') });
      assert.deepEqual(third.fields, { command: 'cache', keep: third.fields.keep }, 'nothing to fetch');
      assert.deepEqual(third.fields.keep.split(',').sort(), mine);
      // The budget takes whole images only (os-a is 3300 bytes).
      const nodeId = (await t.hil.store.db.selectFrom('node').select('id').where('label', '=', 'n1').executeTakeFirstOrThrow()).id;
      assert.deepEqual(await wantedBlobs(t.hil.store.db, nodeId, 3299), []);
      assert.deepEqual((await wantedBlobs(t.hil.store.db, nodeId, 3300)).map((b) => b.sha256).sort(), mine);
      assert.deepEqual(await wantedBlobs(t.hil.store.db, nodeId, 0), []);
      // Off the project, nothing is kept: the next project must not find this one's images in the node's RAM.
      assert.equal((await alice('POST', '/v0/project/proj-a/detach_node', { node: 'n1' })).status, 200);
      const gone = await report(fpbl, 'idle', { cached: mine.join(',') });
      assert.deepEqual(gone.fields, { command: 'cache', keep: '' });
      assert.equal((await agent(`/fpbl/v1/blob/${one}`, { token: fpbl })).status, 404, 'a node in no project fetches nothing');
      assert.equal((await alice('POST', '/v0/project/proj-a/connect_node', { node: 'n1' })).status, 200);
    });

    it('deploys: own payload only, checksums, networks moved before the kexec, FPBL token dead after', async () => {
      const fpbl = fpblToken;
      assertError(await alice('POST', '/v0/node/n1/deploy', { image: 'os-b' }), 404, 'NotFoundError');
      assertError(await alice('POST', '/v0/node/n1/deploy', { image: 'os-a', networks: { eth0: 'net-b' } }), 409, 'ProjectMismatchError');
      assertError(await alice('POST', '/v0/node/n1/deploy', { image: 'os-a', networks: { eth0: 'provisioning' } }), 400, 'BadArgumentError');
      assertError(await bob('POST', '/v0/node/n1/deploy', { image: 'os-b' }), 401, 'AuthorizationError');
      // No [exports.boot] here: a deploy with a disk is refused before any disk is made.
      assertError(await alice('POST', '/v0/node/n1/deploy', { image: 'os-a', disk: 'root-x' }), 501, 'NotImplementedError', /\[exports\.boot\]/);
      assert.equal((await alice('GET', '/v0/disk/root-x')).status, 404);
      assert.equal((await agent('/fpbl/v1/payload/kernel', { token: fpbl })).status, 404, 'no payload before a deploy');

      const r = await alice('POST', '/v0/node/n1/deploy', { image: 'os-a', networks: { eth0: 'net-a' } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.state, 'deploying');
      assertError(await alice('POST', '/v0/node/n1/deploy', { image: 'os-a' }), 409, 'BlockedError');

      const cmd = await nextCommand(fpbl);
      assert.equal(cmd.fields.command, 'deploy');
      // Loaded, it waits at once, naming this deploy; and it keeps only its project's images.
      assert.equal(cmd.fields.then, 'wait');
      assert.match(cmd.fields.deploy_id, /^\d+$/);
      assert.deepEqual(cmd.fields.keep.split(',').sort(), [sha(kernel), sha(initrd)].sort());
      assert.equal(cmd.fields.jump_url, undefined, 'no disk, no boot network to ask');
      assert.equal(cmd.fields.kernel_sha256, sha(kernel));
      assert.equal(cmd.fields.initrd_sha256, sha(initrd));
      assert.equal(cmd.fields.kernel_url, 'http://10.128.0.1/fpbl/v1/payload/kernel');
      assert.match(cmd.fields.cmdline, new RegExp(`^console=ttyS0 marker=os-a hil\\.url=http://10\\.128\\.0\\.1 hil\\.token=[0-9a-f]{64} hil\\.mac=${MAC} hil\\.ip=10\\.128\\.0\\.57/24$`));
      const returnToken = /hil\.token=([0-9a-f]{64})/.exec(cmd.fields.cmdline)![1];
      assert.notEqual(returnToken, fpbl);
      savedReturnToken = returnToken;

      assert.deepEqual(Buffer.from((await agent('/fpbl/v1/payload/kernel', { token: fpbl })).text, 'latin1'), kernel);
      assert.deepEqual(Buffer.from((await agent('/fpbl/v1/payload/initrd', { token: fpbl })).text, 'latin1'), initrd);
      assert.equal((await agent('/fpbl/v1/payload/kernel')).status, 401);
      assert.equal((await agent('/fpbl/v1/payload/kernel', { token: returnToken })).status, 401, 'the return token fetches no payload');

      // Loaded: HIL answers "wait" (with how fast to notice the move), and moves the NIC only once the agent reports again (it heard "wait").
      assert.deepEqual((await report(fpbl, 'loaded')).fields, { command: 'wait', report_timeout: '1', failures: '3', interval: '0.2' });
      await sleep(200);
      assert.deepEqual(await status().then((x) => [x.state, x.phase]), ['deploying', 'loaded']);
      assert.deepEqual(await nicNetworks(), { 'vlan/native': 'provisioning' }, 'nothing moved yet');
      // A retried report (its answer lost) is not proof that the agent heard "wait"; waiting=1 is.
      assert.equal((await report(fpbl, 'loaded')).fields.command, 'wait');
      await sleep(200);
      assert.deepEqual(await status().then((x) => [x.state, x.phase]), ['deploying', 'loaded']);
      assert.equal((await report(fpbl, 'loaded', { waiting: '1' })).fields.command, 'wait');
      await untilState('deployed', 'running');
      assert.deepEqual(await nicNetworks(), { 'vlan/native': 'net-a' });
      assert.equal((await report(fpbl, 'loaded')).status, 401, 'the FPBL is gone: its token with it');
      assert.equal((await status()).image, 'os-a');
      // Deployed, the networks are the tenant's again; releasing the node needs a reclaim first.
      assertError(await alice('POST', '/v0/project/proj-a/detach_node', { node: 'n1' }), 409, 'BlockedError', /reclaim it first/);
      assertError(await alice('DELETE', '/v0/image/os-a'), 409, 'BlockedError');
    });

    it('reclaims by kexec: NIC back on the provisioning network, the return agent gets the FPBL and a new token', async () => {
      const returnToken = savedReturnToken;
      const events = bmc().powerEvents.length;
      // While deployed the return agent cannot reach HIL; if it could, it would hear "none".
      const asked = await agent('/fpbl/v1/agent', { token: returnToken, body: { agent: 'return', state: 'running' } });
      assert.equal(asked.fields.command, 'none', `${JSON.stringify(asked)} in ${JSON.stringify(await status())}`);
      const r = await alice('POST', '/v0/node/n1/reclaim');
      assert.equal(r.status, 200, r.text);
      await untilState('reclaiming', 'returning');
      assert.deepEqual(await nicNetworks(), { 'vlan/native': 'provisioning' });
      const back = await agent('/fpbl/v1/agent', { token: returnToken, body: { agent: 'return', state: 'running', mac: MAC } });
      assert.equal(back.fields.command, 'return');
      assert.equal(back.fields.kernel_url, 'http://10.128.0.1/fpbl/v1/fpbl/vmlinuz');
      assert.equal(back.fields.kernel_sha256, sha('FPBL kernel'));
      assert.equal(back.fields.initrd_sha256, sha('FPBL initrd'));
      const first = /hil\.token=([0-9a-f]{64})/.exec(back.fields.cmdline)![1];
      // The OS says it jumps now: nothing changes (the FPBL it loaded keeps its token).
      assert.equal((await agent('/fpbl/v1/agent', { token: returnToken, body: { agent: 'return', state: 'returning', mac: MAC } })).fields.command, 'none');
      // An OS that could not load the FPBL asks again: a new FPBL token, the old one dead.
      const again = await agent('/fpbl/v1/agent', { token: returnToken, body: { agent: 'return', state: 'running', mac: MAC } });
      assert.equal(again.fields.command, 'return');
      const token = /hil\.token=([0-9a-f]{64})/.exec(again.fields.cmdline)![1];
      assert.notEqual(token, first);
      assert.equal((await report(first, 'fresh')).status, 401);
      await bootFpbl(token);
      assert.equal((await agent('/fpbl/v1/agent', { token: returnToken, body: { agent: 'return', state: 'running' } })).status, 401, 'the return token dies when the FPBL reports');
      const s = await status();
      assert.equal(s.path, 'kexec');
      assert.equal(bmc().powerEvents.length, events, 'no power event on the kexec path');
      fpblToken = token;
    });

    it('falls back to a power cycle when the customer OS does not come back, and says so', async () => {
      const fpbl = fpblToken;
      assert.equal((await alice('POST', '/v0/node/n1/deploy', { image: 'os-a', networks: { eth0: 'net-a' } })).status, 200);
      assert.equal((await nextCommand(fpbl)).fields.command, 'deploy');
      assert.equal((await report(fpbl, 'loaded')).fields.command, 'wait');
      assert.equal((await report(fpbl, 'loaded', { waiting: '1' })).fields.command, 'wait');
      await untilState('deployed');
      const events = bmc().powerEvents.length;
      assert.equal((await alice('POST', '/v0/node/n1/reclaim')).status, 200);
      // return_timeout_seconds = 1, and no return agent answers.
      const token = await pxeToken();
      assert.equal((await status()).path, 'power-cycle');
      assert.ok(bmc().powerEvents.length > events, 'the fallback power-cycled the node');
      await bootFpbl(token);
      fpblToken = token;
    });

    it('records why a deploy failed on the node, and a reclaim recovers', async () => {
      const fpbl = fpblToken;
      assert.equal((await alice('POST', '/v0/node/n1/deploy', { image: 'os-a' })).status, 200);
      assert.equal((await nextCommand(fpbl)).fields.command, 'deploy');
      void report(fpbl, 'failed', { error: 'kernel sha256 mismatch' }).catch(() => {});
      await untilState('error');
      assert.equal((await status()).error, 'the node could not load the image: kernel sha256 mismatch');
      assertError(await alice('POST', '/v0/node/n1/deploy', { image: 'os-a' }), 409, 'BlockedError', /is error/);
      assert.equal((await alice('POST', '/v0/node/n1/reclaim')).status, 200);
      await bootFpbl(await pxeToken());
    });
  });
}

for (const database of testDatabases()) {
  describe(`fast provisioning: deadlines and restarts (${database.name})`, { skip: database.skip }, () => {
    let db: FreshDb;
    let dir: string;
    let t: TestHil | undefined;
    const start = async () => {
      t = await startTestHil(db, {
        config: (c) => {
          c.provisioning = { ...c.provisioning, enabled: true, listen: `unix:${join(dir, 'fpbl.sock')}`, url: 'http://10.128.0.1', network: 'provisioning', fpbl_dir: dir, deploy_timeout_seconds: 1, tick_ms: 20 };
          c.images.dir = join(dir, 'blobs');
        },
      });
      return t.as();
    };
    const state = async (api: Caller) => {
      const r = await api('GET', '/v0/node/n1/provisioning');
      assert.equal(r.status, 200, r.text);
      return r.body as { state: string; phase: string; error: string | null };
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'hil-prov-restart-'));
      writeFileSync(join(dir, 'vmlinuz'), 'FPBL kernel');
      writeFileSync(join(dir, 'initrd.img'), 'FPBL initrd');
      db = await database.create();
    });
    after(async () => {
      await t?.close();
      await db?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a server restarted mid-enrollment carries on from the database, and a deploy nobody answers ends in error at its deadline', async () => {
      let api = await start();
      const ok = async (r: Promise<{ status: number; text: string }>) => assert.equal((await r).status, 200, (await r).text);
      await mkProject(api, 'p');
      await mkSwitch(api, 'sw0');
      await mkNodeWithNic(api, { node: 'n1', macaddr: MAC, port: 'gi1/0/1' });
      await mkNetwork(api, 'provisioning', 'admin', 'p');
      await ok(api('PUT', '/v0/image/os', { project: 'p', cmdline: '' }));
      for (const part of ['kernel', 'initrd']) {
        const r = await t!.hil.app!.inject({ method: 'PUT', url: `/v0/image/os/${part}`, payload: Buffer.from(part), headers: { 'content-type': 'application/octet-stream' } });
        assert.equal(r.statusCode, 200, r.body);
      }
      await ok(api('POST', '/v0/node/n1/reclaim'));
      const deadline = Date.now() + 10_000;
      while ((await state(api)).phase !== 'pxe') {
        assert.ok(Date.now() < deadline, JSON.stringify(await state(api)));
        await sleep(20);
      }
      await t!.close();
      t = undefined;

      // A new process on the same database: the node still waits for its PXE boot, and the protocol goes on.
      api = await start();
      assert.deepEqual(await state(api).then((s) => [s.state, s.phase]), ['booting-fpbl', 'pxe']);
      const socket = join(dir, 'fpbl.sock');
      const script = await agentCall(socket, 'GET', `/fpbl/v1/boot.ipxe?mac=${MAC}`);
      const token = /hil\.token=([0-9a-f]{64})/.exec(script.text)![1];
      assert.equal((await agentCall(socket, 'POST', '/fpbl/v1/agent', { token, body: { agent: 'fpbl', state: 'fresh' } })).fields.command, 'wipe');
      void agentCall(socket, 'POST', '/fpbl/v1/agent', { token, body: { agent: 'fpbl', state: 'wiped' } }).catch(() => {});
      while ((await state(api)).state !== 'ready') {
        assert.ok(Date.now() < deadline + 10_000, JSON.stringify(await state(api)));
        await sleep(20);
      }

      // deploy_timeout_seconds = 1, and no agent asks for the deploy.
      await ok(api('POST', '/v0/project/p/connect_node', { node: 'n1' }));
      await ok(api('POST', '/v0/node/n1/deploy', { image: 'os' }));
      await sleep(1500);
      const s = await state(api);
      assert.equal(s.state, 'error');
      assert.equal(s.error, 'deploying/loading took longer than allowed');
    });
  });
}
