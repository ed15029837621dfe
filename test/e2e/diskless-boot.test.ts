/**
 * Nodes that boot from their network disks, on the lab (issue 17's iPXE
 * path): a HIL server (child process) with disks, exports and
 * `[exports.boot]`; a 2-node lab built by `bin/hil-lab up` (QEMU with iPXE,
 * ipmi_sim, OVS); the storage host is this host, its trunk NIC a patch
 * cable from the lab switch to a bridge of its own, where HIL's boot links
 * ("ovs") give it an address on each project's boot network.
 *
 * A tenant makes two disks from one golden image (`hil-admin fpbl
 * example-image --disk`, uploaded with the CLI), sets them as the boot
 * disks of its two nodes, and power-cycles them into PXE: each node gets its
 * address and script from its boot network, boots the image's kernel and
 * mounts its root filesystem from its own iSCSI export, and finds there only
 * what it wrote itself. A snapshot of node 1's disk, cloned and given to
 * node 2, brings node 1's state to node 2. A node of another project, on
 * its own boot network, reaches neither export.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HilClient } from '../../src/client/index.ts';
import { missingSummary } from '../../src/lab/doctor.ts';
import { readState } from '../../src/lab/lab.ts';
import { labLayout, type LabLayout } from '../../src/lab/layout.ts';
import { vsctl } from '../../src/lab/switch.ts';
import { ISOLATION_VLAN } from '../../src/drivers/switch/ovs/switch.ts';
import { freePort } from '../../src/lab/system.ts';
import { firewallTable } from '../../src/exports/boot-firewall.ts';
import { iscsiExportSkipReason } from '../support/disks.ts';
import { labStorage, registerStorage } from '../support/lab-storage.ts';
import { HIL_ADMIN, REPO, runHil, start, until, type Child } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';
import { NetnsLab } from '../support/netns.ts';

const HIL_LAB = `${REPO}bin/hil-lab`;
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip = skipUnless(
  missingSummary() ??
    iscsiExportSkipReason() ??
    (existsSync('/usr/sbin/iscsistart') ? undefined : 'iscsistart is not installed (apt-get install open-iscsi)') ??
    (has('nft') ? undefined : 'nft is not installed (apt-get install nftables)'),
);
/** Boot subnets of their own: other tests put theirs on this host too. */
const SUBNETS = '10.214.0.0/16';
const MARKER = 'GOLDEN';

