/**
 * A throwaway single-node Ceph cluster on loopback for the test run: one
 * ceph-mon and one memstore ceph-osd in a temporary directory, cephx on, one
 * pool initialised for RBD, and a client (`client.hil`) whose caps reach only
 * that pool. No ceph-mgr: RBD needs none (pg statistics in `ceph -s` stay
 * empty without it, which nothing here reads).
 *
 * Memstore rather than file-backed bluestore: no mkfs of a block file, and
 * the data lives in the OSD's memory (only what is written: sparse images
 * cost nothing), which is all a test cluster needs.
 *
 * The daemons run in the foreground as our children, so their PIDs are ours
 * to kill; their output goes to files in the directory (ceph-osd prints
 * harmless warnings at start), quoted in the error if the start fails.
 * Secrets stay in keyring files (mode 0600), never on a command line.
 */
import { execFile, spawn } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../../src/lab/system.ts';

export interface CephCluster {
  /** A ceph.conf for the client: the monitor's address and the client's keyring. */
  conf: string;
  pool: string;
  /** The client's id (`--id`, QEMU's `user`): `client.<clientId>`. */
  clientId: string;
  /** The client's keyring file, mode 0600. */
  keyring: string;
  /** Kills the daemons by PID and removes the directory. */
  stop(): void;
}

const BINS = ['ceph-mon', 'ceph-osd', 'ceph', 'ceph-authtool', 'monmaptool', 'rbd'];

/** Whether every program a test cluster needs is on PATH. */
export function findCephBins(): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return BINS.every((b) => dirs.some((d) => existsSync(join(d, b))));
}

const CLIENT = 'hil';
const POOL = 'hil-test';
/** How long a step of the start may take before it is an error. */
const STEP_MS = 30_000;

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: STEP_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

/** The daemons' config. Short paxos intervals: each monitor command otherwise waits about a second to be proposed. */
function clusterConf(dir: string, fsid: string, monAddr: string, portMin: number): string {
  return `[global]
fsid = ${fsid}
mon host = ${monAddr}
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
ms bind port min = ${portMin}
ms bind port max = ${portMin + 99}
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
paxos propose interval = 0.05
paxos min wait = 0.01
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
mon data = ${dir}/mon/$name
osd data = ${dir}/osd/$name
[mon]
mon cluster log file = ${dir}/log/cluster.log
keyring = ${dir}/mon.keyring
[osd]
osd objectstore = memstore
memstore device bytes = ${4 * 1024 ** 3}
# A client that died holding an image's exclusive lock (a SIGKILLed export)
# loses it when its watch times out: 30 s by default, a test's whole budget.
osd client watch timeout = 5
keyring = ${dir}/osd/$name/keyring
[client.admin]
keyring = ${dir}/admin.keyring
`;
}

/** What a client of the cluster (the rbd backend, QEMU) is given: no admin key, no daemon paths. */
function clientConf(fsid: string, monAddr: string, keyring: string): string {
  return `[global]
fsid = ${fsid}
mon host = ${monAddr}
keyring = ${keyring}
rbd default clone format = 2
`;
}

/** A new keyring file holding one generated key with these caps (ceph-authtool writes the key itself). */
async function makeKeyring(path: string, name: string, caps: Record<string, string>): Promise<void> {
  const capArgs = Object.entries(caps).flatMap(([svc, cap]) => ['--cap', svc, cap]);
  await run('ceph-authtool', ['--create-keyring', path, '--gen-key', '-n', name, ...capArgs]);
  chmodSync(path, 0o600);
}

export async function startCeph(): Promise<CephCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'hil-ceph-'));
  const pids: number[] = [];
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', stop);
    // SIGKILL: memstore keeps nothing worth a clean shutdown, and a SIGTERMed OSD takes seconds to go.
    for (const pid of [...pids].reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // Dead before their directory goes, so no daemon writes into it afterwards.
    for (const pid of pids) waitDead(pid, 3000);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  };
  // Also when the test runner ends without its teardown (an uncaught error).
  process.once('exit', stop);
  try {
    await setUp(dir, pids);
  } catch (err) {
    const logs = daemonOutput(dir);
    stop();
    throw new Error(`Ceph test cluster did not start: ${(err as Error).message}${logs}`);
  }
  return { conf: join(dir, 'client.conf'), pool: POOL, clientId: CLIENT, keyring: join(dir, `client.${CLIENT}.keyring`), stop };
}

