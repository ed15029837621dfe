/**
 * The diskless example image, booted for real: `hil-admin fpbl example-image
 * --disk` builds it, the local backend clones its disk image twice, each
 * clone is served by an iSCSI export server (qemu-storage-daemon and tgtd,
 * CHAP for one node), and QEMU boots its kernel and initramfs with user-mode
 * networking (10.0.2.2 is this host's loopback, where the exports listen).
 * The initramfs logs in, mounts the root filesystem from the LUN and
 * switches to it. Each clone keeps its own state across boots, and a wrong
 * CHAP secret gets no root filesystem.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localBackend, type LocalBackend } from '../../src/drivers/storage/local.ts';
import { IscsiServer } from '../../src/exports/iscsi-server.ts';
import { findKernels } from '../../src/initramfs/kernel.ts';
import { freePort } from '../../src/lab/system.ts';
import { HIL_ADMIN } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';
import { iscsiExportSkipReason } from '../support/disks.ts';

function skipReason(): string | undefined {
  const exports = iscsiExportSkipReason();
  if (exports) return exports;
  if (spawnSync('qemu-system-x86_64', ['--version']).status !== 0) return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
  if (!existsSync('/usr/sbin/iscsistart')) return 'iscsistart is not installed (apt-get install open-iscsi)';
  if (!existsSync('/bin/busybox')) return 'busybox is not installed (apt-get install busybox-static)';
  if (!findKernels().length) return 'no kernel with modules in /boot (apt-get install linux-image-amd64)';
  return undefined;
}

interface Node {
  initiator: string;
  user: string;
  secret: string;
}

const MARKER = 'DISKLESS-EXAMPLE';

describe('the diskless example image', { skip: skipUnless(skipReason()) }, () => {
  let dir: string;
  let image: string;
  let backend: LocalBackend;
  const servers: IscsiServer[] = [];
  const signal = () => AbortSignal.timeout(60_000);
  const node1: Node = { initiator: 'iqn.2026-12.org.example:node1', user: 'node1', secret: 'Zq4mW8rT2kLp9sXv' };
  const node2: Node = { initiator: 'iqn.2026-12.org.example:node2', user: 'node2', secret: 'Hn3cJ7yB5fDg1wQe' };

  async function serve(disk: string, node: Node): Promise<IscsiServer> {
    const server = await IscsiServer.start(
      { name: disk, blockdev: await backend.diskBlockdev(disk), address: '127.0.0.1', port: await freePort(), ...node, runDir: join(dir, 'run') },
      signal(),
    );
    servers.push(server);
    return server;
  }

  /** Boots the image against `server` as `node` until its console shows `done`; answers the console. */
  async function boot(server: IscsiServer, node: Node, done: RegExp): Promise<string> {
    const log = join(dir, `console-${Date.now()}-${Math.random().toString(16).slice(2)}.log`);
    const netroot = `iscsi:${node.user}:${node.secret}@10.0.2.2:tcp:${server.spec.port}:1:${server.iqn}`;
    const append = `${readFileSync(join(image, 'cmdline'), 'utf8').trim()} rd.iscsi.initiator=${node.initiator} netroot=${netroot}`;
    const qemu = spawn(
      'qemu-system-x86_64',
      ['-accel', 'tcg', '-m', '384', '-display', 'none', '-no-reboot', '-kernel', join(image, 'vmlinuz'), '-initrd', join(image, 'initrd.img'), '-append', append, '-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0', '-serial', `file:${log}`],
      { stdio: 'ignore' },
    );
    const exited = new Promise<void>((resolve) => qemu.once('exit', () => resolve()));
    const text = () => (existsSync(log) ? readFileSync(log, 'latin1') : '');
    try {
      const deadline = Date.now() + 120_000;
      while (!done.test(text())) {
        if (Date.now() > deadline || qemu.exitCode !== null) throw new Error(`the node never printed ${done}; its console:\n${text().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      return text();
    } finally {
      qemu.kill('SIGKILL');
      await exited;
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hil-diskless-'));
    image = join(dir, 'image');
    const built = spawnSync(HIL_ADMIN, ['fpbl', 'example-image', '--disk', '--marker', MARKER, '--out', image], { encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    assert.match(built.stdout, /wrote .*disk\.qcow2/);
    backend = localBackend({ dir: join(dir, 'disks'), timeoutMs: 60_000 });
    await backend.importImage('t.img.1', { path: join(image, 'disk.qcow2'), format: 'qcow2' }, signal());
    await backend.cloneDisk('t.img.1', 't.disk.1', signal());
    await backend.cloneDisk('t.img.1', 't.disk.2', signal());
  });

  after(async () => {
    for (const s of servers) await s.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('boots with its root filesystem on its iSCSI disk, and finds its own state there on the next boot', { timeout: 300_000 }, async () => {
    const server = await serve('t.disk.1', node1);
    const first = await boot(server, node1, /hil-example: ready/);
    assert.match(first, /hil-netroot: root filesystem \/dev\/sda mounted from 10\.0\.2\.2/);
    const booted = new RegExp(`hil-example: ${MARKER} booted from its network disk boot_id=(\\S+) root=/dev/sda`).exec(first);
    assert.ok(booted, first.slice(-2000));
    assert.match(first, /hil-example: state before: \r?\n/, 'a fresh clone has no state');
    const read = Number(/hil-example: read (\d+) KiB of its disk/.exec(first)?.[1]);
    assert.ok(read > 0 && read < 32 * 1024, `read ${read} KiB of a 32 MiB disk`);
    assert.doesNotMatch(first, new RegExp(node1.secret), 'quiet: the kernel does not print the command line, with its CHAP secret, on the console');

    const second = await boot(server, node1, /hil-example: ready/);
    const before = /hil-example: state before: ([^\r\n]*)/.exec(second)?.[1];
    assert.equal(before?.trim(), `${MARKER}:${booted[1]}`, 'the first boot wrote to the network disk, and it stayed');
  });

  it("another clone of the same image is another disk: the second node does not see the first's state", { timeout: 300_000 }, async () => {
    const server = await serve('t.disk.2', node2);
    const text = await boot(server, node2, /hil-example: ready/);
    assert.match(text, /hil-example: state before: \r?\n/);
  });

  it('a node with the wrong CHAP secret gets no root filesystem', { timeout: 300_000 }, async () => {
    const server = servers[0]!; // t.disk.1, node1's
    const text = await boot(server, { ...node1, secret: node2.secret }, /cannot reach the root filesystem/);
    assert.match(text, /hil-netroot: iSCSI login failed/);
    assert.doesNotMatch(text, /hil-example: .* booted/);
  });
});
