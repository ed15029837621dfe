/**
 * Seed 004's acceptance list, in the lab, with every part real: a base HIL
 * holding a 2-node lab (QEMU guests, Open vSwitch, ipmi_sim BMCs, dnsmasq and
 * iPXE), and a derived HIL renting both nodes from it, with fast provisioning
 * on. The derived HIL's agent endpoint is a unix socket, which the lab's boot
 * server forwards the provisioning network's /fpbl/ requests to.
 *
 * 1. the derived HIL enrolls both nodes: PXE into the FPBL (the one time the
 *    firmware runs), wipe, ready;
 * 2. customer A takes two ready nodes and boots its image on both by kexec;
 * 3. A reclaims them: kexec back into the FPBL, which wipes what A wrote;
 * 4. customer B takes the same two nodes and boots its image, and finds the
 *    disk empty;
 * and after enrollment no firmware runs again: the BMCs' power-event logs do
 * not grow, the QEMU processes stay the same, no firmware banner appears on
 * the consoles, while every OS reports a new boot id.
 *
 * The second part forces the fallback: an image without the return agent is
 * reclaimed by power cycle and PXE, and the status says so.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { HilClient } from '../../src/client/index.ts';
import { missingSummary } from '../../src/lab/doctor.ts';
import { HIL, run, startRig, type Rig } from '../support/fastprov-rig.ts';
import { until } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';

const skip = skipUnless(missingSummary());

describe('fast provisioning in the lab: a derived HIL deploys and reclaims by kexec', { skip }, () => {
  let rig: Rig;
  let nodes: string[];
  /** After enrollment: each node's power-event log and QEMU process. */
  const baseline = new Map<string, { events: string; pid: number }>();
  const timings: Record<string, number> = {};

  const consoleText = (i: number) => rig.consoleText(i);
  const diskHead = (i: number) => rig.diskHead(i);
  const waitState = (who: HilClient, node: string, state: string, ms?: number) => rig.waitState(who, node, state, ms);
  /** The first match of `re` printed after console offset `from`. */
  const consoleMatch = (i: number, from: number, re: RegExp) => re.exec(consoleText(i).slice(from));
  const noFirmwareSinceEnrollment = (i: number) => {
    const b = baseline.get(nodes[i])!;
    assert.equal(rig.chassisLog(i), b.events, `${nodes[i]}: the BMC's power-event log grew`);
    assert.equal(rig.qemuPid(i), b.pid, `${nodes[i]}: QEMU was restarted`);
  };
  /** Deploys `image` on every node at once; returns when each OS printed its marker, and where its console was before. */
  const deployBoth = async (who: HilClient, image: string, marker: string, network: string) => {
    const from = nodes.map((_, i) => consoleText(i).length);
    const t0 = Date.now();
    await Promise.all(nodes.map((n) => who.node.deploy(n, image, { [rig.nic]: network })));
    await Promise.all(nodes.map((n) => waitState(who, n, 'deployed')));
    timings[`${image} deployed`] = Date.now() - t0;
    const booted = await Promise.all(
      nodes.map((_, i) =>
        until(`${nodes[i]} to boot ${marker}`, async () => consoleMatch(i, from[i], new RegExp(`hil-example: ${marker} booted boot_id=(\\S+)`)), 120_000).catch((err: Error) => {
          throw new Error(`${err.message}\n--- console of ${nodes[i]} since the deploy ---\n${consoleText(i).slice(from[i]).slice(-4000)}`);
        }),
      ),
    );
    timings[`${image} marker`] = Date.now() - t0;
    nodes.forEach((_, i) => {
      const segment = consoleText(i).slice(from[i]);
      // The FPBL said which boot it was in before it jumped; the new OS is a new boot.
      const before = [...consoleText(i).slice(0, from[i]).matchAll(/hil-fpbl: booted boot_id=(\S+)/g)].at(-1)?.[1];
      assert.ok(before, `${nodes[i]}: the FPBL printed its boot id`);
      assert.notEqual(booted[i]![1], before, 'kexec started a new kernel');
      assert.doesNotMatch(segment, /SeaBIOS|iPXE/, `${nodes[i]}: no firmware ran between deploy and the customer's OS`);
      assert.match(segment, /hil-agent: kexec -e/);
      noFirmwareSinceEnrollment(i);
    });
    return from;
  };

  before(async () => {
    rig = await startRig({
      nodes: 2,
      returnTimeoutSeconds: 20,
      bootTimeoutSeconds: 120,
      images: [
        { user: 'alice', image: 'os-a', marker: 'CUSTOMER-A', returnAgent: true },
        { user: 'bob', image: 'os-b', marker: 'CUSTOMER-B', returnAgent: true },
        { user: 'bob', image: 'os-noreturn', marker: 'CUSTOMER-B-NORETURN', returnAgent: false },
      ],
    });
    nodes = rig.nodes;
  });

  after(async () => {
    if (process.env.HIL_FASTPROV_TIMINGS) writeFileSync(process.env.HIL_FASTPROV_TIMINGS, JSON.stringify(timings, null, 2));
    // HIL_FASTPROV_DEBUG=DIR keeps what a failure needs: both servers' logs, the nodes' consoles and BMC logs.
    if (process.env.HIL_FASTPROV_DEBUG && rig) rig.saveDebug(process.env.HIL_FASTPROV_DEBUG);
    await rig?.close();
  });

  it('enrolls both nodes into the FPBL by PXE (the only firmware boot), wiped and ready', { timeout: 300_000 }, async () => {
    const t0 = Date.now();
    for (const n of nodes) await rig.derived.admin.node.reclaim(n);
    const ready = await Promise.all(nodes.map((n) => waitState(rig.derived.admin, n, 'ready')));
    timings.enroll = Date.now() - t0;
    for (const p of ready) assert.equal(p.path, 'power-cycle');
    nodes.forEach((n, i) => {
      assert.match(consoleText(i), /hil-fpbl: booted boot_id=/);
      assert.match(consoleText(i), /hil-agent: wiped/);
      assert.ok(diskHead(i).equals(Buffer.alloc(64)), `${n}: the disk starts wiped`);
      baseline.set(n, { events: rig.chassisLog(i), pid: rig.qemuPid(i)! });
      assert.ok(baseline.get(n)!.pid, `${n} runs`);
    });
  });

  it('customer A takes two ready nodes and boots its OS on both by kexec', { timeout: 300_000 }, async () => {
    const taken = [(await rig.alice.project.connectReadyNode('cust-a')).node, (await rig.alice.project.connectReadyNode('cust-a')).node];
    assert.deepEqual(taken.sort(), [...nodes].sort());
    await deployBoth(rig.alice, 'os-a', 'CUSTOMER-A', 'net-a');
    for (let i = 0; i < nodes.length; i++) {
      await until(`${nodes[i]} to write its disk`, async () => diskHead(i).toString('latin1').startsWith('hil-example-data:CUSTOMER-A'), 30_000);
      // The tenant's OS is on the tenant's network: at the base, the node's NIC left the provisioning network.
      const atBase = await rig.base.admin.node.show(nodes[i]);
      assert.ok(!Object.values(atBase.nics[0].networks).includes(rig.layout.hilNames.provisioningNetwork), JSON.stringify(atBase.nics[0].networks));
    }
  });

  it('reclaims both by kexec back into the FPBL, which wipes what A wrote, with no power cycle', { timeout: 300_000 }, async () => {
    const from = nodes.map((_, i) => consoleText(i).length);
    const t0 = Date.now();
    await Promise.all(nodes.map((n) => rig.alice.node.reclaim(n)));
    const ready = await Promise.all(nodes.map((n) => waitState(rig.alice, n, 'ready')));
    timings.reclaim = Date.now() - t0;
    nodes.forEach((n, i) => {
      assert.equal(ready[i].path, 'kexec', `${n}: ${JSON.stringify(ready[i])}\n--- console since the reclaim ---\n${consoleText(i).slice(from[i]).slice(-6000)}`);
      assert.ok(diskHead(i).equals(Buffer.alloc(64)), `${n}: A's data is gone: ${diskHead(i).toString('latin1')}`);
      const segment = consoleText(i).slice(from[i]);
      assert.match(segment, /hil-return: /);
      assert.match(segment, /hil-fpbl: booted boot_id=/);
      assert.doesNotMatch(segment, /SeaBIOS|iPXE/);
      noFirmwareSinceEnrollment(i);
    });
    for (const n of nodes) await rig.alice.project.detachNode('cust-a', n);
  });

  it('reassigns both to customer B, whose OS boots by kexec and finds the disk empty', { timeout: 300_000 }, async () => {
    for (let k = 0; k < nodes.length; k++) await rig.bob.project.connectReadyNode('cust-b');
    assert.deepEqual((await rig.bob.project.nodes('cust-b')).sort(), [...nodes].sort());
    const from = await deployBoth(rig.bob, 'os-b', 'CUSTOMER-B', 'net-b');
    for (let i = 0; i < nodes.length; i++) {
      const disk = await until(`${nodes[i]} to report its disk`, async () => consoleMatch(i, from[i], /hil-example: disk before: ([^\r\n]*)/) ?? undefined, 30_000);
      assert.doesNotMatch(disk[1], /CUSTOMER-A/);
      assert.equal(disk[1].trim(), '', 'B finds nothing on the disk');
    }
  });

  it('falls back to a power cycle and PXE when the OS does not come back, and says so', { timeout: 400_000 }, async () => {
    const n = nodes[0];
    await rig.bob.node.reclaim(n);
    assert.equal((await waitState(rig.bob, n, 'ready')).path, 'kexec');
    const eventsBefore = rig.chassisLog(0);
    const from = consoleText(0).length;
    // This time as a tenant at a shell would: the CLI, waiting.
    const bob = { HIL_ENDPOINT: rig.derived.endpoint, HIL_USERNAME: 'bob', HIL_PASSWORD: 'bob-pw' };
    const deployed = JSON.parse(run(HIL, ['node', 'deploy', n, 'os-noreturn', '--network', `${rig.nic}=net-b`, '--wait', '--json'], bob));
    assert.deepEqual([deployed.state, deployed.image, deployed.networks], ['deployed', 'os-noreturn', { [rig.nic]: 'net-b' }]);
    await until('the OS without a return agent to boot', async () => consoleMatch(0, from, /hil-example: CUSTOMER-B-NORETURN booted/) ?? undefined, 120_000);
    const t0 = Date.now();
    const reclaimed = run(HIL, ['node', 'reclaim', n, '--wait'], bob, 400_000);
    timings.fallback = Date.now() - t0;
    assert.match(reclaimed, /state\s+ready \(idle\)/);
    assert.match(reclaimed, /path\s+power-cycle/);
    const ready = JSON.parse(run(HIL, ['node', 'provision-status', n, '--json'], bob));
    assert.equal(ready.path, 'power-cycle');
    assert.notEqual(rig.chassisLog(0), eventsBefore, 'the BMC powered the node off and on');
    assert.match(consoleText(0).slice(from), /iPXE/, 'the firmware ran this time');
    assert.ok(diskHead(0).equals(Buffer.alloc(64)), 'wiped after the fallback too');
  });
});
