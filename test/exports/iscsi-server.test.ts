/**
 * One iSCSI export server, for real: a qemu-storage-daemon showing a local
 * qcow2 disk as a FUSE file and a tgtd serving it, read and written by
 * qemu-io's libiscsi initiator as the node would, with its initiator name
 * and CHAP secret.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localBackend, type LocalBackend } from '../../src/drivers/storage/local.ts';
import { IscsiServer, type IscsiExportSpec } from '../../src/exports/iscsi-server.ts';
import { targetIqn } from '../../src/disks/export-names.ts';
import { mountsUnder } from '../../src/exports/storage-daemon.ts';
import { ioBlockdev, ioIscsi, qemuIoSkipReason } from '../support/qemu-io.ts';
import { skipUnless } from '../support/require.ts';
import { iscsiExportSkipReason } from '../support/disks.ts';
import { until } from '../support/processes.ts';
import { makeGolden } from '../support/storage-contract.ts';

async function listen(port = 0): Promise<Server> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
  return s;
}

async function freePort(): Promise<number> {
  const s = await listen();
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Processes whose command line or environment holds `text`, as "<pid> <file>" (root reads every process's). */
function processesShowing(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^[0-9]+$/.test(d))) {
    for (const file of ['cmdline', 'environ']) {
      try {
        if (readFileSync(`/proc/${pid}/${file}`).includes(text)) found.push(`${pid} ${file}`);
      } catch {
        // gone meanwhile
      }
    }
  }
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function skipReason(): string | undefined {
  return iscsiExportSkipReason() ?? qemuIoSkipReason();
}

describe('target names', () => {
  it('keep an id-made name as it is and spell any other in hex, so that two names never share a target name', () => {
    assert.equal(targetIqn('hil-0a1b.disk.3'), 'iqn.2026-12.org.hil:hil-0a1b.disk.3');
    assert.equal(targetIqn('A_b'), 'iqn.2026-12.org.hil:x:415f62');
    assert.notEqual(targetIqn('a_b'), targetIqn('A_b'));
  });
});