async function setUp(dir: string, pids: number[]): Promise<void> {
  for (const sub of ['run', 'log', 'mon', 'osd/osd.0']) mkdirSync(join(dir, sub), { recursive: true });
  const fsid = randomUUID();
  const monAddr = `[v2:127.0.0.1:${await freePort()}]`;
  // The OSD binds several ports from this window and skips busy ones; below the ephemeral range freePort draws from.
  const conf = join(dir, 'ceph.conf');
  writeFileSync(conf, clusterConf(dir, fsid, monAddr, 20000 + randomInt(0, 99) * 100));
  writeFileSync(join(dir, 'client.conf'), clientConf(fsid, monAddr, join(dir, `client.${CLIENT}.keyring`)));

  // Every key is made up front and handed to the monitor at mkfs, so no `ceph auth` round trips follow.
  const monKeyring = join(dir, 'mon.keyring');
  const osdKeyring = join(dir, 'osd/osd.0/keyring');
  const clientKeyring = join(dir, `client.${CLIENT}.keyring`);
  await makeKeyring(monKeyring, 'mon.', { mon: 'allow *' });
  await makeKeyring(join(dir, 'admin.keyring'), 'client.admin', { mon: 'allow *', osd: 'allow *', mgr: 'allow *' });
  await makeKeyring(osdKeyring, 'osd.0', { mon: 'allow profile osd', osd: 'allow *' });
  await makeKeyring(clientKeyring, `client.${CLIENT}`, { mon: 'profile rbd', osd: `profile rbd pool=${POOL}` });
  for (const k of ['admin.keyring', 'osd/osd.0/keyring', `client.${CLIENT}.keyring`]) await run('ceph-authtool', [monKeyring, '--import-keyring', join(dir, k)]);

  await run('monmaptool', ['--create', '--addv', 'a', monAddr, '--fsid', fsid, join(dir, 'monmap')]);
  await run('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '--keyring', monKeyring]);
  pids.push(daemon(dir, 'ceph-mon', ['-c', conf, '-f', '-i', 'a']));

  const ceph = (...args: string[]) => run('ceph', ['-c', conf, '-n', 'client.admin', '--connect-timeout', '20', ...args]);
  const uuid = randomUUID();
  await ceph('osd', 'new', uuid, '0');
  // The monitor work goes on while the OSD makes its store and starts; both settle before
  // any error goes up, so no daemon starts after stop() ran.
  const settled = await Promise.allSettled([
    (async () => {
      await run('ceph-osd', ['-c', conf, '-i', '0', '--mkfs', '--osd-uuid', uuid]);
      pids.push(daemon(dir, 'ceph-osd', ['-c', conf, '-f', '-i', '0']));
    })(),
    (async () => {
      // Clone v2 (no protected snapshots) is what `rbd default clone format = 2` asks for.
      await ceph('osd', 'set-require-min-compat-client', 'mimic');
      await ceph('osd', 'pool', 'create', POOL, '8', '8');
    })(),
  ]);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  // Waits until the pool's placement groups are active, so the first test does not.
  await run('rbd', ['-c', conf, '-n', 'client.admin', 'pool', 'init', POOL]);
}

/**
 * Waits (synchronously: stop() runs in teardown and on process exit) until
 * the process is gone or a zombie. A zombie is dead; it stays one until Node
 * reaps it, which needs the event loop.
 */
function waitDead(pid: number, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline) {
    let state: string;
    try {
      // "pid (comm) S ...": the state follows the last ')', since comm may hold any character.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    Atomics.wait(nap, 0, 0, 10);
  }
}

/** Starts a daemon in the foreground, its output to log/<name>.out; returns its PID. */
function daemon(dir: string, file: string, args: string[]): number {
  const out = openSync(join(dir, 'log', `${file}.out`), 'a');
  try {
    const child = spawn(file, args, { stdio: ['ignore', out, out] });
    child.unref();
    if (child.pid === undefined) throw new Error(`${file} did not start`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** The end of each daemon's output, for an error message. */
function daemonOutput(dir: string): string {
  return ['ceph-mon', 'ceph-osd']
    .map((d) => {
      try {
        const lines = readFileSync(join(dir, 'log', `${d}.out`), 'utf8').split('\n').filter(Boolean);
        // An assertion's own line says more than the stack trace after it.
        const failed = lines.filter((l) => /FAILED|Caught signal|error/i.test(l)).slice(0, 3);
        const shown = failed.length ? failed : lines.slice(-5);
        return shown.length ? `\n${d}: ${shown.join('\n  ')}` : '';
      } catch {
        return '';
      }
    })
    .join('');
}
