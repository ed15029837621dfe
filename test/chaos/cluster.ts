/**
 * The chaos test's HIL processes: API servers (`[server] worker = false`)
 * and networking workers, each a real OS process (./hil-process.ts) on one
 * database, each in a slot that keeps its name and port across restarts.
 * Killing, pausing and restarting go through here, and so does the cleanup:
 * `shutdown` continues a paused process before killing it, and every
 * process ever started is killed, whatever happened.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../src/lab/system.ts';
import { REPO, start, type Child } from '../support/processes.ts';

export type Role = 'api' | 'worker';

export interface Slot {
  name: string;
  role: Role;
  /** The API's port (the same after every restart). */
  port?: number;
  /** The provisioning agent endpoint's port, for an API. */
  agentPort?: number;
  child?: Child;
  /** Every pid this slot has had, in order. */
  pids: number[];
  stopped: boolean;
}

export interface ClusterOptions {
  databaseUrl: string;
  dir: string;
  apis: number;
  workers: number;
  /** The shared configuration file's text, with the database left out (it comes from HIL_DATABASE_URL). */
  config: string;
}

const NODE = `${REPO}node_modules/.bin/node`;
const ENTRY = `${REPO}test/chaos/hil-process.ts`;
const READY: Record<Role, string> = { api: 'hil API server listening', worker: 'hil networking worker running' };

export class Cluster {
  readonly slots: Slot[] = [];
  readonly #o: ClusterOptions;
  readonly #configFile: string;
  /** Every process started, with the slot it was in (for the logs and the cleanup). */
  readonly #all: Array<{ slot: string; child: Child }> = [];

  private constructor(o: ClusterOptions) {
    this.#o = o;
    mkdirSync(o.dir, { recursive: true });
    this.#configFile = join(o.dir, 'hil.toml');
    writeFileSync(this.#configFile, o.config);
  }

  static async create(o: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(o);
    for (let i = 0; i < o.apis; i++) c.slots.push({ name: `api-${i}`, role: 'api', port: await freePort(), agentPort: await freePort(), pids: [], stopped: false });
    for (let i = 0; i < o.workers; i++) c.slots.push({ name: `worker-${i}`, role: 'worker', pids: [], stopped: false });
    return c;
  }

  slot(name: string): Slot {
    const s = this.slots.find((x) => x.name === name);
    if (!s) throw new Error(`no slot ${name}`);
    return s;
  }

  apiUrls(): string[] {
    return this.slots.filter((s) => s.role === 'api').map((s) => `http://127.0.0.1:${s.port}`);
  }

  /** Every pid any process of the cluster has had. */
  allPids(): number[] {
    return this.slots.flatMap((s) => s.pids);
  }

  /** Starts the slot's process and waits until it serves (or works). */
  async start(slot: Slot): Promise<void> {
    const env: Record<string, string> = { HIL_DATABASE_URL: this.#o.databaseUrl };
    if (slot.role === 'api') {
      env.HIL_LISTEN = `127.0.0.1:${slot.port}`;
      env.HIL_PROVISIONING_LISTEN = `127.0.0.1:${slot.agentPort}`;
    }
    const child = start(NODE, ['--disable-warning=ExperimentalWarning', ENTRY, slot.role, this.#configFile], env);
    slot.child = child;
    slot.stopped = false;
    slot.pids.push(child.proc.pid!);
    this.#all.push({ slot: slot.name, child });
    await child.waitFor(READY[slot.role], 60_000);
  }

  async startAll(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.start(s)));
  }

  /** SIGKILL: returns once the process is gone. */
  async kill(slot: Slot): Promise<void> {
    await slot.child!.kill('SIGKILL');
    slot.stopped = false;
  }

  pause(slot: Slot): void {
    process.kill(slot.child!.proc.pid!, 'SIGSTOP');
    slot.stopped = true;
  }

  resume(slot: Slot): void {
    process.kill(slot.child!.proc.pid!, 'SIGCONT');
    slot.stopped = false;
  }

  /** Continues paused processes, then kills every process ever started; writes their output to the directory. */
  async shutdown(): Promise<void> {
    for (const { child } of this.#all) {
      try {
        process.kill(child.proc.pid!, 'SIGCONT');
      } catch {
        // gone already
      }
    }
    await Promise.all(this.#all.map(({ child }) => child.kill('SIGKILL')));
    this.#all.forEach(({ slot, child }, i) => writeFileSync(join(this.#o.dir, `${String(i).padStart(2, '0')}-${slot}-${child.proc.pid}.log`), child.output()));
  }

  get dir(): string {
    return this.#o.dir;
  }
}
