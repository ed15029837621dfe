/**
 * A scratch environment for a documentation file's commands, and the one
 * bash session that runs them in order.
 *
 * - The working directory is a fresh directory that looks like a checkout
 *   (symlinks to the repository's bin/, src/, node_modules/, package.json,
 *   …), so `bin/hil`, `npm start` and relative paths work as in a clone, and
 *   whatever the commands write stays there.
 * - The session has a network namespace of its own (`unshare --net`, with
 *   only its loopback), so the documentation's fixed addresses
 *   (127.0.0.1:5000, :5001) are private to it: sessions run side by side,
 *   next to other tests and servers on the host.
 * - The environment is the caller's PATH (plus the repository's bin/, as if
 *   installed: the docs also write `hil`, `hil-admin`), a HOME in the scratch
 *   directory, and no HIL_* variable: only what the docs export.
 * - Each command's output goes to a file of its own, its exit status to
 *   another; the session stops at the first command that fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary } from '../../src/lab/system.ts';
import { REPO } from '../support/processes.ts';

export interface Step {
  /** "README.md:63", or "README.md:60 (setup)". */
  where: string;
  text: string;
  /** Run in the background; the step is done when its output shows this. */
  background?: string;
  /** Run until its output shows this, then Ctrl-C (SIGINT); it must exit 0. */
  stopWhen?: string;
  /** It must fail, with output matching this (and no usage error). */
  refused?: RegExp;
  /** Its output must match this. */
  expect?: RegExp;
  timeoutSeconds?: number;
}

export interface Outcome {
  step: Step;
  /** Exit status; null: it never finished (the session timed out in it) or never started. */
  status: number | null;
  started: boolean;
  output: string;
  /** How long it took (for a background step: until it was ready). */
  seconds: number | null;
}

const CHECKOUT = ['bin', 'src', 'packages', 'node_modules', 'package.json', 'package-lock.json', 'tsconfig.json', 'hil.example.toml'];

/** What `sudo` is in the session: the real one, or, for root on a host without it, a stand-in that only resets the environment as sudo does. */
const SUDO_STAND_IN = `#!/bin/sh
# test/docs: sudo is not installed and the session is root already. Like
# sudo for root: PATH becomes Debian's secure_path; without -E the
# environment is reset (env_reset), with -E it is kept.
keep=
while [ $# -gt 0 ]; do
  case "$1" in
    -E|--preserve-env) keep=1; shift ;;
    --) shift; break ;;
    -*) echo "sudo (test stand-in): option $1 is not supported" >&2; exit 1 ;;
    *) break ;;
  esac
done
secure=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [ -n "$keep" ]; then PATH=$secure exec "$@"; fi
exec env -i PATH=$secure HOME="$HOME" TERM="\${TERM:-dumb}" LANG="\${LANG:-C.UTF-8}" USER=root LOGNAME=root SHELL=/bin/sh \\
  SUDO_USER=root SUDO_UID=0 SUDO_GID=0 SUDO_COMMAND="$*" "$@"
`;

export interface Scratch {
  dir: string;
  env: NodeJS.ProcessEnv;
  remove(): void;
}

/** Cleanups still due: a test process that ends early (a timeout, a failure) still kills its sessions and removes their labs and directories. */
const pending = new Set<() => void>();
process.once('exit', () => {
  for (const cleanup of [...pending].reverse()) cleanup(); // a session before its directory
});

