/**
 * The guest's initramfs pieces: the cpio writer (checked by an independent
 * reader, busybox's cpio) and the module dependency order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpioNewc } from '../../src/initramfs/cpio.ts';
import { BUSYBOX, resolveModules } from '../../src/initramfs/kernel.ts';
import { ipxeScript } from '../../src/lab/guest.ts';
import { findBinary } from '../../src/lab/system.ts';
import { skipUnless } from '../support/require.ts';

describe('cpio newc writer', { skip: skipUnless(findBinary('busybox') || statSafe(BUSYBOX) ? undefined : 'busybox is missing (apt-get install busybox-static)') }, () => {
  it('writes an archive that busybox cpio lists and extracts byte for byte', () => {
    const odd = Buffer.from(Array.from({ length: 1001 }, (_, i) => i % 256)); // not a multiple of 4
    const archive = cpioNewc([
      { kind: 'dir', path: 'etc' },
      { kind: 'file', path: 'etc/motd', data: 'hello\n', mode: 0o600 },
      { kind: 'file', path: '/init', data: odd, mode: 0o755 },
      { kind: 'symlink', path: 'sh', target: 'bin/busybox' },
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'hil-cpio-'));
    try {
      const list = spawnSync(BUSYBOX, ['cpio', '-t'], { input: archive, encoding: 'utf8' });
      assert.equal(list.status, 0, list.stderr);
      assert.deepEqual(list.stdout.trim().split('\n'), ['etc', 'etc/motd', 'init', 'sh']);
      const x = spawnSync(BUSYBOX, ['cpio', '-idm'], { input: archive, cwd: dir, encoding: 'utf8' });
      assert.equal(x.status, 0, x.stderr);
      assert.equal(readFileSync(join(dir, 'etc/motd'), 'utf8'), 'hello\n');
      assert.equal(statSync(join(dir, 'etc/motd')).mode & 0o777, 0o600);
      assert.deepEqual(readFileSync(join(dir, 'init')), odd);
      assert.equal(statSync(join(dir, 'init')).mode & 0o777, 0o755);
      assert.equal(readlinkSync(join(dir, 'sh')), 'bin/busybox');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function statSafe(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

describe('kernel modules for the guest', () => {
  const dep = [
    'kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko',
    'kernel/net/core/failover.ko:',
    'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
    'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/virtio/virtio_ring.ko:',
    'kernel/drivers/net/ethernet/intel/e1000-x.ko.xz:',
  ].join('\n');

  it('orders every module after its dependencies, each once', () => {
    const order = resolveModules(dep, ['virtio_pci', 'virtio_net']);
    assert.equal(new Set(order).size, order.length);
    const at = (m: string) => order.findIndex((f) => f.endsWith(`/${m}.ko`));
    for (const [mod, needs] of [
      ['virtio_pci', ['virtio_pci_modern_dev', 'virtio', 'virtio_ring']],
      ['virtio_net', ['net_failover', 'failover', 'virtio', 'virtio_ring']],
      ['virtio', ['virtio_ring']],
      ['net_failover', ['failover']],
    ] as const) {
      for (const n of needs) assert.ok(at(n) >= 0 && at(n) < at(mod), `${n} before ${mod} in ${order.join(' ')}`);
    }
  });

  it('finds compressed modules by their name with dashes as underscores, and ignores built-in ones', () => {
    assert.deepEqual(resolveModules(dep, ['e1000_x', 'not_a_module']), ['kernel/drivers/net/ethernet/intel/e1000-x.ko.xz']);
  });
});

describe('iPXE script', () => {
  it('boots the lab kernel with the booting NIC as BOOTIF and the report URL', () => {
    const s = ipxeScript();
    assert.match(s, /^#!ipxe\n/);
    assert.match(s, /kernel http:\/\/10\.128\.0\.1\/vmlinuz .*BOOTIF=01-\$\{netX\/mac:hexhyp\}/);
    assert.match(s, /hil_lab\.report=http:\/\/10\.128\.0\.1\/report/);
    assert.match(s, /\ninitrd http:\/\/10\.128\.0\.1\/initrd\.img\nboot\n$/);
  });
});
