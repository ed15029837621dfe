/**
 * The power and boot wiring of a lab node: ipmi_sim runs this as its
 * `chassis_control` program, so every IPMI chassis command lands on the
 * node's QEMU process.
 *
 *   chassis-control <node dir> get power|boot ...     prints "power:1", "boot:pxe", …
 *   chassis-control <node dir> set power 0|1 | reset 1 | shutdown 1 | boot <dev> ...
 *
 * - power 1 starts QEMU in the switch's namespace, on the node's taps (which
 *   stay there, plugged into OVS, whether the node runs or not: OVS does not
 *   pick up a tap that vanished and came back under the same name);
 * - power 0 stops QEMU;
 * - reset restarts QEMU, so that a boot device set since power-on applies, as
 *   a reset does on a real machine whose firmware asks the BMC;
 * - shutdown is an ACPI power-button press (the lab's guest ignores it, like
 *   any OS without acpid);
 * - boot is remembered and applies to every later power-on: "pxe" boots from
 *   the network, anything else from disk (the lab's nodes have none, so they
 *   stop at "No bootable device", as a diskless machine does).
 *
 * Every `set` and what came of it goes to the node's chassis.log, with times,
 * which is where the lab's benchmark takes boot times from.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import type { NodeRuntime } from './layout.ts';
import { nodeFiles, qemuArgs, qmp, type BootDevice } from './qemu.ts';
import { alive, commandLine, killPid, readPid, run } from './system.ts';

export class Chassis {
  readonly dir: string;
  readonly files: ReturnType<typeof nodeFiles>;
  readonly node: NodeRuntime;

  constructor(dir: string) {
    this.dir = dir;
    this.files = nodeFiles(dir);
    this.node = JSON.parse(readFileSync(this.files.runtime, 'utf8')) as NodeRuntime;
  }

  log(line: string): void {
    appendFileSync(this.files.events, `${new Date().toISOString()} ${line}\n`);
  }

  /** The running QEMU's PID, if any (checked against its command line: PIDs get reused). */
  qemuPid(): number | null {
    const pid = readPid(this.files.pid);
    return pid && alive(pid) && commandLine(pid).includes(this.files.pid) ? pid : null;
  }

  bootSetting(): string {
    try {
      return readFileSync(this.files.boot, 'utf8').trim() || 'default';
    } catch {
      return 'default';
    }
  }

  async powerOn(): Promise<void> {
    if (this.qemuPid()) return;
    const boot: BootDevice = this.bootSetting() === 'pxe' ? 'network' : 'disk';
    // In the switch's namespace, where the node's taps are plugged into OVS.
    run('ip', ['netns', 'exec', this.node.switchNetns, 'qemu-system-x86_64', ...qemuArgs(this.node, this.dir, boot)]);
    const pid = this.qemuPid();
    if (!pid) throw new Error('QEMU did not start');
    this.log(`powered on: boot=${boot} pid=${pid}`);
  }

  powerOff(): void {
    const pid = this.qemuPid();
    if (!pid) return;
    killPid(pid);
    this.log(`powered off: pid=${pid}`);
  }

  async set(param: string, value: string): Promise<void> {
    this.log(`set ${param} ${value}`);
    switch (param) {
      case 'power':
        return value === '1' ? this.powerOn() : this.powerOff();
      case 'reset':
        this.powerOff();
        return this.powerOn();
      case 'shutdown':
        if (this.qemuPid()) await qmp(this.files.qmp, 'system_powerdown');
        return;
      case 'boot':
        writeFileSync(this.files.boot, `${value}\n`);
        return;
      default:
        throw new Error(`unknown parameter ${param}`);
    }
  }

  get(param: string): string {
    switch (param) {
      case 'power':
        return this.qemuPid() ? '1' : '0';
      case 'boot':
        return this.bootSetting();
      default:
        throw new Error(`unknown parameter ${param}`);
    }
  }
}

async function main(argv: string[]): Promise<void> {
  const [dir, op, ...params] = argv;
  const chassis = new Chassis(dir);
  if (op === 'get') {
    for (const p of params) console.log(`${p}:${chassis.get(p)}`);
  } else if (op === 'set') {
    for (let i = 0; i + 1 < params.length; i += 2) await chassis.set(params[i], params[i + 1]);
  } else {
    throw new Error(`unknown operation ${op}`);
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((err: Error) => {
    try {
      new Chassis(process.argv[2]).log(`error: ${err.message}`);
    } catch {
      // no node directory: only stderr is left
    }
    console.error(err.message);
    process.exitCode = 1;
  });
}

/** The sh wrapper ipmi_sim runs; `node` is the Node.js binary to use. */
export function chassisControlWrapper(node: string): string {
  const script = new URL(import.meta.url).pathname;
  return `#!/bin/bash
# ipmi_sim leaks its own sockets into this program; QEMU would inherit them
# and keep the BMC's UDP port bound after ipmi_sim is gone. Close all but
# stdio (bash, because sh cannot name descriptors above 9).
for fd in $(ls /proc/$$/fd); do
  if [ "$fd" -gt 2 ]; then exec {fd}>&-; fi
done
exec '${node}' --disable-warning=ExperimentalWarning '${script}' "$@"
`;
}
