/**
 * hil-lab: a datacenter in a box, for development and for the demo.
 *
 *   hil-lab doctor                      what the lab needs from this host, and the apt-get line
 *   hil-lab up [--nodes N] [--dir D]    build a lab and register it into HIL ($HIL_ENDPOINT, admin)
 *   hil-lab register [--dir D]          register an existing lab (after `up --no-register`)
 *   hil-lab status [--dir D] [--json]
 *   hil-lab console NODE [--dir D] [--follow]
 *   hil-lab unregister [--dir D]          remove it from HIL again
 *   hil-lab down [--dir D] [--unregister]
 *
 * The directory defaults to $HIL_LAB_DIR or ~/.local/state/hil-lab.
 * docs/lab.md explains the topology.
 */
import { closeSync, openSync, readSync, statSync, watch } from 'node:fs';
import { Command, Option } from 'commander';
import { cliOutput, runProgram, strictArguments } from './define.ts';
import { HilApiError } from '../client/index.ts';
import { installLine, labChecks, missingPackages } from '../lab/doctor.ts';
import { defaultLabDir, down, LabError, markRegistered, readState, status, up } from '../lab/lab.ts';
import { labLayout, type LabLayout } from '../lab/layout.ts';
import { nodeFiles } from '../lab/qemu.ts';
import { registerLab, unregisterLab } from '../lab/register.ts';
import { VERSION } from '../version.ts';
import { CliError, clientFromEnv } from './context.ts';
import { printJson, printTable, progress } from './output.ts';

const int = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new CliError(`${name} must be a whole number`);
  return Number(v);
};

function requireLab(dir: string): { layout: LabLayout; state: NonNullable<ReturnType<typeof readState>> } {
  const state = readState(dir);
  if (!state) throw new CliError(`no lab in ${dir} (hil-lab up --dir ${dir} makes one)`);
  return { layout: labLayout(state.spec), state };
}

async function register(dir: string): Promise<void> {
  const { layout, state } = requireLab(dir);
  const client = clientFromEnv();
  progress(`registering into ${process.env.HIL_ENDPOINT}:`);
  await registerLab(client, layout, state.bmc, (m) => progress(`  ${m}`));
  markRegistered(layout, state, process.env.HIL_ENDPOINT!);
}

async function unregister(dir: string): Promise<void> {
  const { layout } = requireLab(dir);
  progress(`unregistering from ${process.env.HIL_ENDPOINT}:`);
  const left = await unregisterLab(clientFromEnv(), layout, (m) => progress(`  ${m}`));
  for (const l of left) progress(`  left in HIL: ${l}`);
  if (left.length) process.exitCode = 1;
}

function printSummary(dir: string): void {
  const s = status(dir)!;
  process.stdout.write(`lab ${s.id} in ${s.dir} (${s.accel.toUpperCase()})
switch:        Open vSwitch bridge br0, ovsdb ${s.switch.ovsdb}
provisioning:  VLAN ${s.provisioning.vlan}, DHCP/TFTP/RA and http://10.128.0.1 in namespace ${s.provisioning.namespace}
fpbl:          ${s.provisioning.fpblSocket ? `/fpbl/ forwarded to unix:${s.provisioning.fpblSocket}` : '(not forwarded)'}
nodes:         ${s.memoryMiB} MiB RAM, ${s.diskMiB ? `a ${s.diskMiB} MiB disk (disk.raw)` : 'no disk'}
registered in: ${s.registeredIn ?? '(not registered)'}
`);
  printTable(
    ['node', 'power', 'bmc', 'nic', 'mac', 'switch port', 'reports'],
    s.nodes.flatMap((n) => n.nics.map((nic, i) => (i === 0 ? [n.name, n.power, `127.0.0.1:${n.bmcPort}`, nic.name, nic.mac, nic.port, n.reports] : ['', '', '', nic.name, nic.mac, nic.port, '']))),
  );
}

/** Prints the node's console log; with `follow`, keeps printing what it adds until interrupted. */
async function showConsole(file: string, follow: boolean): Promise<void> {
  let offset = 0;
  const drain = () => {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return; // the node has not been powered on yet
    }
    try {
      if (statSync(file).size < offset) offset = 0; // truncated
      const buf = Buffer.alloc(64 * 1024);
      let n: number;
      while ((n = readSync(fd, buf, 0, buf.length, offset)) > 0) {
        process.stdout.write(buf.subarray(0, n));
        offset += n;
      }
    } finally {
      closeSync(fd);
    }
  };
  drain();
  if (!follow) return;
  const dir = file.slice(0, file.lastIndexOf('/'));
  const watcher = watch(dir, () => drain());
  const poll = setInterval(drain, 500); // watch() may miss appends on some filesystems
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  watcher.close();
  clearInterval(poll);
}

const dirOption = () => new Option('--dir <dir>', 'the lab directory').default(defaultLabDir(), '$HIL_LAB_DIR or ~/.local/state/hil-lab');

