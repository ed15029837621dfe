/**
 * The vendor-neutral half of an emulated switch: its VLAN table and ports
 * (each port a vendor-specific record, JSON-serialisable), its running and
 * startup configurations, the state file that keeps them across restarts of
 * the emulator process, the faults tests inject, and the data plane
 * (PortBacking) that is told what each port carries after every change.
 *
 * Every configuration command of every vendor goes through `change()`:
 * that is where a locked configuration refuses it, where a "hung" switch
 * stops, where a "killed" one dies after the command before (its state file
 * already written, as a real switch's data plane keeps forwarding what it
 * was told), and where the data plane follows.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { sameVlans, type PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import type { Faults, PortBacking } from './model.ts';

/** A configuration command refused because another session holds the configuration. The vendor's grammar prints its own words for it. */
export class ConfigLockedError extends Error {}

export interface Config<P> {
  vlans: number[];
  ports: Record<string, P>;
}

export interface DeviceStateOptions<P> {
  ports: string[];
  /** A port as the switch ships it (factory default). */
  freshPort: () => P;
  /** What a port carries, given the VLANs that exist: the vendor's forwarding rules (a native VLAN that does not exist carries nothing, …). */
  effective: (port: P, vlans: ReadonlySet<number>) => PortVlans;
  /** VLANs that exist on a fresh switch; default [1]. */
  defaultVlans?: number[];
  stateFile?: string;
  backing?: PortBacking;
  faults?: Faults;
}

export class DeviceState<P> {
  readonly faults: Faults;
  vlans: Set<number>;
  ports: Map<string, P>;
  #startup: string;
  /** Configuration commands applied so far, over every run on this state file (tests size "mid-batch" with it). */
  commands = 0;
  readonly #o: DeviceStateOptions<P>;
  #last = new Map<string, PortVlans>();

  constructor(o: DeviceStateOptions<P>) {
    this.#o = o;
    this.faults = o.faults ?? {};
    const fresh: Config<P> = { vlans: o.defaultVlans ?? [1], ports: Object.fromEntries(o.ports.map((p) => [p, o.freshPort()])) };
    let running = fresh;
    this.#startup = JSON.stringify(fresh);
    if (o.stateFile && existsSync(o.stateFile)) {
      const saved = JSON.parse(readFileSync(o.stateFile, 'utf8')) as { running: Config<P>; startup: Config<P>; commands?: number };
      running = saved.running;
      this.commands = saved.commands ?? 0;
      this.#startup = JSON.stringify(saved.startup);
    }
    this.vlans = new Set(running.vlans);
    this.ports = new Map(Object.entries(running.ports));
    for (const name of this.ports.keys()) this.#last.set(name, this.effective(name));
  }

  /** Pushes the current effective VLANs of every port to the data plane (once, at start). */
  async applyAll(): Promise<void> {
    await this.#o.backing?.apply(new Map([...this.ports.keys()].map((p) => [p, this.effective(p)])));
  }

  port(name: string): P | undefined {
    return this.ports.get(name);
  }

  effective(name: string): PortVlans {
    const p = this.ports.get(name);
    if (!p) throw new Error(`the emulated switch has no port ${name}`);
    return this.#o.effective(p, this.vlans);
  }

  get unsaved(): boolean {
    return JSON.stringify(this.#config()) !== this.#startup;
  }

  /**
   * Applies one configuration command's effect (`apply` mutates vlans and
   * ports, and may throw the vendor's refusal, which leaves nothing
   * changed), then writes the state file and tells the data plane.
   */
  async change(apply: () => void): Promise<void> {
    const f = this.faults;
    if (f.configLocked) throw new ConfigLockedError('configuration locked');
    if (f.hangAfterCommands !== undefined && f.hangAfterCommands-- <= 0) return new Promise<never>(() => {});
    if (f.dieAfterCommands !== undefined && f.dieAfterCommands-- <= 0) process.kill(process.pid, 'SIGKILL');
    const before = JSON.stringify(this.#config());
    try {
      apply();
    } catch (err) {
      const was = JSON.parse(before) as Config<P>;
      this.vlans = new Set(was.vlans);
      this.ports = new Map(Object.entries(was.ports));
      throw err;
    }
    this.commands++;
    this.#persist();
    const changed = new Map<string, PortVlans>();
    for (const name of this.ports.keys()) {
      const now = this.effective(name);
      if (!sameVlans(now, this.#last.get(name)!)) changed.set(name, now);
      this.#last.set(name, now);
    }
    if (changed.size) await this.#o.backing?.apply(changed);
  }

  /** copy running-config startup-config. */
  save(): void {
    this.#startup = JSON.stringify(this.#config());
    this.#persist();
  }

  #config(): Config<P> {
    return { vlans: [...this.vlans].sort((a, b) => a - b), ports: Object.fromEntries(this.ports) };
  }

  #persist(): void {
    const file = this.#o.stateFile;
    if (!file) return;
    // Written whole and renamed, so a kill between commands never leaves half a file.
    writeFileSync(`${file}.tmp`, JSON.stringify({ running: this.#config(), startup: JSON.parse(this.#startup), commands: this.commands }));
    renameSync(`${file}.tmp`, file);
  }
}

/**
 * A power cycle of the switch whose state `stateFile` keeps: it comes back
 * with its startup configuration, losing what was never saved.
 */
export function rebootFromStartup(stateFile: string): void {
  if (!existsSync(stateFile)) return;
  const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { running: unknown; startup: unknown; commands?: number };
  writeFileSync(`${stateFile}.tmp`, JSON.stringify({ ...saved, running: saved.startup }));
  renameSync(`${stateFile}.tmp`, stateFile);
}
