/**
 * `npm run demo`: HIL and a 2-node lab, and a tenant's first node.
 *
 * Starts a HIL server on a scratch SQLite database, builds a lab and
 * registers it, then walks the story a tenant of a real datacenter lives:
 * allocate a node, put it on the provisioning network, boot it from the
 * network, watch it come up on its console. Everything it made is torn down
 * at the end, also on Ctrl-C or a failure. Needs root and the packages
 * `hil-lab doctor` lists.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HilClient } from '../client/index.ts';
import { missingSummary } from './doctor.ts';
import { down, readReports, up } from './lab.ts';
import { registerLab } from './register.ts';
import { freePort } from './system.ts';

const HIL_ADMIN = fileURLToPath(new URL('../../bin/hil-admin', import.meta.url));
const started = Date.now();

function say(step: string): void {
  process.stdout.write(`\n[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${step}\n`);
}

function detail(line: string): void {
  process.stdout.write(`          ${line}\n`);
}

/** A console's last lines as a person would see them on a terminal (escape sequences and backspaces applied roughly). */
export function consoleTail(bytes: Uint8Array, lines: number): string[] {
  const text = Buffer.from(bytes)
    .toString('latin1')
    .replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[c()][0-9A-Za-z]?/g, '') // eslint-disable-line no-control-regex
    .replace(/[^\n]\x08/g, '') // eslint-disable-line no-control-regex
    .replace(/\r/g, '');
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .slice(-lines);
}


function startServer(dataDir: string, port: number, adminPassword: string): Promise<ChildProcess> {
  const server = spawn(HIL_ADMIN, ['serve', '--migrate'], {
    env: { ...process.env, HIL_DATA_DIR: dataDir, HIL_LISTEN: `127.0.0.1:${port}`, HIL_ADMIN_PASSWORD: adminPassword, HIL_VLAN_POOL: '1001-1010' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the HIL server did not start:\n${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('hil API server listening')) {
        clearTimeout(timer);
        server.stdout!.removeAllListeners('data');
        server.stdout!.resume(); // keep draining its log
        resolve(server);
      }
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', (d) => (out += d));
    server.once('exit', (code) => reject(new Error(`the HIL server exited (${code}):\n${out}`)));
  });
}

async function main(): Promise<void> {
  const missing = missingSummary();
  if (missing) throw new Error(`${missing}; run bin/hil-lab doctor`);
  const scratch = mkdtempSync(join(tmpdir(), 'hil-demo-'));
  const labDir = join(scratch, 'lab');
  let server: ChildProcess | undefined;
  const teardown = () => {
    down(labDir);
    server?.kill('SIGTERM');
    rmSync(scratch, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    process.stdout.write('\ninterrupted: tearing down\n');
    teardown();
    process.exit(130);
  });

  try {
    say('Starting a HIL server on a scratch SQLite database');
    const port = await freePort();
    const adminPassword = randomBytes(12).toString('base64url');
    server = await startServer(scratch, port, adminPassword);
    const endpoint = `http://127.0.0.1:${port}`;
    detail(`listening on ${endpoint}; data in ${scratch}`);
    const admin = new HilClient({ endpoint, username: 'admin', password: adminPassword });

    say('Building a 2-node lab: QEMU nodes, ipmi_sim BMCs, an Open vSwitch switch, a PXE provisioning network');
    const { layout, state } = await up({ dir: labDir, nodes: 2, nics: 1, progress: detail });
    say('Registering the lab into HIL, as the datacenter operator');
    await registerLab(admin, layout, state.bmc, detail);

    say('The operator opens project "demo" for a tenant');
    const tenantPassword = randomBytes(12).toString('base64url');
    await admin.project.create('demo');
    await admin.user.create('tenant', tenantPassword, false);
    await admin.user.addProject('tenant', 'demo');
    const tenant = new HilClient({ endpoint, username: 'tenant', password: tenantPassword });

    const node = layout.nodes[0];
    const nic = node.nics[0];
    say(`The tenant allocates a free node`);
    detail(`free nodes: ${(await tenant.node.list('free')).join(', ')}`);
    await tenant.project.connectNode('demo', node.name);
    detail(`${node.name} now belongs to project demo`);

    say(`The tenant connects ${node.name}'s ${nic.name} to the provisioning network`);
    const connect = await tenant.node.connectNetwork(node.name, nic.name, layout.hilNames.provisioningNetwork);
    const action = await tenant.waitForAction(connect.status_id);
    if (action.status !== 'DONE') throw new Error(`connecting failed: ${JSON.stringify(action)}`);
    detail(`switch port ${nic.tap} is now on VLAN ${layout.spec.provisioningVlan}`);

    say('The tenant sets the boot device to pxe and power-cycles the node');
    await tenant.node.setBootdev(node.name, 'pxe');
    await tenant.node.powerCycle(node.name);
    detail(`power: ${(await tenant.node.powerStatus(node.name)).power_status}`);

    say('Waiting for the node to boot from the network and report in');
    const powered = Date.now();
    const deadline = powered + 180_000;
    let report = readReports(layout).find((r) => r.mac === nic.mac);
    while (!report) {
      if (Date.now() > deadline) throw new Error('the node did not report in within 180 s');
      await new Promise((r) => setTimeout(r, 1000));
      process.stdout.write('.');
      report = readReports(layout).find((r) => r.mac === nic.mac);
    }
    process.stdout.write('\n');
    detail(`reported in after ${((Date.now() - powered) / 1000).toFixed(1)} s: mac ${report.mac}, address ${report.ip} (from the provisioning network's DHCP)`);

    say(`The tail of ${node.name}'s console, as the tenant reads it from HIL`);
    await new Promise((r) => setTimeout(r, 1000)); // the last lines are still on their way over SOL
    for (const line of consoleTail(await tenant.node.consoleLog(node.name), 12)) detail(`| ${line}`);

    say('Tearing down');
  } finally {
    teardown();
  }
  say('Done: everything the demo made is gone');
}

if (import.meta.main) {
  main().catch((err: Error) => {
    process.stderr.write(`\ndemo failed: ${err.message}\n`);
    process.exit(1);
  });
}
