/**
 * The fast-provisioning rig, shared by the lab e2e test and bench:fastprov:
 * a base HIL with a lab (QEMU nodes with disks, OVS, ipmi_sim BMCs, dnsmasq,
 * iPXE) registered into it; a derived HIL renting every node through a
 * reseller project, with fast provisioning on and its agent endpoint on the
 * unix socket the lab's boot server forwards /fpbl/ to; two customers with a
 * network each, and their example images uploaded with the CLI.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HilClient, type Provisioning } from '../../src/client/index.ts';
import { readState } from '../../src/lab/lab.ts';
import { labLayout, type LabLayout } from '../../src/lab/layout.ts';
import { nodeFiles } from '../../src/lab/qemu.ts';
import { freePort, readPid } from '../../src/lab/system.ts';
import { HIL_ADMIN, REPO, start, type Child } from './processes.ts';
import { labStorage, registerStorage, STORAGE_NODE } from './lab-storage.ts';
import { firewallTable } from '../../src/exports/boot-firewall.ts';

export const HIL = `${REPO}bin/hil`;
export const HIL_LAB = `${REPO}bin/hil-lab`;

export interface RigServer {
  env: Record<string, string>;
  endpoint: string;
  child: Child;
  admin: HilClient;
}

export interface RigImage {
  user: 'alice' | 'bob';
  image: string;
  marker: string;
  returnAgent: boolean;
}

export interface RigOptions {
  nodes: number;
  images: RigImage[];
  /** provisioning.return_timeout_seconds of the derived HIL. */
  returnTimeoutSeconds: number;
  bootTimeoutSeconds: number;
  /** Boot networks on the derived HIL (test/support/lab-storage.ts), on these subnets. */
  diskless?: { subnets: string };
  /** Each lab node's local disk (default 16 MiB). */
  diskMiB?: number;
}

export interface Rig {
  root: string;
  layout: LabLayout;
  nodes: string[];
  base: RigServer;
  derived: RigServer;
  /** alice is in project cust-a (network net-a), bob in cust-b (net-b). */
  alice: HilClient;
  bob: HilClient;
  /** The name of the nodes' first NIC (the one deploys move). */
  nic: string;
  consoleText(i: number): string;
  /** The BMC's power-event log of node i. */
  chassisLog(i: number): string;
  qemuPid(i: number): number | null;
  diskHead(i: number): Buffer;
  /** Waits for a provisioning state; a failure carries the end of the node's console. */
  waitState(who: HilClient, node: string, state: string, ms?: number): Promise<Provisioning>;
  /** Writes both servers' logs and the nodes' consoles and BMC logs into `dir`. */
  saveDebug(dir: string): void;
  close(): Promise<void>;
}

async function server(dir: string, name: string, extra: Record<string, string>): Promise<RigServer> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const env = { HIL_DATA_DIR: dir, HIL_LISTEN: `127.0.0.1:${port}`, HIL_ADMIN_PASSWORD: `${name}-admin-pw`, ...extra };
  const child = start(HIL_ADMIN, ['serve', '--migrate'], env);
  await child.waitFor('hil API server listening', 30_000);
  return { env, endpoint, child, admin: new HilClient({ endpoint, username: 'admin', password: `${name}-admin-pw` }) };
}

