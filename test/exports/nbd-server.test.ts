/**
 * One export server, for real: qemu-storage-daemon serving a local qcow2
 * disk over NBD with TLS-PSK, read and written by qemu-io as the node would.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localBackend, type LocalBackend } from '../../src/drivers/storage/local.ts';
import { NbdServer } from '../../src/exports/nbd-server.ts';
import { freePort } from '../../src/lab/system.ts';
import { ioBlockdev, ioNbd, qemuIoSkipReason } from '../support/qemu-io.ts';
import { skipUnless } from '../support/require.ts';
import { makeGolden } from '../support/storage-contract.ts';
import { spawnSync } from 'node:child_process';

const missing = qemuIoSkipReason() ?? (spawnSync('qemu-storage-daemon', ['--version']).status === 0 ? undefined : 'qemu-storage-daemon is not installed (apt-get install qemu-system-common)');

describe('an NBD export server', { skip: skipUnless(missing) }, () => {
  let dir: string;
  let backend: LocalBackend;
  const signal = () => AbortSignal.timeout(30_000);
  const node1 = { identity: 'n1', key: randomBytes(32).toString('hex') };
  const node2 = { identity: 'n2', key: randomBytes(32).toString('hex') };
  let server: NbdServer;
  let target: { host: string; port: number; export: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hil-nbd-'));
    backend = localBackend({ dir: join(dir, 'disks'), timeoutMs: 30_000 });
    await backend.importImage('p.img.1', { path: makeGolden(dir), format: 'qcow2' }, signal());
    await backend.cloneDisk('p.img.1', 'p.disk.1', signal());
    const port = await freePort();
    target = { host: '127.0.0.1', port, export: 'p.disk.1' };
    server = await NbdServer.start({ name: 'p.disk.1', blockdev: await backend.diskBlockdev('p.disk.1'), address: '127.0.0.1', port, ...{ identity: node1.identity, psk: node1.key }, runDir: join(dir, 'run') }, signal());
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves the disk to its node's key and to nobody else", () => {
    assert.ok(ioNbd({ ...target, ...node1 }, ['read -P 0x41 0 1M', 'write -P 0x11 0 1M', 'read -P 0x11 0 1M']).ok);
    const other = ioNbd({ ...target, ...node2 }, ['read 0 1M']);
    assert.ok(!other.ok && /TLS|handshake/i.test(other.output), other.output);
    const wrongKey = ioNbd({ ...target, identity: node1.identity, key: node2.key }, ['read 0 1M']);
    assert.ok(!wrongKey.ok, wrongKey.output);
    const wrongName = ioNbd({ ...target, export: 'p.disk.2', ...node1 }, ['read 0 1M']);
    assert.ok(!wrongName.ok, wrongName.output);
  });

  it('a second server cannot open the disk while the first has it', async () => {
    const port = await freePort();
    await assert.rejects(
      NbdServer.start({ name: 'p.disk.1', blockdev: await backend.diskBlockdev('p.disk.1'), address: '127.0.0.1', port, identity: 'x', psk: node2.key, runDir: join(dir, 'run2') }, signal()),
      /lock/i,
    );
  });

  it('a push whose outcome is unknown stops the export, and nothing the node wrote is lost', async () => {
    assert.ok(ioNbd({ ...target, ...node1 }, ['write -P 0x66 2M 1M']).ok);
    const live = { pushOverlay: async () => Promise.reject(new Error('QMP went away')), stop: () => server.stop() };
    await backend.snapshotDisk('p.disk.1', 'p.img.9', { live, signal: signal() });
    assert.equal(server.running, false, 'the export stopped');
    server = await NbdServer.start({ ...server.spec, blockdev: await backend.diskBlockdev('p.disk.1') }, signal());
    assert.ok(ioNbd({ ...target, ...node1 }, ['read -P 0x66 2M 1M', 'read -P 0x11 0 1M']).ok, 'the disk has every write, on top of the snapshot');
    await backend.cloneDisk('p.img.9', 'p.disk.9', signal());
    assert.ok(ioBlockdev(await backend.diskBlockdev('p.disk.9'), ['read -P 0x66 2M 1M']).ok, 'the snapshot has them too');
  });

  it('snapshots the disk while it is served: the snapshot has what was written, later writes stay on the disk', async () => {
    await backend.snapshotDisk('p.disk.1', 'p.img.2', { live: server, signal: signal() });
    { const r = ioNbd({ ...target, ...node1 }, ['read -P 0x11 0 1M', 'write -P 0x55 0 1M']); assert.ok(r.ok, r.output); }
    await backend.cloneDisk('p.img.2', 'p.disk.3', signal());
    assert.ok(ioBlockdev(await backend.diskBlockdev('p.disk.3'), ['read -P 0x11 0 1M', 'read -P 0x42 1M 1M']).ok, 'a clone of the snapshot has the data of the moment');
    await server.stop();
    server = await NbdServer.start({ ...server.spec, blockdev: await backend.diskBlockdev('p.disk.1') }, signal());
    assert.ok(ioNbd({ ...target, ...node1 }, ['read -P 0x55 0 1M']).ok, 'a restarted server opens the disk on top of the snapshot');
  });
});
