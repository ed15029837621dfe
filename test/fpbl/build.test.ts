/**
 * The FPBL and example image builds, read back with independent tools:
 * busybox cpio lists and extracts the initramfs, the extracted kexec runs in a
 * chroot of it (so every library and the loader are there), busybox sh -n
 * parses both agents, sha256sum checks fpbl.json.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { AGENT_SCRIPT, buildExampleImage, buildFpbl, FpblBuildError, KEXEC, RETURN_SCRIPT, sharedLibraries, type FpblManifest } from '../../src/fpbl/build.ts';
import { isStaticElf } from '../../src/lab/doctor.ts';
import { BUSYBOX, findKernels } from '../../src/initramfs/kernel.ts';
import { HIL_ADMIN } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';

const missing = !findKernels().length
  ? 'no guest kernel (apt-get install linux-image-amd64)'
  : !(existsSync(BUSYBOX) && isStaticElf(BUSYBOX))
    ? 'no static busybox (apt-get install busybox-static)'
    : !existsSync(KEXEC)
      ? 'no kexec (apt-get install kexec-tools)'
      : undefined;

const sha256sum = (path: string) => spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0];
const cpioList = (initrd: string) => {
  const r = spawnSync(BUSYBOX, ['cpio', '-t'], { input: gunzipSync(readFileSync(initrd)), encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
};
const extract = (initrd: string, dir: string) => {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync(BUSYBOX, ['cpio', '-idm'], { input: gunzipSync(readFileSync(initrd)), cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
};

describe('the agents', { skip: skipUnless(existsSync(BUSYBOX) ? undefined : 'no busybox (apt-get install busybox-static)') }, () => {
  for (const script of [AGENT_SCRIPT, RETURN_SCRIPT]) {
    it(`${script.split('/').pop()} parses with busybox sh -n`, () => {
      const r = spawnSync(BUSYBOX, ['sh', '-n', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    });
  }

  it('never runs wget with -T (Debian busybox wget crashes on it): always under timeout', () => {
    for (const script of [AGENT_SCRIPT, RETURN_SCRIPT]) {
      const lines = readFileSync(script, 'utf8').split('\n').filter((l) => /(^|\s)wget\s+-/.test(l) && !l.trim().startsWith('#'));
      assert.ok(lines.length > 0);
      for (const l of lines) {
        assert.doesNotMatch(l, /wget[^|]*\s-T\b/, l);
        assert.match(l, /timeout \S+ wget/, l);
      }
    }
  });
});

describe('hil-admin fpbl build / example-image', { skip: skipUnless(missing) }, () => {
  let tmp: string;
  const kernel = findKernels()[0];

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'hil-fpbl-build-'));
    buildFpbl(join(tmp, 'fpbl'));
    buildExampleImage(join(tmp, 'example'), 'MARKER-42');
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('FPBL: the initramfs holds busybox, kexec with every library ldd lists and the loader, the modules, /init and the agent', () => {
    const list = cpioList(join(tmp, 'fpbl', 'initrd.img'));
    const libs = sharedLibraries(KEXEC);
    assert.ok(libs.some((l) => /ld-linux/.test(l)), `the loader is among ${libs.join(' ')}`);
    assert.ok(libs.some((l) => /libc\.so/.test(l)));
    for (const p of ['init', 'bin/busybox', 'bin/sh', 'bin/wget', 'bin/sha256sum', 'bin/timeout', 'bin/blkdiscard', 'bin/dd', 'bin/udhcpc', 'sbin/kexec', 'bin/hil-agent', 'dev/console', ...libs.map((l) => l.slice(1))]) {
      assert.ok(list.includes(p), `${p} in the FPBL initramfs`);
    }
    for (const m of ['virtio_pci', 'virtio_net', 'virtio_blk', 'e1000', 'virtio', 'virtio_ring']) {
      assert.ok(list.some((p) => new RegExp(`^lib/modules/.*/${m}\\.ko(\\.\\w+)?$`).test(p)), `module ${m}`);
    }
    assert.ok(!list.includes('bin/hil-return'));
  });

  it('FPBL: fpbl.json names the files by their SHA-256, and vmlinuz is the newest kernel', () => {
    const m = JSON.parse(readFileSync(join(tmp, 'fpbl', 'fpbl.json'), 'utf8')) as FpblManifest;
    assert.equal(m.kernel_sha256, sha256sum(join(tmp, 'fpbl', 'vmlinuz')));
    assert.equal(m.initrd_sha256, sha256sum(join(tmp, 'fpbl', 'initrd.img')));
    assert.equal(m.kernel_sha256, sha256sum(kernel.image));
    assert.equal(m.kernel_version, kernel.version);
    assert.ok(Math.abs(Date.now() - Date.parse(m.built_at)) < 600_000);
    assert.ok(readFileSync(join(tmp, 'fpbl', 'initrd.img')).length < 8 << 20, 'the initrd stays small');
  });

  it('FPBL: kexec runs from the extracted initramfs alone (chroot), and /init starts the agent', { skip: skipUnless(process.getuid?.() === 0 ? undefined : 'chroot needs root') }, () => {
    const root = join(tmp, 'root');
    extract(join(tmp, 'fpbl', 'initrd.img'), root);
    const v = spawnSync('chroot', [root, '/sbin/kexec', '--version'], { encoding: 'utf8' });
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout + v.stderr, /kexec-tools/);
    const sh = spawnSync('chroot', [root, '/bin/sh', '-n', '/bin/hil-agent'], { encoding: 'utf8' });
    assert.equal(sh.status, 0, sh.stderr);
    const init = readFileSync(join(root, 'init'), 'utf8');
    assert.match(init, /echo "hil-fpbl: booted boot_id=\$boot_id uptime=/);
    assert.match(init, /\/bin\/hil-agent/);
    assert.equal(spawnSync('chroot', [root, '/bin/sh', '-n', '/init']).status, 0);
  });

  it('example image: vmlinuz, an initramfs with the marker baked in, kexec and the return agent, and a cmdline', () => {
    const dir = join(tmp, 'example');
    assert.equal(readFileSync(join(dir, 'cmdline'), 'utf8'), 'console=ttyS0,115200 quiet');
    assert.equal(sha256sum(join(dir, 'vmlinuz')), sha256sum(kernel.image));
    const list = cpioList(join(dir, 'initrd.img'));
    for (const p of ['init', 'bin/hil-return', 'sbin/kexec', 'bin/busybox', ...sharedLibraries(KEXEC).map((l) => l.slice(1))]) assert.ok(list.includes(p), p);
    assert.ok(list.some((p) => /\/virtio_blk\.ko/.test(p)));
    const root = join(tmp, 'example-root');
    extract(join(dir, 'initrd.img'), root);
    const init = readFileSync(join(root, 'init'), 'utf8');
    assert.match(init, /^MARKER=MARKER-42$/m);
    assert.equal(spawnSync(BUSYBOX, ['sh', '-n', join(root, 'init')]).status, 0);
    assert.match(init, /^\/bin\/hil-return &$/m);
  });

  it('example image without the return agent (the fallback path): no hil-return, and /init does not start one', () => {
    const dir = join(tmp, 'noreturn');
    buildExampleImage(dir, 'NORETURN');
    const list = cpioList(join(dir, 'initrd.img'));
    assert.ok(list.includes('bin/hil-return'), 'the default has it');
    buildExampleImage(dir, 'NORETURN', { returnAgent: false });
    assert.ok(!cpioList(join(dir, 'initrd.img')).includes('bin/hil-return'));
    const root = join(tmp, 'noreturn-root');
    extract(join(dir, 'initrd.img'), root);
    const init = readFileSync(join(root, 'init'), 'utf8');
    assert.doesNotMatch(init, /hil-return &/);
    assert.equal(spawnSync(BUSYBOX, ['sh', '-n', join(root, 'init')]).status, 0);
  });

  it('hil-admin fpbl build (default: <data_dir>/fpbl) and example-image print what they wrote, with sizes and SHA-256', () => {
    const env = { ...process.env, HIL_DATA_DIR: join(tmp, 'data') };
    const b = spawnSync(HIL_ADMIN, ['fpbl', 'build'], { env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(b.status, 0, b.stderr);
    for (const f of ['vmlinuz', 'initrd.img', 'fpbl.json']) {
      const path = join(tmp, 'data', 'fpbl', f);
      assert.match(b.stdout, new RegExp(`wrote ${path}  ${readFileSync(path).length} bytes  sha256 ${sha256sum(path)}`));
    }
    const e = spawnSync(HIL_ADMIN, ['fpbl', 'example-image', '--marker', 'CLI-1', '--out', join(tmp, 'cli-example')], { env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /cli-example\/cmdline  26 bytes/);
    const bad = spawnSync(HIL_ADMIN, ['fpbl', 'example-image', '--out', join(tmp, 'x')], { env, encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /needs --marker TEXT and --out DIR/);
  });

  it('refuses a marker that would need quoting', () => {
    for (const bad of ['', 'a b', 'x;reboot', '$(id)', 'a\nb', 'x'.repeat(65)]) {
      assert.throws(() => buildExampleImage(join(tmp, 'bad'), bad), FpblBuildError, JSON.stringify(bad));
    }
  });
});
