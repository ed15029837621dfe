/**
 * Runs a vendor's emulator as a child process (./main.ts), for the tests
 * that kill a switch mid-batch (Faults.dieAfterCommands, or kill()). The
 * options, password included, go to the child on its stdin — never in its
 * arguments or environment, which `ps` shows. The child is killed when the
 * test process exits, and exits by itself when its stdin closes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { OvsBackingOptions } from './ovs-backing.ts';
import type { Faults } from './model.ts';

export interface EmulatorProcessOptions {
  ports: string[];
  username: string;
  password: string;
  /** Where the child keeps its running and startup configuration; a second child on the same file carries on from it. */
  stateFile: string;
  hostname?: string;
  /** Pass the same key to a restarted child, so that its fingerprint stays the one a driver pinned. */
  hostKey?: string;
  /** Back the emulated ports with a real OVS bridge (./ovs-backing.ts). */
  ovs?: OvsBackingOptions;
  faults?: Faults;
  /** Listen on this port (a restarted switch keeps its address); default any free one. */
  listenPort?: number;
  /** "startup": the switch was power-cycled, and comes back with its saved (startup) configuration; default: with the running one it had. */
  boot?: 'running' | 'startup';
  /** A module (absolute path or file URL) whose exports include the vendor's VendorFixture, instead of ./index.ts's VENDOR_FIXTURES (for the core's toy vendor). */
  fixtureModule?: string;
}

export interface EmulatorProcess {
  readonly port: number;
  readonly hostKeyFingerprint?: string;
  readonly pid: number;
  kill(signal?: NodeJS.Signals): void;
  /** Settles when the child has exited (code, or the signal that ended it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL if it is still there after 5 s; resolves once it is gone. */
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const running = new Set<{ kill(signal?: NodeJS.Signals): void }>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export async function startEmulatorProcess(vendor: string, o: EmulatorProcessOptions, timeoutMs = 20000): Promise<EmulatorProcess> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', MAIN], { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  // Stays open: the child takes its end as "the test process is gone".
  child.stdin!.write(`${JSON.stringify({ vendor, ...o })}\n`);

  const ready = await new Promise<{ port: number; hostKeyFingerprint?: string }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`emulator ${vendor} did not start within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}${stderr ? `\n${stderr}` : ''}`));
    };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out.slice(0, nl)));
      } catch {
        fail(new Error(`emulator ${vendor} printed ${JSON.stringify(out.slice(0, nl))} instead of its port`));
      }
    });
    void exited.then(({ code, signal }) => fail(new Error(`emulator ${vendor} exited (${signal ?? code}) before it was ready`)));
  });

  return {
    port: ready.port,
    hostKeyFingerprint: ready.hostKeyFingerprint,
    pid: child.pid!,
    exited,
    kill: (signal = 'SIGKILL') => void child.kill(signal),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