describe('diskless boot on the lab: two nodes boot by iPXE from two clones of one golden image', { skip }, () => {
  let tmp: string;
  let labDir: string;
  let layout: LabLayout;
  let server: Child | undefined;
  let endpoint: string;
  let admin: HilClient;
  let alice: HilClient;
  let bootIf = '';
  let nodes: string[] = [];
  const firstBoot: string[] = [];
  let secondBoot = '';

  const lab = (...args: string[]) =>
    spawnSync(HIL_LAB, [...args, '--dir', labDir], {
      env: { ...process.env, HIL_ENDPOINT: endpoint, HIL_USERNAME: 'admin', HIL_PASSWORD: 'admin-pw' },
      encoding: 'utf8',
      timeout: 180_000,
    });
  const asAlice = (...args: string[]) => runHil(endpoint, ['alice', 'alice-pw'], args);
  const asAdmin = (...args: string[]) => runHil(endpoint, ['admin', 'admin-pw'], args);
  const ok = async (what: Promise<{ status: number; stdout: string; stderr: string }>) => {
    const r = await what;
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const consoleOf = async (node: string) => Buffer.from(await alice.node.consoleLog(node)).toString('latin1');
  const consoleFile = (i: number) => join(layout.nodes[i].dir, 'console.log');
  const consoleTail = (i: number) => (existsSync(consoleFile(i)) ? readFileSync(consoleFile(i), 'latin1').slice(-3000) : '(no console)');

  /** Power-cycles node i into PXE and waits until its OS says it is ready; answers the console since the cycle. */
  async function bootOnce(i: number): Promise<string> {
    const node = nodes[i]!;
    const before = (await consoleOf(node)).length;
    // What docs/images.md tells the tenant to do.
    await ok(asAlice('node', 'bootdev', node, 'pxe'));
    await ok(asAlice('node', 'power', 'cycle', node));
    try {
      return await until(`${node} to boot its OS from its disk`, async () => {
        const text = (await consoleOf(node)).slice(before);
        return /hil-example: ready/.test(text) && text;
      }, 240_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- console of ${node} (end) ---\n${consoleTail(i)}\n--- HIL ---\n${server?.output().slice(-3000)}`);
    }
  }

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hil-diskless-e2e-'));
    labDir = join(tmp, 'lab');
    // The lab first, unregistered: HIL's configuration names its switch's namespace and database.
    const up = spawnSync(HIL_LAB, ['up', '--nodes', '2', '--nics', '1', '--memory', '384', '--no-register', '--dir', labDir], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(up.status, 0, up.stderr);
    layout = labLayout(readState(labDir)!.spec);
    nodes = layout.nodes.map((n) => n.name);

    const storage = await labStorage(layout, SUBNETS);
    bootIf = storage.bootIf;

    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    const data = join(tmp, 'hil');
    mkdirSync(data, { recursive: true });
    const config = join(tmp, 'hil.toml');
    writeFileSync(
      config,
      `[worker]
action_timeout_seconds = 30
${storage.toml}`,
    );
    server = start(HIL_ADMIN, ['--config', config, 'serve', '--migrate'], { HIL_DATA_DIR: data, HIL_LISTEN: `127.0.0.1:${port}`, HIL_ADMIN_PASSWORD: 'admin-pw', HIL_VLAN_POOL: '300-319' });
    await server.waitFor('hil API server listening', 30_000);
    admin = new HilClient({ endpoint, username: 'admin', password: 'admin-pw' });
    alice = new HilClient({ endpoint, username: 'alice', password: 'alice-pw' });
    const reg = lab('register');
    assert.equal(reg.status, 0, reg.stderr);

    // The storage host, as HIL sees it: a node with a NIC on the switch port of its trunk.
    await registerStorage(admin, layout, storage);

    await admin.project.create('alpha');
    await admin.user.create('alice', 'alice-pw', false);
    await admin.user.addProject('alice', 'alpha');
    for (const n of nodes) await admin.project.connectNode('alpha', n);

    // The golden image, public, and one disk of it per node.
    const image = join(tmp, 'image');
    const built = spawnSync(HIL_ADMIN, ['fpbl', 'example-image', '--disk', '--marker', MARKER, '--out', image], { encoding: 'utf8', env: { ...process.env, HIL_DATA_DIR: data } });
    assert.equal(built.status, 0, built.stderr);
    const cmdline = readFileSync(join(image, 'cmdline'), 'utf8').trim();
    await ok(asAdmin('image', 'upload', 'golden', '--disk', join(image, 'disk.qcow2'), '--kernel', join(image, 'vmlinuz'), '--initrd', join(image, 'initrd.img'), '--cmdline', cmdline, '--public'));
    for (const d of ['d1', 'd2']) await ok(asAlice('disk', 'create', d, 'golden', '--project', 'alpha'));
  });

  after(async () => {
    if (process.env.DEBUG_BOOT && server) console.log(server.output().slice(-20_000));
    await server?.kill();
    if (labDir && existsSync(labDir)) spawnSync(HIL_LAB, ['down', '--dir', labDir], { encoding: 'utf8', timeout: 120_000 });
    if (bootIf) spawnSync('nft', ['delete', 'table', 'inet', firewallTable(bootIf)], { stdio: 'ignore' });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('sets each node to boot from its disk (hil node boot-disk set --wait): a fixed address on the project\'s boot network', async () => {
    for (const [i, d] of ['d1', 'd2'].entries()) {
      const out = JSON.parse(await ok(asAlice('node', 'boot-disk', 'set', nodes[i]!, d, '--wait', '--json')));
      assert.equal(out.disk, d);
      assert.equal(out.network, 'hil-boot-alpha');
      assert.equal(out.server, '10.214.0.1');
      assert.match(out.address, /^10\.214\.0\.\d+$/);
      assert.equal(out.export.protocol, 'iscsi');
      assert.equal(out.export.host, '10.214.0.1');
    }
  });

  it('boots both nodes by iPXE, each with its root filesystem on its own clone', { timeout: 600_000 }, async () => {
    const texts = await Promise.all([0, 1].map((i) => bootOnce(i)));
    for (const [i, text] of texts.entries()) {
      assert.match(text, /iPXE/, 'the firmware and iPXE ran: this is the power-cycle path');
      assert.match(text, /hil-netroot: root filesystem \/dev\/sda mounted from 10\.214\.0\.1/, consoleTail(i));
      const booted = new RegExp(`hil-example: ${MARKER} booted from its network disk boot_id=(\\S+)`).exec(text);
      assert.ok(booted, consoleTail(i));
      assert.match(text, /hil-example: state before: \r?\n/, 'a fresh clone holds nothing of the other node');
      firstBoot[i] = booted[1]!;
    }
    assert.notEqual(firstBoot[0], firstBoot[1]);
  });

  it('keeps what each node wrote on its own disk, and only there', { timeout: 600_000 }, async () => {
    const text = await bootOnce(0);
    assert.equal(/hil-example: state before: ([^\r\n]*)/.exec(text)?.[1]?.trim(), `${MARKER}:${firstBoot[0]}`);
    secondBoot = new RegExp(`booted from its network disk boot_id=(\\S+)`).exec(text)?.[1] ?? '';
    assert.notEqual(secondBoot, '');
  });

  it("gives node 2 a clone of a snapshot of node 1's disk: node 2 finds node 1's state", { timeout: 600_000 }, async () => {
    await alice.node.powerOff(nodes[0]!);
    await ok(asAlice('disk', 'snapshot', 'd1', 'd1-snap'));
    await ok(asAlice('disk', 'create', 'd3', 'd1-snap', '--project', 'alpha'));
    await ok(asAlice('node', 'boot-disk', 'clear', nodes[1]!));
    await ok(asAlice('node', 'boot-disk', 'set', nodes[1]!, 'd3', '--wait'));
    const text = await bootOnce(1);
    // The image appends each boot's marker and id: node 1's two boots, and nothing of node 2's own.
    assert.equal(/hil-example: state before: ([^\r\n]*)/.exec(text)?.[1]?.trim(), `${MARKER}:${firstBoot[0]} ${MARKER}:${secondBoot}`);
    assert.doesNotMatch(text, new RegExp(firstBoot[1]!), "node 2's first boot was on d2, not on d1's snapshot");
  });

  it("lets a node of another project reach its own export, and neither of alpha's", { timeout: 120_000 }, async () => {
    // A namespace "node" of project beta on the lab switch, booting from a disk of its own.
    const ns = new NetnsLab();
    try {
      const m1 = ns.addNode('m1', '192.0.2.9');
      spawnSync('ip', ['netns', 'exec', m1.ns, 'ip', 'addr', 'flush', 'dev', 'eth0']);
      spawnSync('ip', ['link', 'set', m1.hostIf, 'netns', layout.switchNetns]);
      spawnSync('ip', ['-n', layout.switchNetns, 'link', 'set', m1.hostIf, 'up']);
      vsctl(layout, 'add-port', layout.bridge, m1.hostIf, '--', 'set', 'port', m1.hostIf, 'vlan_mode=trunk', `trunks=${ISOLATION_VLAN}`, 'protected=true');
      await admin.node.register('m1', { obm: { type: 'mock' } });
      await admin.node.addNic('m1', 'eth0', m1.mac);
      await admin.port.register(layout.hilNames.switch, m1.hostIf);
      await admin.port.connectNic(layout.hilNames.switch, m1.hostIf, 'm1', 'eth0');
      await admin.project.create('beta');
      await admin.user.create('bob', 'bob-pw', false);
      await admin.user.addProject('bob', 'beta');
      await admin.project.connectNode('beta', 'm1');
      const asBob = (...args: string[]) => runHil(endpoint, ['bob', 'bob-pw'], args);
      await ok(asBob('disk', 'create', 'm1-root', 'golden', '--project', 'beta'));
      const own = JSON.parse(await ok(asBob('node', 'boot-disk', 'set', 'm1', 'm1-root', '--wait', '--json')));
      assert.equal(own.server, '10.214.1.1', 'beta has a boot network of its own');
      spawnSync('ip', ['netns', 'exec', m1.ns, 'ip', 'addr', 'add', `${own.address}/24`, 'dev', 'eth0']);
      const alphas = await Promise.all(['d1', 'd3'].map(async (d) => (await alice.disk.show(d)).export!));
      assert.ok(alphas.every((e) => e && e.host === '10.214.0.1'), JSON.stringify(alphas));

      const connects = (address: string, port: number) =>
        spawnSync('ip', ['netns', 'exec', m1.ns, 'timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${address}/${port}`]).status === 0;
      assert.ok(await until('m1 to reach its own export', async () => connects(own.server, own.export.port), 20_000));
      for (const e of alphas) {
        assert.equal(connects(e.host, e.port), false, `alpha's export ${e.host}:${e.port}, addressed directly`);
        assert.equal(connects(own.server, e.port), false, `alpha's export port ${e.port}, on beta's own storage address`);
      }
    } finally {
      ns.cleanup();
    }
  });
});
