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
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HilClient, type Provisioning } from '../../src/client/index.ts';
import { missingSummary } from '../../src/lab/doctor.ts';
import { readState } from '../../src/lab/lab.ts';
import { labLayout, type LabLayout } from '../../src/lab/layout.ts';
import { nodeFiles } from '../../src/lab/qemu.ts';
import { freePort, readPid } from '../../src/lab/system.ts';
import { HIL_ADMIN, REPO, start, until, type Child } from '../support/processes.ts';
import { skipUnless } from '../support/require.ts';

const HIL_LAB = `${REPO}bin/hil-lab`;
const HIL = `${REPO}bin/hil`;
const skip = skipUnless(missingSummary());

interface Server {
  env: Record<string, string>;
  endpoint: string;
  child?: Child;
  admin: HilClient;
}

async function server(dir: string, name: string, extra: Record<string, string>): Promise<Server> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const env = { HIL_DATA_DIR: dir, HIL_LISTEN: `127.0.0.1:${port}`, HIL_ADMIN_PASSWORD: `${name}-admin-pw`, ...extra };
  const child = start(HIL_ADMIN, ['serve', '--migrate'], env);
  await child.waitFor('hil API server listening', 30_000);
  return { env, endpoint, child, admin: new HilClient({ endpoint, username: 'admin', password: `${name}-admin-pw` }) };
}

