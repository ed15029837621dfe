/**
 * Issue 17's scenario in the lab, with every part real: the fast-provisioning
 * rig (a base HIL holding a 2-node lab, a derived HIL with fast provisioning
 * renting its nodes) with boot networks on the derived HIL, whose storage
 * host is a base node too (its trunk a patch cable from the lab switch,
 * test/support/lab-storage.ts).
 *
 * - node K, in the FPBL, gets the example golden image by `hil node deploy
 *   NODE IMAGE --disk DISK --wait`: the FPBL loads the image's kernel and
 *   initrd, HIL moves the NIC from the provisioning network to the project's
 *   boot network (derived → base → OVS), the FPBL jumps, and the initramfs
 *   mounts its root from the disk's iSCSI export. No firmware runs on the way
 *   (BMC power-event log and QEMU process unchanged, no firmware banner);
 * - node P, at the same time, boots another clone by iPXE after a power
 *   cycle (`hil node boot-disk set`, `bootdev pxe`, `power cycle`);
 * - each writes its state on its own root filesystem and sees nobody else's;
 * - P's disk is snapshotted, and K is re-provisioned by kexec on a clone of
 *   the snapshot: reclaimed by kexec (its OS's return agent asks through
 *   the boot network's server and jumps into the FPBL), then deployed again
 *   by kexec, no firmware on the whole way: it finds P's state;
 * - a reclaim with --keep-disk keeps K's disk, and a deploy on it later
 *   finds K's state again: the customer comes back to where it was.
 *
 * That another project's node reaches neither export is
 * test/e2e/diskless-boot.test.ts's (same boot networks, one HIL).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { missingSummary } from '../../src/lab/doctor.ts';
import { iscsiExportSkipReason } from '../support/disks.ts';
import { HIL, run, startRig, type Rig } from '../support/fastprov-rig.ts';
import { HIL_ADMIN, until } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';

const skip = skipUnless(missingSummary() ?? iscsiExportSkipReason() ?? (existsSync('/usr/sbin/iscsistart') ? undefined : 'iscsistart is not installed (apt-get install open-iscsi)'));
/** Boot subnets of their own: other tests put theirs on this host too. */
const SUBNETS = '10.215.0.0/16';
const MARKER = 'KEXEC-GOLDEN';

