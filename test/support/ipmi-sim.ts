/**
 * A simulated BMC per node: OpenIPMI's `ipmi_sim` on 127.0.0.1 with a config
 * written here, a `chassis_control` sh script that keeps the chassis state in
 * files (power, boot, and a log of every `set`), and a TCP server standing in
 * for the node's serial port, which ipmi_sim's SOL connects to (with telnet
 * processing). Everything lives in a fresh temporary directory; stop() kills
 * ipmi_sim by PID and removes it (also done on process exit).
 *
 * The chassis script is short-lived on purpose: ipmi_sim leaks its UDP socket
 * into chassis_control children (lab-feasibility §5), which only matters for
 * children that outlive it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { bmcAnswers, IPMI_SIM_EMU, ipmiSimLanConf } from '../../src/lab/bmc.ts';
import { join } from 'node:path';

export interface BmcState {
  power: 'on' | 'off';
  /** What ipmi_sim last set: pxe, default (= disk), none, … */
  boot: string;
  /** Every `set` ipmi_sim made, in order: "power 1", "reset 1", "boot pxe", … */
  events: string[];
}

export interface Bmc {
  name: string;
  host: string;
  port: number;
  user: string;
  password: string;
  dir: string;
  pid: number;
  state(): BmcState;
  /** Writes bytes to the simulated serial line (to every SOL connection ipmi_sim has open). */
  serialWrite(data: string | Buffer): void;
  /** Number of connections ipmi_sim has made to the serial line so far. */
  serialConnections(): number;
  /** Everything ipmi_sim sent to the serial line (telnet negotiation included). */
  serialReceived(): Buffer;
  /** Whether the BMC's SOL payload is active (IPMI Get Payload Activation Status, asked with the real ipmitool). */
  solActive(): boolean;
  stop(): Promise<void>;
}

const BINARIES = ['ipmi_sim', 'ipmitool', 'script'] as const;

function have(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** Why IPMI tests cannot run here, or undefined when they can. */
export const skipReason: string | undefined = (() => {
  const missing = BINARIES.filter((b) => !have(b));
  if (missing.length) return `IPMI test tools are missing (${missing.join(', ')}; apt-get install openipmi ipmitool util-linux)`;
  return undefined;
})();

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) {
    try {
      process.kill(p.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function chassisScript(dir: string): string {
  return `#!/bin/sh
# chassis_control for ipmi_sim: <device> get <parm>... | <device> set <parm> <val>...
d='${dir}'
shift
op=$1
shift
case "$op" in
get)
  for p in "$@"; do
    case "$p" in
      power) v=$(cat "$d/power" 2>/dev/null || echo 0) ;;
      boot) v=$(cat "$d/boot" 2>/dev/null || echo default) ;;
      *) echo "invalid parameter $p"; exit 1 ;;
    esac
    echo "$p:$v"
  done ;;
set)
  while [ $# -ge 2 ]; do
    echo "$1 $2" >> "$d/events"
    case "$1" in
      power) echo "$2" > "$d/power" ;;
      reset) echo 1 > "$d/power" ;;
      shutdown) echo 0 > "$d/power" ;;
      boot) echo "$2" > "$d/boot" ;;
      *) echo "invalid parameter $1"; exit 1 ;;
    esac
    shift 2
  done ;;
*) echo "unknown operation $op"; exit 1 ;;
esac
`;
}

let guidCounter = 0;

export async function startBmc(name: string, o: { user?: string; password?: string } = {}): Promise<Bmc> {
  const user = o.user ?? 'admin';
  const password = o.password ?? `pw-${name}-${process.pid}`.slice(0, 20);
  const dir = mkdtempSync(join(tmpdir(), `hil-ipmi-${name}-`));
  const data = join(dir, 'chassis');
  mkdirSync(data);
  mkdirSync(join(dir, 'state'));

  // The serial line: ipmi_sim connects here (and reconnects) while SOL is active.
  const sockets = new Set<Socket>();
  let connections = 0;
  let received = Buffer.alloc(0);
  const serial: Server = createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('data', (d) => (received = Buffer.concat([received, d])));
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((r) => serial.listen(0, '127.0.0.1', r));
  const serialPort = (serial.address() as { port: number }).port;
  const port = await freeUdpPort();

  const script = join(dir, 'chassis.sh');
  writeFileSync(script, chassisScript(data));
  chmodSync(script, 0o755);
  const guid = (Date.now().toString(16) + (process.pid * 1000 + guidCounter++).toString(16)).padStart(32, '0').slice(-32);
  writeFileSync(
    join(dir, 'lan.conf'),
    ipmiSimLanConf({ name, port, guid, chassisControl: `${script} 0x20`, sol: `telnet:127.0.0.1:${serialPort}`, user, password }),
  );
  writeFileSync(join(dir, 'node.emu'), IPMI_SIM_EMU);

  const proc = spawn('ipmi_sim', ['-n', '-c', join(dir, 'lan.conf'), '-f', join(dir, 'node.emu'), '-s', join(dir, 'state')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));

  const stop = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => serial.close(() => r()));
    if (proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(proc.pid!, 'SIGKILL');
      } catch {
        // gone
      }
      await exited;
    }
    running.delete(proc);
    rmSync(dir, { recursive: true, force: true });
  };

  // Ready when it answers over the LAN.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`ipmi_sim exited: ${out}`);
    }
    if (bmcAnswers(port, user, password)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`ipmi_sim did not answer on 127.0.0.1:${port}: ${out}`);
    }
    await new Promise((res) => setTimeout(res, 50));
  }

  const read = (f: string) => (existsSync(join(data, f)) ? readFileSync(join(data, f), 'utf8').trim() : '');
  return {
    name,
    host: '127.0.0.1',
    port,
    user,
    password,
    dir,
    pid: proc.pid!,
    state: () => ({
      power: read('power') === '1' ? 'on' : 'off',
      boot: read('boot') || 'default',
      events: read('events').split('\n').filter(Boolean),
    }),
    serialWrite: (d) => {
      for (const s of sockets) s.write(d);
    },
    serialConnections: () => connections,
    solActive: () => {
      const r = spawnSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(port), '-U', user, '-E', 'raw', '0x06', '0x4a', '0x01'], {
        env: { ...process.env, IPMI_PASSWORD: password },
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`Get Payload Activation Status failed: ${r.stderr}`);
      return r.stdout.trim().split(/\s+/)[1] !== '00';
    },
    serialReceived: () => received,
    stop,
  };
}

/**
 * An `ipmitool` that records how it was run (its argv, whether IPMI_PASSWORD
 * was set, and its parent's command line) and then runs the real one.
 */
export function recordingIpmitool(): { path: string; calls(): string[]; remove(): void } {
  const real = spawnSync('sh', ['-c', 'command -v ipmitool'], { encoding: 'utf8' }).stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), 'hil-ipmitool-'));
  const log = join(dir, 'calls.log');
  const path = join(dir, 'ipmitool');
  writeFileSync(
    path,
    `#!/bin/sh
# One write per record: concurrent calls (SOL next to chassis commands) must not interleave.
parent=$(tr '\\0' ' ' < /proc/$PPID/cmdline)
printf 'argv: %s | env: %s | parent: %s\\n' "$*" "\${IPMI_PASSWORD:+set}" "$parent" >> '${log}'
exec '${real}' "$@"
`,
  );
  chmodSync(path, 0o755);
  return {
    path,
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