function run(cmd: string, args: string[], env: Record<string, string>, timeout = 180_000): string {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

describe('fast provisioning in the lab: a derived HIL deploys and reclaims by kexec', { skip }, () => {
  let root: string;
  let labDir: string;
  let layout: LabLayout;
  let base: Server;
  let derived: Server;
  let alice: HilClient;
  let bob: HilClient;
  let nodes: string[];
  /** After enrollment: each node's power-event log and QEMU process. */
  const baseline = new Map<string, { events: string; pid: number }>();
  const timings: Record<string, number> = {};

  const files = (i: number) => nodeFiles(layout.nodes[i].dir);
  const consoleText = (i: number) => (existsSync(files(i).console) ? readFileSync(files(i).console, 'latin1') : '');
  const chassisLog = (i: number) => (existsSync(files(i).events) ? readFileSync(files(i).events, 'utf8') : '');
  const diskHead = (i: number) => {
    const fd = openSync(join(layout.nodes[i].dir, 'disk.raw'), 'r');
    const buf = Buffer.alloc(64);
    readSync(fd, buf, 0, 64, 0);
    closeSync(fd);
    return buf;
  };
  /** The first line matching `re` printed after console offset `from`. */
  const consoleMatch = (i: number, from: number, re: RegExp) => re.exec(consoleText(i).slice(from));
  /** Waits for a provisioning state; on failure the message carries the end of the node's console. */
  const waitState = async (who: HilClient, node: string, state: string, ms = 240_000): Promise<Provisioning> => {
    const tail = () => `\n--- console of ${node} (end) ---\n${consoleText(nodes.indexOf(node)).slice(-3000)}`;
    let p: Provisioning;
    try {
      p = await who.node.waitProvisioning(node, [state], { timeoutMs: ms, intervalMs: 200 });
    } catch (err) {
      throw new Error(`${(err as Error).message}${tail()}`);
    }
    assert.equal(p.state, state, `${node}: ${JSON.stringify(p)}${tail()}`);
    return p;
  };
  const noFirmwareSinceEnrollment = (i: number) => {
    const b = baseline.get(nodes[i])!;
    assert.equal(chassisLog(i), b.events, `${nodes[i]}: the BMC's power-event log grew`);
    assert.equal(readPid(files(i).pid), b.pid, `${nodes[i]}: QEMU was restarted`);
  };
  /** Runs a deploy of `image` on both nodes at once; returns when both OSes printed their marker. */
  const deployBoth = async (who: HilClient, image: string, marker: string, network: string) => {
    const from = nodes.map((_, i) => consoleText(i).length);
    const t0 = Date.now();
    await Promise.all(nodes.map((n) => who.node.deploy(n, image, { [layout.nodes[0].nics[0].name]: network })));
    await Promise.all(nodes.map((n) => waitState(who, n, 'deployed')));
    timings[`${image} deployed`] = Date.now() - t0;
    const booted = await Promise.all(
      nodes.map((_, i) => until(`${nodes[i]} to boot ${marker}`, async () => consoleMatch(i, from[i], new RegExp(`hil-example: ${marker} booted boot_id=(\\S+)`)), 120_000)),
    );
    timings[`${image} marker`] = Date.now() - t0;
    nodes.forEach((_, i) => {
      const segment = consoleText(i).slice(from[i]);
      // The FPBL said which boot it was in before it jumped; the new OS is a new boot.
      const fpblBoot = /hil-fpbl: booted boot_id=(\S+)/g;
      const before = [...consoleText(i).slice(0, from[i]).matchAll(fpblBoot)].at(-1)?.[1];
      assert.ok(before, `${nodes[i]}: the FPBL printed its boot id`);
      assert.notEqual(booted[i]![1], before, 'kexec started a new kernel');
      assert.doesNotMatch(segment, /SeaBIOS|iPXE/, `${nodes[i]}: no firmware ran between deploy and the customer's OS`);
      assert.match(segment, /hil-agent: kexec -e/);
      noFirmwareSinceEnrollment(i);
    });
    return from;
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'hil-fastprov-'));
    labDir = join(root, 'lab');
    const socket = join(root, 'derived', 'fpbl.sock');
    base = await server(join(root, 'base'), 'base', { HIL_VLAN_POOL: '600-619' });
    run(HIL_LAB, ['up', '--nodes', '2', '--nics', '1', '--disk-mib', '16', '--memory', '384', '--fpbl-socket', socket, '--dir', labDir], {
      HIL_ENDPOINT: base.endpoint,
      HIL_USERNAME: 'admin',
      HIL_PASSWORD: 'base-admin-pw',
    });
    layout = labLayout(readState(labDir)!.spec);
    nodes = layout.nodes.map((n) => n.name);

    // The base rents both nodes to a reseller, who runs the derived HIL.
    await base.admin.project.create('reseller');
    await base.admin.user.create('reseller', 'reseller-pw', false);
    await base.admin.user.addProject('reseller', 'reseller');
    for (const n of nodes) await base.admin.project.connectNode('reseller', n);

    const derivedDir = join(root, 'derived');
    mkdirSync(derivedDir, { recursive: true });
    const fpbl = join(root, 'fpbl');
    run(HIL_ADMIN, ['fpbl', 'build', '--out', fpbl], { HIL_DATA_DIR: derivedDir });
    writeFileSync(
      join(derivedDir, 'hil.toml'),
      `[upstream]
timeout_seconds = 30
[worker]
action_timeout_seconds = 30
[provisioning]
enabled = true
listen = "unix:${socket}"
url = "http://10.128.0.1"
network = "provisioning"
fpbl_dir = "${fpbl}"
return_timeout_seconds = 20
boot_timeout_seconds = 120
tick_ms = 100
`,
    );
    derived = await server(derivedDir, 'derived', {
      HIL_CONFIG: join(derivedDir, 'hil.toml'),
      HIL_UPSTREAM_ENDPOINT: base.endpoint,
      HIL_UPSTREAM_USERNAME: 'reseller',
      HIL_UPSTREAM_PASSWORD: 'reseller-pw',
      HIL_UPSTREAM_PROJECT: 'reseller',
    });
    run(HIL_ADMIN, ['pool', 'import'], derived.env);
    // The provisioning network is the base's: admin-owned here, and usable by a project nobody is in.
    await derived.admin.project.create('hil-provisioning');
    await derived.admin.network.create('provisioning', 'admin', 'hil-provisioning', layout.hilNames.provisioningNetwork);
    for (const [user, project] of [['alice', 'cust-a'], ['bob', 'cust-b']]) {
      await derived.admin.project.create(project);
      await derived.admin.user.create(user, `${user}-pw`, false);
      await derived.admin.user.addProject(user, project);
    }
    alice = new HilClient({ endpoint: derived.endpoint, username: 'alice', password: 'alice-pw' });
    bob = new HilClient({ endpoint: derived.endpoint, username: 'bob', password: 'bob-pw' });
    await alice.network.create('net-a', 'cust-a', 'cust-a', '');
    await bob.network.create('net-b', 'cust-b', 'cust-b', '');
    // Each customer's image, uploaded with the CLI.
    for (const [user, image, marker, extra] of [
      ['alice', 'os-a', 'CUSTOMER-A', []],
      ['bob', 'os-b', 'CUSTOMER-B', []],
      ['bob', 'os-noreturn', 'CUSTOMER-B-NORETURN', ['--no-return-agent']],
    ] as const) {
      const out = join(root, image);
      run(HIL_ADMIN, ['fpbl', 'example-image', '--marker', marker, '--out', out, ...extra], { HIL_DATA_DIR: derivedDir });
      const cmdline = readFileSync(join(out, 'cmdline'), 'utf8').trim();
      run(HIL, ['image', 'upload', image, '--kernel', join(out, 'vmlinuz'), '--initrd', join(out, 'initrd.img'), '--cmdline', cmdline, '--project', user === 'alice' ? 'cust-a' : 'cust-b'], {
        HIL_ENDPOINT: derived.endpoint,
        HIL_USERNAME: user,
        HIL_PASSWORD: `${user}-pw`,
      });
    }
  });

  after(async () => {
    if (process.env.HIL_FASTPROV_TIMINGS) writeFileSync(process.env.HIL_FASTPROV_TIMINGS, JSON.stringify(timings, null, 2));
    // HIL_FASTPROV_DEBUG=DIR keeps what a failure needs: both servers' logs and the nodes' consoles and BMC logs.
    const debug = process.env.HIL_FASTPROV_DEBUG;
    if (debug && layout) {
      mkdirSync(debug, { recursive: true });
      writeFileSync(join(debug, 'base.log'), base?.child?.output() ?? '');
      writeFileSync(join(debug, 'derived.log'), derived?.child?.output() ?? '');
      nodes.forEach((n, i) => {
        writeFileSync(join(debug, `${n}.console`), consoleText(i));
        writeFileSync(join(debug, `${n}.chassis`), chassisLog(i));
      });
    }
    await derived?.child?.kill();
    if (labDir && existsSync(labDir)) spawnSync(HIL_LAB, ['down', '--dir', labDir], { encoding: 'utf8', timeout: 120_000 });
    await base?.child?.kill();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('enrolls both nodes into the FPBL by PXE (the only firmware boot), wiped and ready', { timeout: 300_000 }, async () => {
    const t0 = Date.now();
    for (const n of nodes) await derived.admin.node.reclaim(n);
    const ready = await Promise.all(nodes.map((n) => waitState(derived.admin, n, 'ready')));
    timings.enroll = Date.now() - t0;
    for (const p of ready) assert.equal(p.path, 'power-cycle');
    nodes.forEach((n, i) => {
      assert.match(consoleText(i), /hil-fpbl: booted boot_id=/);
      assert.match(consoleText(i), /hil-agent: wiped/);
      assert.ok(diskHead(i).equals(Buffer.alloc(64)), `${n}: the disk starts wiped`);
      baseline.set(n, { events: chassisLog(i), pid: readPid(files(i).pid)! });
      assert.ok(baseline.get(n)!.pid, `${n} runs`);
    });
  });

  it('customer A takes two ready nodes and boots its OS on both by kexec', { timeout: 300_000 }, async () => {
    const taken = [(await alice.project.connectReadyNode('cust-a')).node, (await alice.project.connectReadyNode('cust-a')).node];
    assert.deepEqual(taken.sort(), [...nodes].sort());
    await deployBoth(alice, 'os-a', 'CUSTOMER-A', 'net-a');
    for (let i = 0; i < nodes.length; i++) {
      await until(`${nodes[i]} to write its disk`, async () => diskHead(i).toString('latin1').startsWith('hil-example-data:CUSTOMER-A'), 30_000);
      // The tenant's OS is on the tenant's network: at the base, the node's NIC left the provisioning network.
      const atBase = await base.admin.node.show(nodes[i]);
      assert.ok(!Object.values(atBase.nics[0].networks).includes(layout.hilNames.provisioningNetwork), JSON.stringify(atBase.nics[0].networks));
    }
  });

  it('reclaims both by kexec back into the FPBL, which wipes what A wrote, with no power cycle', { timeout: 300_000 }, async () => {
    const from = nodes.map((_, i) => consoleText(i).length);
    const t0 = Date.now();
    await Promise.all(nodes.map((n) => alice.node.reclaim(n)));
    const ready = await Promise.all(nodes.map((n) => waitState(alice, n, 'ready')));
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
    for (const n of nodes) await alice.project.detachNode('cust-a', n);
  });

  it('reassigns both to customer B, whose OS boots by kexec and finds the disk empty', { timeout: 300_000 }, async () => {
    for (let k = 0; k < nodes.length; k++) await bob.project.connectReadyNode('cust-b');
    assert.deepEqual((await bob.project.nodes('cust-b')).sort(), [...nodes].sort());
    const from = await deployBoth(bob, 'os-b', 'CUSTOMER-B', 'net-b');
    for (let i = 0; i < nodes.length; i++) {
      const disk = await until(`${nodes[i]} to report its disk`, async () => consoleMatch(i, from[i], /hil-example: disk before: ([^\r\n]*)/), 30_000);
      assert.doesNotMatch(disk[1], /CUSTOMER-A/);
      assert.equal(disk[1].trim(), '', 'B finds nothing on the disk');
    }
  });

  it('falls back to a power cycle and PXE when the OS does not come back, and says so', { timeout: 400_000 }, async () => {
    const n = nodes[0];
    await bob.node.reclaim(n);
    assert.equal((await waitState(bob, n, 'ready')).path, 'kexec');
    const eventsBefore = chassisLog(0);
    await bob.node.deploy(n, 'os-noreturn', { [layout.nodes[0].nics[0].name]: 'net-b' });
    await waitState(bob, n, 'deployed');
    const from = consoleText(0).length;
    await until('the OS without a return agent to boot', async () => consoleMatch(0, from, /hil-example: CUSTOMER-B-NORETURN booted/), 120_000);
    const t0 = Date.now();
    await bob.node.reclaim(n);
    const ready = await waitState(bob, n, 'ready', 300_000);
    timings.fallback = Date.now() - t0;
    assert.equal(ready.path, 'power-cycle');
    assert.notEqual(chassisLog(0), eventsBefore, 'the BMC powered the node off and on');
    assert.match(consoleText(0).slice(from), /iPXE/, 'the firmware ran this time');
    assert.ok(diskHead(0).equals(Buffer.alloc(64)), 'wiped after the fallback too');
  });
});