export function scratchCheckout(name: string): Scratch {
  const dir = mkdtempSync(join(tmpdir(), `hil-doc-${name.replace(/[^\w]+/g, '-')}-`));
  for (const entry of CHECKOUT) symlinkSync(join(REPO, entry), join(dir, entry));
  const home = join(dir, '.home');
  const shims = join(dir, '.doc-test', 'bin');
  mkdirSync(home);
  mkdirSync(shims, { recursive: true });
  if (!findBinary('sudo') && process.getuid?.() === 0) {
    writeFileSync(join(shims, 'sudo'), SUDO_STAND_IN);
    chmodSync(join(shims, 'sudo'), 0o755);
  }
  const env: NodeJS.ProcessEnv = {
    PATH: [shims, join(REPO, 'bin'), process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(':'),
    HOME: home,
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    USER: process.env.USER ?? 'root',
    LOGNAME: process.env.LOGNAME ?? 'root',
    // npm must not look for updates of itself (there is no network here anyway).
    NO_UPDATE_NOTIFIER: '1',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
  const remove = () => {
    pending.delete(remove);
    // A lab the commands built (and did not take down, because one failed) goes first.
    for (const lab of labDirs(dir)) spawnSync(join(REPO, 'bin', 'hil-lab'), ['down', '--dir', lab], { stdio: 'ignore', timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  pending.add(remove);
  return { dir, env, remove };
}

function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // the group is gone
  }
}

/** Directories under `dir` that hold a lab (a lab.json). */
function labDirs(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    if (existsSync(join(d, 'lab.json'))) return void found.push(d);
    if (depth === 0) return;
    let entries: import('node:fs').Dirent[] = [];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory() && e.name !== 'node_modules') walk(join(d, e.name), depth - 1);
  };
  walk(dir, 5);
  return found;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The bash script of the session: each step with its output and exit status in files under `results`. */
function script(steps: Step[], results: string): string {
  const lines = [
    '# Generated by test/docs/session.ts.',
    `__R=${quote(results)}`,
    // Until `text` is in `file`, or the process `pid` is gone.
    '__doc_ready() { until grep -qF -- "$2" "$1" 2>/dev/null; do kill -0 "$3" 2>/dev/null || { grep -qF -- "$2" "$1"; return; }; sleep 0.1; done; }',
  ];
  steps.forEach((s, k) => {
    lines.push('', `# ${s.where}`, `echo ${k} > "$__R/current"; date +%s%N > "$__R/${k}.t0"`);
    const out = `>"$__R/${k}.out" 2>&1 </dev/null`;
    if (s.background) {
      // A command the docs already put in the background (`npm start &`) keeps its own `&`.
      const own = /&\s*(#.*)?$/.test(s.text);
      lines.push(`{ ${s.text}`, `} ${out}${own ? '' : ' &'}`, `__doc_ready "$__R/${k}.out" ${quote(s.background)} $!; echo $? > "$__R/${k}.rc"`);
    } else if (s.stopWhen) {
      // exec: the Ctrl-C must reach the command itself, not a subshell around it.
      lines.push(`{ exec ${s.text}`, `} ${out} &`, '__pid=$!', `__doc_ready "$__R/${k}.out" ${quote(s.stopWhen)} $__pid; __seen=$?`, 'kill -INT $__pid; wait $__pid; __rc=$?', `[ $__seen = 0 ] && echo $__rc > "$__R/${k}.rc" || echo "not-seen" > "$__R/${k}.rc"`);
    } else {
      lines.push(`{ ${s.text}`, `} ${out}; echo $? > "$__R/${k}.rc"`);
    }
    lines.push(`date +%s%N > "$__R/${k}.t1"`);
    // A step that must be refused is judged afterwards; any other failure ends the session.
    if (!s.refused) lines.push(`[ "$(cat "$__R/${k}.rc")" = 0 ] || exit 0`);
  });
  return lines.join('\n') + '\n';
}

/**
 * Runs the steps in one bash session in `scratch`, with its own network
 * namespace; resolves once it ended, or was killed for taking longer than a
 * step's timeout (default 60 s).
 */
export async function runSession(scratch: Scratch, steps: Step[]): Promise<Outcome[]> {
  const results = join(scratch.dir, '.doc-test', 'results');
  mkdirSync(results, { recursive: true });
  const file = join(scratch.dir, '.doc-test', 'session.sh');
  writeFileSync(file, script(steps, results));
  const ip = findBinary('ip') ?? 'ip';
  const ns = process.getuid?.() === 0 ? ['--net'] : ['--user', '--map-root-user', '--net'];
  const child = spawn('unshare', [...ns, '--', 'bash', '-c', `${ip} link set lo up && exec bash "$0"`, file], {
    cwd: scratch.dir,
    env: scratch.env,
    detached: true, // its own process group: servers it left in the background go with it
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = () => void killGroup(child.pid!, 'SIGKILL');
  pending.add(kill);

  const current = () => {
    try {
      return Number(readFileSync(join(results, 'current'), 'utf8'));
    } catch {
      return -1;
    }
  };
  let step = -1;
  let since = Date.now();
  let timedOut = false;
  for (let done = false; !done; ) {
    done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 200))]);
    const now = current();
    if (now !== step) [step, since] = [now, Date.now()];
    const limit = ((step >= 0 ? steps[step].timeoutSeconds : undefined) ?? 60) * 1000;
    if (!done && Date.now() - since > limit) {
      timedOut = true;
      break;
    }
  }
  // Whatever it left running in the background (servers) goes now.
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    if (!killGroup(child.pid!, signal)) break;
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  }
  pending.delete(kill);

  const read = (f: string) => {
    try {
      return readFileSync(join(results, f), 'utf8');
    } catch {
      return null;
    }
  };
  const outcomes = steps.map((s, k): Outcome => {
    const rc = read(`${k}.rc`)?.trim();
    const output = read(`${k}.out`) ?? '';
    const [t0, t1] = [read(`${k}.t0`), read(`${k}.t1`)].map((t) => (t === null ? null : Number(t) / 1e9));
    const seconds = t0 !== null && t1 !== null ? t1 - t0 : null;
    return { step: s, status: rc === undefined ? null : rc === 'not-seen' ? -1 : Number(rc), started: read(`${k}.out`) !== null, output, seconds };
  });
  if (timedOut) outcomes[step].output += `\n(timed out after ${steps[step].timeoutSeconds ?? 60} s)`;
  if (stderr.trim() && outcomes.every((o) => !o.started)) throw new Error(`the session did not start: ${stderr}`);
  return outcomes;
}
