/**
 * `hil-lab down` finds everything again from lab.json alone: after `up` was
 * killed half-way, and after a node's QEMU was left running. Real daemons,
 * no QEMU boot (nodes are powered on only to leave a process behind).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingSummary } from '../../src/lab/doctor.ts';
import { down, hostLinks, readState, up } from '../../src/lab/lab.ts';
import { Chassis } from '../../src/lab/chassis-control.ts';
import { alive, processesMentioning, startDaemon } from '../../src/lab/system.ts';
import { HIL_ADMIN, REPO, start, until } from '../support/processes.ts';
import { HilClient } from '../../src/client/index.ts';
import { skipUnless } from '../support/require.ts';
import { freePort } from '../../src/lab/system.ts';

const netns = () => (existsSync('/run/netns') ? readdirSync('/run/netns') : []);

function assertGone(dir: string, id: string): void {
  assert.deepEqual(processesMentioning(dir), []);
  assert.deepEqual(netns().filter((n) => n.includes(id)), []);
  assert.deepEqual(hostLinks(`hl${id}`), []);
  assert.equal(existsSync(dir), false);
}

describe('hil-lab down', { skip: skipUnless(missingSummary()) }, () => {
  it('cleans up after an up that was killed half-way', { timeout: 60_000 }, async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'hil-lab-crash-')), 'lab');
    try {
      const upProc = spawn(`${REPO}bin/hil-lab`, ['up', '--no-register', '--nodes', '3', '--dir', dir], { stdio: 'ignore' });
      // Killed once the switch runs and the BMCs are being started.
      await until('up to reach the BMCs', async () => existsSync(join(dir, 'nodes', 'node1', 'ipmi_sim.pid')), 30_000);
      upProc.kill('SIGKILL');
      await new Promise((r) => upProc.once('exit', r));
      const state = readState(dir)!;
      assert.equal(state.phase, 'starting');
      assert.ok(processesMentioning(dir).length >= 3, 'ovsdb-server, ovs-vswitchd, dnsmasq, … are left running');

      const r = spawnSync(`${REPO}bin/hil-lab`, ['down', '--dir', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assertGone(dir, state.spec.id);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it('stops a powered-on node, and refuses to build over a lab', { timeout: 60_000 }, async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'hil-lab-down-')), 'lab');
    try {
      const { layout } = await up({ dir, nodes: 1, nics: 1 });
      await assert.rejects(up({ dir }), /already holds a lab/);
      const chassis = new Chassis(layout.nodes[0].dir);
      await chassis.set('power', '1'); // boots from "disk": there is none, so it just sits there
      const qemu = chassis.qemuPid();
      assert.ok(qemu);
      assert.equal(chassis.get('power'), '1');
      const report = down(dir);
      assert.ok(report.processes >= 6, JSON.stringify(report)); // OVS ×2, dnsmasq, boot server, relay, BMC, QEMU
      assert.deepEqual(report.namespaces.sort(), [layout.provisioningNetns, layout.switchNetns].sort());
      assertGone(dir, layout.spec.id);
      assert.deepEqual(down(dir), { processes: 0, namespaces: [], links: [] }, 'down twice is harmless');
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it('stops a daemon whose PID file was never written (up killed between the spawn and the file)', { timeout: 60_000 }, async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'hil-lab-nopid-')), 'lab');
    try {
      const { layout } = await up({ dir, nodes: 1, nics: 1 });
      // A daemon as up starts them, then its PID file gone: what a kill right after the spawn leaves.
      const pidFile = join(dir, 'nodes', 'node1', 'orphan.pid');
      const pid = startDaemon('sleep', ['600'], { pidFile, logFile: join(dir, 'orphan.log') });
      rmSync(pidFile);
      assert.ok(alive(pid));
      assert.ok(!processesMentioning(dir).some((p) => p.pid === pid), 'nothing on its command line names the lab');
      down(dir);
      assert.equal(alive(pid), false, 'down found it by its environment');
      assertGone(dir, layout.spec.id);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  // A wrapper's command line names the directory too: `down` must end only
  // what the lab started, never the processes that started it.
  it('exits 0 and leaves nothing under timeout, which names the directory', { timeout: 60_000 }, async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'hil-lab-timeout-')), 'lab');
    try {
      const { layout } = await up({ dir, nodes: 1, nics: 1 });
      const r = spawnSync('timeout', ['60', `${REPO}bin/hil-lab`, 'down', '--dir', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.signal ?? ''} ${r.stdout} ${r.stderr}`);
      assert.match(r.stdout, /stopped [5-9] processes; removed namespaces: hil-lab-\w+-sw hil-lab-\w+-pxe/);
      assertGone(dir, layout.spec.id);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it("exits 0 under bash -c '… --dir D …', stops a node whose PID file is gone, and spares other processes naming D", { timeout: 60_000 }, async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'hil-lab-bash-')), 'lab');
    // Not started by the lab, not an ancestor of down: it names the directory and must survive.
    const bystander = spawn('sh', ['-c', `sleep 120; : ${dir}`], { stdio: 'ignore' });
    try {
      const { layout } = await up({ dir, nodes: 1, nics: 1 });
      const chassis = new Chassis(layout.nodes[0].dir);
      await chassis.set('power', '1');
      const qemu = chassis.qemuPid()!;
      assert.ok(qemu);
      // Only the lab's namespace still tells that this QEMU is the lab's.
      rmSync(join(layout.nodes[0].dir, 'qemu.pid'));
      // Two commands, so that bash stays and waits for down rather than exec'ing it.
      const r = spawnSync('bash', ['-c', `'${REPO}bin/hil-lab' down --dir '${dir}'; echo "down exited $?"`], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.signal ?? ''} ${r.stdout} ${r.stderr}`);
      assert.match(r.stdout, /down exited 0/);
      assert.equal(alive(qemu), false, 'the QEMU is stopped');
      assert.equal(bystander.exitCode, null, 'the bystander runs on');
      assert.deepEqual(processesMentioning(dir).map((p) => p.pid), [bystander.pid]);
      bystander.kill();
      await new Promise((r) => bystander.once('exit', r));
      assertGone(dir, layout.spec.id);
    } finally {
      bystander.kill('SIGKILL');
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it('says what to do when HIL is not there to register into', { timeout: 60_000 }, () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'hil-lab-noreg-')), 'lab');
    try {
      const env = { ...process.env };
      delete env.HIL_ENDPOINT;
      const unset = spawnSync(`${REPO}bin/hil-lab`, ['up', '--dir', dir], { encoding: 'utf8', env });
      assert.equal(unset.status, 1);
      assert.match(unset.stderr, /HIL_ENDPOINT is not set.*--no-register/s);
      assert.equal(existsSync(dir), false, 'nothing is built');

      // Nothing listens on port 9 (discard) of loopback.
      const r = spawnSync(`${REPO}bin/hil-lab`, ['up', '--nodes', '1', '--dir', dir], { encoding: 'utf8', env: { ...env, HIL_ENDPOINT: 'http://127.0.0.1:9', HIL_USERNAME: 'admin', HIL_PASSWORD: 'x' } });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /the lab is up, but registering it failed/);
      assert.match(r.stderr, new RegExp(`hil-lab register --dir ${dir}`));
      const id = readState(dir)!.spec.id;
      assert.equal(spawnSync(`${REPO}bin/hil-lab`, ['down', '--dir', dir]).status, 0);
      assertGone(dir, id);
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it('takes the lab out of HIL again, except what a project holds (unregister, down --unregister)', { timeout: 90_000 }, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'hil-lab-unreg-'));
    const dir = join(tmp, 'lab');
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const server = start(HIL_ADMIN, ['serve', '--migrate'], { HIL_DATA_DIR: tmp, HIL_LISTEN: `127.0.0.1:${port}`, HIL_ADMIN_PASSWORD: 'pw' });
    const env = { ...process.env, HIL_ENDPOINT: endpoint, HIL_USERNAME: 'admin', HIL_PASSWORD: 'pw' };
    const lab = (...args: string[]) => spawnSync(`${REPO}bin/hil-lab`, [...args, '--dir', dir], { encoding: 'utf8', env });
    try {
      await server.waitFor('hil API server listening', 30_000);
      assert.equal(lab('up', '--nodes', '2', '--nics', '1').status, 0);
      const admin = new HilClient({ endpoint, username: 'admin', password: 'pw' });
      await admin.project.create('p');
      await admin.project.connectNode('p', 'lab-node1');

      const partial = lab('unregister');
      assert.equal(partial.status, 1, 'something was left');
      assert.match(partial.stderr, /left in HIL: lab-node1: in project p/);
      assert.match(partial.stderr, /left in HIL: lab-switch:/, 'its port keeps the switch');
      assert.deepEqual(await admin.node.list('all'), ['lab-node1']);
      assert.deepEqual(Object.keys(await admin.network.list()), []);

      await admin.node.disableObm('lab-node1'); // HIL will not let a node with an enabled BMC leave a project
      await admin.project.detachNode('p', 'lab-node1');
      const id = readState(dir)!.spec.id;
      const all = lab('down', '--unregister');
      assert.equal(all.status, 0, all.stderr);
      assert.deepEqual(await admin.node.list('all'), []);
      assert.deepEqual(await admin.switch.list(), []);
      assertGone(dir, id);
    } finally {
      if (existsSync(dir)) lab('down');
      await server.kill();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