describe('an iSCSI export server', { skip: skipUnless(skipReason()) }, () => {
  let dir: string;
  let backend: LocalBackend;
  const signal = () => AbortSignal.timeout(30_000);
  const node1 = { initiator: 'iqn.2026-12.org.example:node1', user: 'node1', secret: randomBytes(16).toString('hex') };
  const node2 = { initiator: 'iqn.2026-12.org.example:node2', user: 'node2', secret: randomBytes(16).toString('hex') };
  let server: IscsiServer;
  let spec: IscsiExportSpec;
  /** Where the secret was seen while the server started and ran. */
  const seen = new Set<string>();
  const as = (n: typeof node1, o: { initiator?: string; chap?: false; secret?: string } = {}) => ({
    portal: `127.0.0.1:${spec.port}`,
    iqn: server.iqn,
    initiator: o.initiator ?? n.initiator,
    chap: o.chap === false ? undefined : { user: n.user, secret: o.secret ?? n.secret },
  });
  const watch = async <T>(work: () => Promise<T>): Promise<T> => {
    const timer = setInterval(() => processesShowing(node1.secret).forEach((s) => seen.add(s)), 1);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hil-iscsi-'));
    backend = localBackend({ dir: join(dir, 'disks'), timeoutMs: 30_000 });
    await backend.importImage('p.img.1', { path: makeGolden(dir), format: 'qcow2' }, signal());
    await backend.cloneDisk('p.img.1', 'p.disk.1', signal());
    await backend.cloneDisk('p.img.1', 'p.disk.2', signal());
    spec = { name: 'p.disk.1', blockdev: await backend.diskBlockdev('p.disk.1'), address: '127.0.0.1', port: await freePort(), ...node1, runDir: join(dir, 'run') };
    server = await watch(() => IscsiServer.start(spec, signal()));
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the disk to its node's initiator with its CHAP secret, and to nobody else", () => {
    const r = ioIscsi(as(node1), ['read -P 0x41 0 1M', 'read -P 0x42 1M 1M', 'write -P 0x11 0 1M', 'read -P 0x11 0 1M']);
    assert.ok(r.ok, r.output);
    const wrongSecret = ioIscsi(as(node1, { secret: node2.secret }), ['read 0 1M']);
    assert.ok(!wrongSecret.ok && /Authentication failure/i.test(wrongSecret.output), wrongSecret.output);
    const noChap = ioIscsi(as(node1, { chap: false }), ['read 0 1M']);
    assert.ok(!noChap.ok && /Authentication failure/i.test(noChap.output), noChap.output);
    const otherInitiator = ioIscsi(as(node1, { initiator: node2.initiator }), ['read 0 1M']);
    assert.ok(!otherInitiator.ok && /not found/i.test(otherInitiator.output), `the right secret from another initiator name: ${otherInitiator.output}`);
    const otherNode = ioIscsi(as(node2, { initiator: node1.initiator }), ['read 0 1M']);
    assert.ok(!otherNode.ok, `another account: ${otherNode.output}`);
  });

  it("never shows the CHAP secret in a process's arguments or environment", async () => {
    const marker = randomBytes(16).toString('hex');
    const control = spawn('sh', ['-c', 'sleep 10', marker]);
    await new Promise((r) => control.once('spawn', r));
    try {
      assert.deepEqual(processesShowing(marker), [`${control.pid} cmdline`], 'the check sees what is on a command line');
    } finally {
      control.kill('SIGKILL');
    }
    processesShowing(node1.secret).forEach((s) => seen.add(s));
    assert.deepEqual([...seen], []);
    assert.ok(!server.said.includes(node1.secret));
  });

  it('a second server cannot open the disk while the first has it, and leaves nothing behind', async () => {
    const runDir = join(dir, 'run2');
    await assert.rejects(IscsiServer.start({ ...spec, port: await freePort(), runDir }, signal()), /qemu-storage-daemon did not start: .*lock/i);
    assert.ok(!existsSync(join(runDir, spec.name)));
    assert.deepEqual(processesShowing(runDir), []);
  });

  it("fails with tgtd's words when its port is taken, and leaves nothing behind", async () => {
    const taken = await listen(await freePort());
    const runDir = join(dir, 'run3');
    try {
      const port = (taken.address() as { port: number }).port;
      await assert.rejects(IscsiServer.start({ ...spec, name: 'p.disk.2', blockdev: await backend.diskBlockdev('p.disk.2'), port, runDir }, signal()), /tgtd could not listen on .*Address already in use/);
    } finally {
      await new Promise((r) => taken.close(r));
    }
    assert.ok(!existsSync(join(runDir, 'p.disk.2')));
    assert.deepEqual(await mountsUnder(runDir), []);
    assert.deepEqual(processesShowing(runDir), []);
  });

  it('snapshots the disk while it is served: the snapshot has what was written, later writes stay on the disk', async () => {
    await backend.snapshotDisk('p.disk.1', 'p.img.2', { live: server, signal: signal() });
    {
      const r = ioIscsi(as(node1), ['read -P 0x11 0 1M', 'write -P 0x55 0 1M']);
      assert.ok(r.ok, r.output);
    }
    await backend.cloneDisk('p.img.2', 'p.disk.3', signal());
    assert.ok(ioBlockdev(await backend.diskBlockdev('p.disk.3'), ['read -P 0x11 0 1M', 'read -P 0x42 1M 1M']).ok, 'a clone of the snapshot has the data of the moment');
    await server.stop();
    const blockdev = await backend.diskBlockdev('p.disk.1');
    server = await watch(() => IscsiServer.start({ ...spec, blockdev }, signal()));
    const r = ioIscsi(as(node1), ['read -P 0x55 0 1M']);
    assert.ok(r.ok, `a restarted server opens the disk on top of the snapshot: ${r.output}`);
  });

  it('when one daemon dies, takes the other down too, so that the export can start again', async () => {
    const [tgtd, storage] = server.pids;
    process.kill(tgtd, 'SIGKILL');
    await server.exited;
    assert.ok(!alive(storage), 'the storage daemon went with tgtd (its image lock is free)');
    assert.deepEqual(await mountsUnder(spec.runDir), []);
    const blockdev = await backend.diskBlockdev('p.disk.1');
    server = await IscsiServer.start({ ...spec, blockdev }, signal());
    process.kill(server.pids[1], 'SIGKILL');
    await server.exited;
    assert.ok(!alive(server.pids[0]), 'tgtd went with the storage daemon (its port is free)');
    server = await IscsiServer.start({ ...spec, blockdev }, signal());
    assert.ok(ioIscsi(as(node1), ['read -P 0x55 0 1M']).ok);
  });

  it('starts over what a dead predecessor left in its run directory (a dead FUSE mount, sockets)', async () => {
    await server.stop();
    // This process's daemons die with it: to leave what they would, make a FUSE mount there by hand and kill its daemon.
    const leftover = join(spec.runDir, spec.name);
    mkdirSync(leftover, { recursive: true, mode: 0o700 });
    writeFileSync(join(leftover, 'disk'), '');
    writeFileSync(join(leftover, 'tgtd.0.lock'), '');
    const blockdev = await backend.diskBlockdev('p.disk.1');
    const qsd = spawn('setpriv', ['--pdeathsig', 'SIGKILL', 'qemu-storage-daemon', '--blockdev', JSON.stringify({ ...blockdev, 'node-name': 'disk' }), '--export', `type=fuse,id=e0,node-name=disk,mountpoint=${join(leftover, 'disk')},writable=on`]);
    await until('the FUSE export to be mounted', async () => (await mountsUnder(leftover)).length > 0);
    qsd.kill('SIGKILL');
    await new Promise((r) => qsd.once('close', r));
    assert.deepEqual(await mountsUnder(leftover), [join(realpathSync(leftover), 'disk')], 'a killed daemon leaves its FUSE mount');
    server = await IscsiServer.start({ ...spec, blockdev }, signal());
    assert.ok(ioIscsi(as(node1), ['read -P 0x55 0 1M']).ok);
  });

  it('stop leaves no process, socket or mount behind', async () => {
    const pids = server.pids;
    assert.equal(pids.length, 2);
    await server.stop();
    assert.ok(!server.running);
    assert.deepEqual(pids.filter(alive), []);
    assert.deepEqual(processesShowing(spec.runDir), []);
    assert.deepEqual(await mountsUnder(spec.runDir), []);
    assert.deepEqual(readdirSync(spec.runDir), []);
  });
});
