/**
 * A throwaway Open vSwitch for tests: ovsdb-server and ovs-vswitchd (userspace
 * datapath) in a fresh temporary directory, stopped by PID at the end.
 *
 * ovs-vswitchd runs in its own network namespace (`unshare -n`): with the
 * netdev datapath every bridge and internal port is a tap device, and two
 * instances in one namespace fight over the datapath's own tap "ovs-netdev"
 * (the second instance cannot create any bridge) and over port names. The
 * namespace dies with the daemon, taking its devices along.
 *
 * Cabling: `vsctl('add-port', bridge, X, ...)` where X is a veth in the test's
 * own namespace (e.g. the host end of a test/support/netns.ts node) first
 * moves X into the switch's namespace and brings it up, so tests plug host
 * veths exactly as they would into a system-wide OVS.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { findBinary, killPid, readPid } from '../../src/lab/system.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { OVS_SCHEMA } from '../../src/lab/switch.ts';

export interface Ovs {
  dir: string;
  /** `unix:<dir>/db.sock`, for the driver's `ovsdb` field. */
  endpoint: string;
  /** Runs ovs-vsctl against this instance (waiting for ovs-vswitchd, as by default); returns trimmed stdout. */
  vsctl(...args: string[]): string;
  /** Adds a bridge with the userspace datapath. */
  addBridge(name: string): void;
  /** PID of ovs-vswitchd (tests freeze it with SIGSTOP to check the apply timeout). */
  vswitchdPid(): number;
  /** Kills both daemons and removes the directory. Safe to call twice. */
  stop(): void;
}

const BINARIES = ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'unshare'] as const;
const bin = Object.fromEntries(BINARIES.map((b) => [b, findBinary(b)])) as Record<(typeof BINARIES)[number], string | null>;

/** Why OVS tests cannot run here, or undefined when they can. */
export const skipReason: string | undefined = (() => {
  const missing = BINARIES.filter((b) => !bin[b]);
  if (missing.length) return `Open vSwitch is not installed (missing ${missing.join(', ')}; apt-get install openvswitch-switch)`;
  if (!existsSync(OVS_SCHEMA)) return `Open vSwitch schema ${OVS_SCHEMA} is missing`;
  if (process.getuid?.() !== 0) return 'Open vSwitch tests need root (ovs-vswitchd creates tap devices in a new network namespace)';
  return undefined;
})();

const running = new Set<Ovs>();
process.once('exit', () => {
  for (const o of running) o.stop();
});

/** Moves `name` into the switch's namespace if it is a veth in ours (else leaves it: an internal port, or already moved). */
function plugHostVeth(name: string, vswitchdPid: number): void {
  const show = spawnSync('ip', ['-d', '-j', 'link', 'show', 'dev', name], { encoding: 'utf8' });
  if (show.status !== 0) return;
  const kind = (JSON.parse(show.stdout) as { linkinfo?: { info_kind?: string } }[])[0]?.linkinfo?.info_kind;
  if (kind !== 'veth') return;
  execFileSync('ip', ['link', 'set', 'dev', name, 'netns', String(vswitchdPid)], { stdio: 'pipe' });
  execFileSync('nsenter', ['-t', String(vswitchdPid), '-n', 'ip', 'link', 'set', 'dev', name, 'up'], { stdio: 'pipe' });
}

export async function startOvs(): Promise<Ovs> {
  if (skipReason) throw new Error(skipReason);
  const dir = mkdtempSync(join(tmpdir(), 'hil-ovs-'));
  const env = { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir };
  const sock = join(dir, 'db.sock');
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 }).toString().trim();
  const pidFiles = [join(dir, 'ovs-vswitchd.pid'), join(dir, 'ovsdb-server.pid')];
  let stopped = false;

  const ovs: Ovs = {
    dir,
    endpoint: `unix:${sock}`,
    vsctl(...args) {
      args.forEach((a, i) => a === 'add-port' && args[i + 2] !== undefined && plugHostVeth(args[i + 2], ovs.vswitchdPid()));
      return run(bin['ovs-vsctl']!, [`--db=unix:${sock}`, '--timeout=20', ...args]);
    },
    addBridge(name) {
      ovs.vsctl('add-br', name, '--', 'set', 'bridge', name, 'datapath_type=netdev');
    },
    vswitchdPid() {
      const pid = readPid(pidFiles[0]);
      if (!pid) throw new Error('ovs-vswitchd is not running');
      return pid;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      running.delete(ovs);
      for (const f of pidFiles) {
        const pid = readPid(f);
        if (pid) killPid(pid);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(ovs);

  try {
    run(bin['ovsdb-tool']!, ['create', join(dir, 'conf.db'), OVS_SCHEMA]);
    const daemon = (name: string) => [`--pidfile=${join(dir, `${name}.pid`)}`, `--log-file=${join(dir, `${name}.log`)}`, `--unixctl=${join(dir, `${name}.ctl`)}`, '--detach'];
    run(bin['ovsdb-server']!, [join(dir, 'conf.db'), `--remote=punix:${sock}`, ...daemon('ovsdb-server')]);
    ovs.vsctl('--no-wait', 'init');
    run(bin.unshare!, ['--net', '--', bin['ovs-vswitchd']!, `unix:${sock}`, ...daemon('ovs-vswitchd')]);
    // The first vswitchd reconfiguration proves it is up and connected.
    ovs.vsctl('set', 'Open_vSwitch', '.', 'external_ids:hil-test=1');
    return ovs;
  } catch (err) {
    const logs = ['ovsdb-server.log', 'ovs-vswitchd.log'].map((f) => {
      try {
        return `--- ${f}\n${readFileSync(join(dir, f), 'utf8').slice(-2000)}`;
      } catch {
        return '';
      }
    });
    ovs.stop();
    throw new Error(`starting Open vSwitch failed: ${(err as Error).message}\n${logs.join('\n')}`);
  }
}