describe('diskless deploy by kexec in the lab: root on the network disk, no firmware', { skip }, () => {
  let rig: Rig;
  /** K boots by kexec from the FPBL; P by iPXE after a power cycle. */
  let node: string;
  let pNode: string;
  let baseline: { events: string; pid: number };
  let firstBoot = '';
  let pBoot = '';
  const asAlice = (...args: string[]) => run(HIL, args, { HIL_ENDPOINT: rig.derived.endpoint, HIL_USERNAME: 'alice', HIL_PASSWORD: 'alice-pw' }, 300_000);
  const consoleText = () => rig.consoleText(0);
  const noFirmwareSince = (b: typeof baseline) => {
    assert.equal(rig.chassisLog(0), b.events, "the BMC's power-event log grew");
    assert.equal(rig.qemuPid(0), b.pid, 'QEMU was restarted');
  };

  /** Deploys golden on `disk` by kexec; answers the console since the request and how long the OS took to say ready. */
  async function deployOnDisk(disk: string): Promise<{ segment: string; ms: number }> {
    const from = consoleText().length;
    const t0 = Date.now();
    asAlice('node', 'deploy', node, 'golden', '--disk', disk, '--wait');
    const segment = await until(`${node} to boot its OS from ${disk}`, async () => {
      const s = consoleText().slice(from);
      return /hil-example: ready/.test(s) && s;
    }, 180_000).catch((err: Error) => {
      throw new Error(`${err.message}\n--- console since the deploy ---\n${consoleText().slice(from).slice(-4000)}\n--- derived HIL ---\n${rig.derived.child.output().slice(-4000)}`);
    });
    return { segment, ms: Date.now() - t0 };
  }

  before(async () => {
    rig = await startRig({ nodes: 2, returnTimeoutSeconds: 20, bootTimeoutSeconds: 120, images: [], diskless: { subnets: SUBNETS } });
    [node, pNode] = [rig.nodes[0]!, rig.nodes[1]!];
    const image = join(rig.root, 'images', 'golden');
    const built = spawnSync(HIL_ADMIN, ['fpbl', 'example-image', '--disk', '--marker', MARKER, '--out', image], { encoding: 'utf8', env: { ...process.env, HIL_DATA_DIR: join(rig.root, 'derived') } });
    assert.equal(built.status, 0, built.stderr);
    const cmdline = readFileSync(join(image, 'cmdline'), 'utf8').trim();
    asAlice('image', 'upload', 'golden', '--disk', join(image, 'disk.qcow2'), '--kernel', join(image, 'vmlinuz'), '--initrd', join(image, 'initrd.img'), '--cmdline', cmdline, '--project', 'cust-a');
  });

  after(async () => {
    if (process.env.HIL_FASTPROV_DEBUG && rig) rig.saveDebug(process.env.HIL_FASTPROV_DEBUG);
    await rig?.close();
  });

  it('enrolls K into the FPBL (the firmware runs this once) and gives K and P to the tenant', { timeout: 300_000 }, async () => {
    await rig.derived.admin.node.reclaim(node);
    await rig.waitState(rig.derived.admin, node, 'ready');
    assert.equal((await rig.alice.project.connectReadyNode('cust-a')).node, node);
    await rig.derived.admin.project.connectNode('cust-a', pNode);
    baseline = { events: rig.chassisLog(0), pid: rig.qemuPid(0)! };
    assert.ok(baseline.pid);
  });

  it('boots K by kexec and P by iPXE, at once, each from its own clone of the golden image', { timeout: 400_000 }, async () => {
    const pFrom = rig.consoleText(1).length;
    asAlice('disk', 'create', 'dP', 'golden', '--project', 'cust-a');
    asAlice('node', 'boot-disk', 'set', pNode, 'dP', '--wait');
    asAlice('node', 'obm', 'enable', pNode); // imported into the derived HIL with its OBM off
    asAlice('node', 'bootdev', pNode, 'pxe');
    // P's power cycle first: the CLI calls block this process, and both nodes should boot at once.
    asAlice('node', 'power', 'cycle', pNode);
    const [{ segment, ms }, pSegment] = await Promise.all([
      deployOnDisk('d1'),
      (async () => {
        return until(`${pNode} to boot its OS by iPXE`, async () => {
          const s = rig.consoleText(1).slice(pFrom);
          return /hil-example: ready/.test(s) && s;
        }, 240_000).catch((err: Error) => {
          throw new Error(`${err.message}\n--- console of ${pNode} ---\n${rig.consoleText(1).slice(pFrom).slice(-4000)}`);
        });
      })(),
    ]);
    // K: the FPBL jumped when the boot network's server said so (not on failed reports); no firmware.
    assert.match(segment, /hil-agent: the boot network says jump[^]*hil-agent: kexec -e now/);
    assert.doesNotMatch(segment, /failed while waiting|out of reach/);
    assert.doesNotMatch(segment, /SeaBIOS|iPXE/, 'no firmware ran between the deploy and the OS');
    noFirmwareSince(baseline);
    assert.match(segment, /hil-netroot: root filesystem \/dev\/sda mounted from 10\.215\.0\.1/);
    const booted = new RegExp(`hil-example: ${MARKER} booted from its network disk boot_id=(\\S+)`).exec(segment);
    assert.ok(booted, segment.slice(-2000));
    firstBoot = booted[1]!;
    // P: the firmware and iPXE, then the same root path.
    assert.match(pSegment, /iPXE/);
    assert.match(pSegment, /hil-netroot: root filesystem \/dev\/sda mounted from 10\.215\.0\.1/);
    pBoot = new RegExp(`hil-example: ${MARKER} booted from its network disk boot_id=(\\S+)`).exec(pSegment)?.[1] ?? '';
    assert.notEqual(pBoot, '');
    // Each on a fresh clone: nothing of the other's.
    for (const s of [segment, pSegment]) assert.match(s, /hil-example: state before: \r?\n/);
    const shown = JSON.parse(asAlice('node', 'boot-disk', 'show', node, '--json'));
    assert.deepEqual([shown.disk, shown.network, shown.export.state], ['d1', 'hil-boot-cust-a', 'serving']);
    // At the base, K's NIC is on the boot network's base network, and not on the provisioning network.
    const atBase = Object.values((await rig.base.admin.node.show(node)).nics[0].networks);
    assert.ok(!atBase.includes(rig.layout.hilNames.provisioningNetwork), JSON.stringify(atBase));
    console.log(`# deploy --disk: request to the OS ready in ${ms} ms`);
  });

  it("re-provisions K by kexec on a clone of a snapshot of P's disk: K finds P's state", { timeout: 400_000 }, async () => {
    asAlice('disk', 'snapshot', 'dP', 'dP-snap');
    asAlice('disk', 'create', 'd2', 'dP-snap', '--project', 'cust-a');
    // K keeps d1 for later. Its reclaim is a kexec too: its OS returns through its boot network's server.
    baseline = { events: rig.chassisLog(0), pid: rig.qemuPid(0)! };
    const from = rig.consoleText(0).length;
    asAlice('node', 'reclaim', node, '--keep-disk', '--wait');
    const back = rig.consoleText(0).slice(from);
    assert.match(back, /hil-return: command: return[^]*hil-return: kexec -e now[^]*hil-fpbl: booted/, back.slice(-3000));
    assert.equal(JSON.parse(asAlice('node', 'provision-status', node, '--json')).path, 'kexec');
    assert.equal(JSON.parse(asAlice('disk', 'show', 'd1', '--json')).export, null, 'kept, and served to nobody');
    const { segment } = await deployOnDisk('d2');
    assert.doesNotMatch(back + segment, /SeaBIOS|iPXE/);
    noFirmwareSince(baseline);
    assert.equal(/hil-example: state before: ([^\r\n]*)/.exec(segment)?.[1]?.trim(), `${MARKER}:${pBoot}`);
  });

  it("comes back to K's own disk: a deploy on d1 after a reclaim finds K's first boot", { timeout: 400_000 }, async () => {
    baseline = { events: rig.chassisLog(0), pid: rig.qemuPid(0)! };
    asAlice('node', 'reclaim', node, '--wait');
    await until('d2 deleted (reclaimed without --keep-disk)', async () => spawnSync(HIL, ['disk', 'show', 'd2'], { env: { ...process.env, HIL_ENDPOINT: rig.derived.endpoint, HIL_USERNAME: 'alice', HIL_PASSWORD: 'alice-pw' } }).status !== 0, 30_000);
    const { segment } = await deployOnDisk('d1');
    assert.doesNotMatch(segment, /SeaBIOS|iPXE/);
    noFirmwareSince(baseline);
    assert.equal(/hil-example: state before: ([^\r\n]*)/.exec(segment)?.[1]?.trim(), `${MARKER}:${firstBoot}`);
  });
});