/** doctor, up, register: checking the host and building a lab. */
function buildCommands(program: Command): void {
  program
    .command('doctor')
    .description("Check that this host has what the lab needs, and print the apt-get line for what it doesn't")
    .option('--missing-packages', 'print only the Debian packages to install, on one line (for scripts)')
    .action((o: { missingPackages?: boolean }) => {
      const checks = labChecks();
      if (o.missingPackages) {
        process.stdout.write(missingPackages(checks).join(' ') + '\n');
        return;
      }
      printTable(['', 'needs', 'from', 'detail'], checks.map((c) => [c.ok ? 'ok' : 'MISSING', c.what, c.pkg ?? '', c.detail ?? '']));
      const line = installLine(checks);
      if (line) process.stdout.write(`\nto install what is missing:\n  ${line}\n`);
      if (checks.some((c) => !c.ok)) process.exitCode = 1;
    });

  program
    .command('up')
    .description('Build a lab and register it into the HIL at $HIL_ENDPOINT (as an admin: $HIL_USERNAME, $HIL_PASSWORD)')
    .addOption(dirOption())
    .option('--nodes <n>', 'number of nodes', int('--nodes'), 2)
    .option('--nics <n>', 'NICs per node (1 or 2)', int('--nics'), 2)
    .option('--memory <mib>', 'RAM per node in MiB', int('--memory'), 256)
    .option('--prefix <name>', 'prefix of the names in HIL (<prefix>-node1, <prefix>-switch, <prefix>-provisioning)', 'lab')
    .option('--provisioning-vlan <vlan>', 'VLAN of the provisioning network', int('--provisioning-vlan'), 100)
    .option('--disk-mib <n>', "size of each node's virtio disk (disk.raw in the node's directory; 0: no disk)", int('--disk-mib'), 0)
    .option('--fpbl-socket <path>', "forward /fpbl/ on the boot server to HIL's provisioning endpoint on this unix socket (boot.ipxe then chains to it)")
    .addOption(new Option('--accel <accel>', 'QEMU accelerator').choices(['auto', 'tcg', 'kvm']).default('auto'))
    .option('--no-register', 'only build the lab; `hil-lab register` registers it later')
    .action(async (o: { dir: string; nodes: number; nics: number; memory: number; prefix: string; provisioningVlan: number; diskMib: number; fpblSocket?: string; accel: 'auto' | 'tcg' | 'kvm'; register: boolean }) => {
      if (o.register && !process.env.HIL_ENDPOINT) throw new CliError('HIL_ENDPOINT is not set: point it at a running HIL (and set HIL_USERNAME/HIL_PASSWORD of an admin), or use --no-register');
      const started = Date.now();
      await up({
        dir: o.dir,
        nodes: o.nodes,
        nics: o.nics,
        memoryMiB: o.memory,
        prefix: o.prefix,
        provisioningVlan: o.provisioningVlan,
        diskMiB: o.diskMib,
        fpblSocket: o.fpblSocket,
        accel: o.accel,
        progress: (m) => progress(`hil-lab: ${m}`),
      });
      if (o.register) {
        try {
          await register(o.dir);
        } catch (err) {
          throw new CliError(`the lab is up, but registering it failed: ${(err as Error).message}\n(fix that, then run: hil-lab register --dir ${o.dir}; or remove it: hil-lab down --dir ${o.dir})`);
        }
      }
      progress(`hil-lab: up in ${((Date.now() - started) / 1000).toFixed(1)} s; the nodes are off`);
      printSummary(o.dir);
    });

  program
    .command('register')
    .description('Register a lab into the HIL at $HIL_ENDPOINT')
    .addOption(dirOption())
    .action(async (o: { dir: string }) => {
      await register(o.dir);
      printSummary(o.dir);
    });
}

/** status, console, unregister, down: a lab that exists. */
function runCommands(program: Command): void {
  program
    .command('status')
    .description("Show the lab's parts and whether they run")
    .addOption(dirOption())
    .option('--json', 'print JSON')
    .action((o: { dir: string; json?: boolean }) => {
      requireLab(o.dir);
      if (o.json) printJson(status(o.dir));
      else printSummary(o.dir);
    });

  program
    .command('console')
    .description("Print a node's serial console as recorded since the lab came up (read-only; HIL's console is interactive)")
    .argument('<node>', 'the node, as named in HIL (e.g. lab-node1)')
    .addOption(dirOption())
    .option('-f, --follow', 'keep printing what the node writes, until Ctrl-C')
    .action(async (name: string, o: { dir: string; follow?: boolean }) => {
      const { layout } = requireLab(o.dir);
      const node = layout.nodes.find((n) => n.name === name);
      if (!node) throw new CliError(`no node ${name} in this lab (it has ${layout.nodes.map((n) => n.name).join(', ')})`);
      await showConsole(nodeFiles(node.dir).console, o.follow === true);
    });

  program
    .command('unregister')
    .description('Remove the lab from the HIL at $HIL_ENDPOINT (nodes a project still holds stay)')
    .addOption(dirOption())
    .action(async (o: { dir: string }) => unregister(o.dir));

  program
    .command('down')
    .description('Stop every process of the lab and remove its namespaces, interfaces and files')
    .addOption(dirOption())
    .option('--unregister', 'first remove the lab from the HIL at $HIL_ENDPOINT')
    .action(async (o: { dir: string; unregister?: boolean }) => {
      if (o.unregister && readState(o.dir)) await unregister(o.dir);
      const r = down(o.dir);
      process.stdout.write(`stopped ${r.processes} processes; removed namespaces: ${r.namespaces.join(' ') || 'none'}; links: ${r.links.join(' ') || 'none'}\n`);
    });
}

export function buildProgram(): Command {
  const program = cliOutput(new Command('hil-lab'))
    .description('A datacenter in a box: QEMU nodes, ipmi_sim BMCs, an Open vSwitch switch and a PXE provisioning network, driven by HIL')
    .version(`hil-lab ${VERSION}`, '--version')
    .exitOverride();

  buildCommands(program);
  runCommands(program);
  return strictArguments(program);
}

if (import.meta.main) await runProgram(buildProgram(), (err) => err instanceof HilApiError || err instanceof CliError || err instanceof LabError);