export function run(cmd: string, args: string[], env: Record<string, string>, timeout = 180_000): string {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

export async function startRig(o: RigOptions): Promise<Rig> {
  const root = mkdtempSync(join(tmpdir(), 'hil-fastprov-'));
  const labDir = join(root, 'lab');
  const derivedDir = join(root, 'derived');
  const socket = join(derivedDir, 'fpbl.sock');
  let base: RigServer | undefined;
  let derived: RigServer | undefined;
  let bootIf = '';
  const close = async () => {
    await derived?.child.kill();
    if (existsSync(labDir)) spawnSync(HIL_LAB, ['down', '--dir', labDir], { encoding: 'utf8', timeout: 120_000 });
    if (bootIf) spawnSync('nft', ['delete', 'table', 'inet', firewallTable(bootIf)], { stdio: 'ignore' });
    await base?.child.kill();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    base = await server(join(root, 'base'), 'base', { HIL_VLAN_POOL: '600-619' });
    run(HIL_LAB, ['up', '--nodes', String(o.nodes), '--nics', '1', '--disk-mib', String(o.diskMiB ?? 16), '--memory', '384', '--fpbl-socket', socket, '--dir', labDir], {
      HIL_ENDPOINT: base.endpoint,
      HIL_USERNAME: 'admin',
      HIL_PASSWORD: 'base-admin-pw',
    });
    const layout = labLayout(readState(labDir)!.spec);
    const nodes = layout.nodes.map((n) => n.name);
    // The storage host is a base node too, rented and imported with the others.
    const storage = o.diskless ? await labStorage(layout, o.diskless.subnets) : undefined;
    if (storage) {
      bootIf = storage.bootIf;
      await registerStorage(base.admin, layout, storage);
    }

    // The base rents every node to a reseller, who runs the derived HIL.
    await base.admin.project.create('reseller');
    await base.admin.user.create('reseller', 'reseller-pw', false);
    await base.admin.user.addProject('reseller', 'reseller');
    for (const n of [...nodes, ...(storage ? [STORAGE_NODE] : [])]) await base.admin.project.connectNode('reseller', n);

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
return_timeout_seconds = ${o.returnTimeoutSeconds}
boot_timeout_seconds = ${o.bootTimeoutSeconds}
tick_ms = 100
${storage?.toml ?? ''}`,
    );
    derived = await server(derivedDir, 'derived', {
      HIL_CONFIG: join(derivedDir, 'hil.toml'),
      HIL_UPSTREAM_ENDPOINT: base.endpoint,
      HIL_UPSTREAM_USERNAME: 'reseller',
      HIL_UPSTREAM_PASSWORD: 'reseller-pw',
      HIL_UPSTREAM_PROJECT: 'reseller',
    });
    run(HIL_ADMIN, ['pool', 'import'], derived.env);
    // The provisioning network is the base's: admin-owned here, usable only by a project nobody is in.
    await derived.admin.project.create('hil-provisioning');
    await derived.admin.network.create('provisioning', 'admin', 'hil-provisioning', layout.hilNames.provisioningNetwork);
    for (const [user, project] of [['alice', 'cust-a'], ['bob', 'cust-b']]) {
      await derived.admin.project.create(project);
      await derived.admin.user.create(user, `${user}-pw`, false);
      await derived.admin.user.addProject(user, project);
    }
    const alice = new HilClient({ endpoint: derived.endpoint, username: 'alice', password: 'alice-pw' });
    const bob = new HilClient({ endpoint: derived.endpoint, username: 'bob', password: 'bob-pw' });
    await alice.network.create('net-a', 'cust-a', 'cust-a', '');
    await bob.network.create('net-b', 'cust-b', 'cust-b', '');
    for (const img of o.images) {
      const out = join(root, 'images', img.image);
      run(HIL_ADMIN, ['fpbl', 'example-image', '--marker', img.marker, '--out', out, ...(img.returnAgent ? [] : ['--no-return-agent'])], { HIL_DATA_DIR: derivedDir });
      const cmdline = readFileSync(join(out, 'cmdline'), 'utf8').trim();
      run(HIL, ['image', 'upload', img.image, '--kernel', join(out, 'vmlinuz'), '--initrd', join(out, 'initrd.img'), '--cmdline', cmdline, '--project', img.user === 'alice' ? 'cust-a' : 'cust-b'], {
        HIL_ENDPOINT: derived.endpoint,
        HIL_USERNAME: img.user,
        HIL_PASSWORD: `${img.user}-pw`,
      });
    }

    const files = (i: number) => nodeFiles(layout.nodes[i].dir);
    const read = (path: string, enc: BufferEncoding) => (existsSync(path) ? readFileSync(path, enc) : '');
    const consoleText = (i: number) => read(files(i).console, 'latin1');
    const chassisLog = (i: number) => read(files(i).events, 'utf8');
    const d = derived;
    const b = base;
    return {
      root,
      layout,
      nodes,
      base: b,
      derived: d,
      alice,
      bob,
      nic: layout.nodes[0].nics[0].name,
      consoleText,
      chassisLog,
      qemuPid: (i) => readPid(files(i).pid),
      diskHead(i) {
        const fd = openSync(join(layout.nodes[i].dir, 'disk.raw'), 'r');
        try {
          const buf = Buffer.alloc(64);
          readSync(fd, buf, 0, 64, 0);
          return buf;
        } finally {
          closeSync(fd);
        }
      },
      async waitState(who, node, state, ms = 240_000) {
        const tail = () => `\n--- console of ${node} (end) ---\n${consoleText(nodes.indexOf(node)).slice(-3000)}`;
        let p: Provisioning;
        try {
          p = await who.node.waitProvisioning(node, [state], { timeoutMs: ms, intervalMs: 100 });
        } catch (err) {
          throw new Error(`${(err as Error).message}${tail()}`);
        }
        assert.equal(p.state, state, `${node}: ${JSON.stringify(p)}${tail()}`);
        return p;
      },
      saveDebug(dir) {
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'base.log'), b.child.output());
        writeFileSync(join(dir, 'derived.log'), d.child.output());
        nodes.forEach((n, i) => {
          writeFileSync(join(dir, `${n}.console`), consoleText(i));
          writeFileSync(join(dir, `${n}.chassis`), chassisLog(i));
        });
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
