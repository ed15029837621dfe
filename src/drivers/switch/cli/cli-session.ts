/**
 * A SwitchSession over a vendor's CLI dialect (./dialect.ts), on one SSH
 * conversation (./ssh-cli.ts) for the whole session: one login, however
 * many changes.
 *
 * A batch (applyBatch; modifyPort and revertPort are one-change batches):
 *   1. reads every port it touches (dialect.readPort at the exec prompt),
 *      so a port the switch lacks fails the whole batch before anything is
 *      typed;
 *   2. computes each port's target from what was read, applying the
 *      changes in order (applyChange);
 *   3. for the ports whose target differs from what they carry, types, in
 *      configuration mode (dialect.configure … dialect.end), first
 *      dialect.prepare(VLANs needed) — before the session's first change,
 *      and again before a later one that needs VLANs not prepared yet,
 *      with those only — then dialect.portCommands for each port, in order;
 *   4. reads those ports again, and fails naming every port that does not
 *      read as wanted;
 *   5. saves (dialect.save) unless the registration says `save: false`.
 *
 * Saving is done at the end of every call, not when the session closes (as
 * upstream did): when the worker marks an action DONE, the change is both
 * applied and saved, and a worker that dies before closing the session
 * leaves nothing unsaved. A batch that failed is not saved: the action
 * ends ERROR, the switch's startup configuration still matches the last
 * change that succeeded, and verify/--fix (or the action's retry) brings
 * the port back and saves then.
 *
 * A batch whose ports already read as wanted types nothing, but still
 * saves once per session: it may be the retry of a batch that died after
 * writing those ports and before saving them, and its actions end DONE.
 *
 * Every error leaving this module is a SwitchError, with the switch's own
 * words where the switch refused something.
 */
import { HilError, SwitchError } from '../../../errors.ts';
import type { PortChange, PortNetwork, SwitchRecord, SwitchSession } from '../interface.ts';
import { applyChange, asPortNetworks, formatVlanList, NO_VLANS, sameVlans, type PortVlans } from '../port-vlans.ts';
import { CLI_SECRET_FIELDS, DEFAULT_SSH_PORT, type CliFields } from './cli-params.ts';
import { scrubSecrets } from '../../params.ts';
import type { CliDialect, RunCommand } from './dialect.ts';
import type { HostKeyStore } from './host-keys.ts';
import { SshCli } from './ssh-cli.ts';

/** What the session layer logs: the first-use host key (info), a session that broke (warn). A pino Logger fits. */
export interface CliLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CliTimeouts {
  /** Connecting, the SSH handshake, logging in and the session setup, together; default 20000 ms. */
  loginMs?: number;
  /** One command, from typing it to the prompt that ends its output; default 30000 ms. */
  commandMs?: number;
  /** Saving the configuration (slow on some switches); default 120000 ms. */
  saveMs?: number;
}

export const DEFAULT_TIMEOUTS: Required<CliTimeouts> = { loginMs: 20000, commandMs: 30000, saveMs: 120000 };

export interface CliSessionOptions<P extends CliFields = CliFields> {
  sw: SwitchRecord<P>;
  dialect: CliDialect;
  /** 'nexus switch', for messages. */
  what: string;
  hostKeys: HostKeyStore;
  log: CliLog;
  timeouts: Required<CliTimeouts>;
}

export interface CliSession extends SwitchSession {
  applyBatch(changes: PortChange[]): Promise<void>;
  /** True once a command timed out or the connection dropped: every later call fails at once. */
  readonly broken: boolean;
  /** The switch's hostname, as its prompt says. */
  readonly hostname: string;
}

/** Logs in (./ssh-cli.ts) and returns the session. */
export async function openCliSession<P extends CliFields>(o: CliSessionOptions<P>): Promise<CliSession> {
  const p = o.sw.params;
  const label = `${o.what} ${JSON.stringify(o.sw.label)}`;
  const cli = await SshCli.connect({
    host: p.hostname,
    port: p.ssh_port ?? DEFAULT_SSH_PORT,
    username: p.username,
    password: p.password,
    privateKey: p.private_key,
    label,
    hostKey: { switchId: o.sw.id, switchLabel: o.sw.label, pinned: p.host_key, store: o.hostKeys, log: o.log },
    errorPatterns: o.dialect.errorPatterns,
    sessionSetup: o.dialect.sessionSetup,
    loginTimeoutMs: o.timeouts.loginMs,
    commandTimeoutMs: o.timeouts.commandMs,
  });
  const scrub = (text: string) => scrubSecrets(text, p as unknown as Record<string, unknown>, CLI_SECRET_FIELDS);
  return new DialectSession(cli, o.dialect, label, p.save !== false, o.timeouts.saveMs, o.log, scrub);
}

const describe = (v: PortVlans) => `native ${v.native ?? 'none'}, tagged ${v.tagged.length ? formatVlanList(v.tagged) : 'none'}`;

class DialectSession implements CliSession {
  private readonly cli: SshCli;
  private readonly dialect: CliDialect;
  private readonly label: string;
  private readonly save: boolean;
  private readonly saveMs: number;
  private readonly log: CliLog;
  /** VLANs dialect.prepare was given in this session; null before the first change. */
  private prepared: Set<number> | null = null;
  /** One conversation: calls take turns. */
  private turn: Promise<unknown> = Promise.resolve();
  /** This session saved, and typed no change since: a batch with nothing to type need not save again. */
  private savedClean = false;
  private warnedBroken = false;
  private readonly run: RunCommand;

  /** Never in a message, whatever the switch or a dialect's parser put there. */
  /** Takes the registration's secrets out of a message, in every form (../../params.ts scrubSecrets). */
  private readonly scrub: (text: string) => string;

  constructor(cli: SshCli, dialect: CliDialect, label: string, save: boolean, saveMs: number, log: CliLog, scrub: (text: string) => string) {
    this.scrub = scrub;
    this.cli = cli;
    this.dialect = dialect;
    this.label = label;
    this.save = save;
    this.saveMs = saveMs;
    this.log = log;
    this.run = (command) => this.cli.run(command);
  }

  get broken(): boolean {
    return this.cli.broken;
  }

  get hostname(): string {
    return this.cli.hostname;
  }

  modifyPort(port: string, channel: string, networkId: string | null, action?: string): Promise<void> {
    return this.applyBatch([{ op: 'modify', port, channel, networkId, action }]);
  }

  revertPort(port: string, action?: string): Promise<void> {
    return this.applyBatch([{ op: 'revert', port, action }]);
  }

  applyBatch(changes: PortChange[]): Promise<void> {
    return this.inTurn(async () => {
      const ports = [...new Set(changes.map((c) => c.port))];
      const before = new Map<string, PortVlans>();
      for (const port of ports) before.set(port, await this.readPort(port));

      // A port HIL never configured starts from nothing: its default VLAN is not a network of HIL's.
      const target = new Map([...before].map(([port, read]) => [port, read.foreign ? NO_VLANS : read]));
      for (const change of changes) target.set(change.port, applyChange(target.get(change.port)!, change));
      const differing = ports.filter((port) => !sameVlans(before.get(port)!, target.get(port)!));
      if (differing.length === 0) {
        // Nothing to type, but perhaps an earlier session's unsaved work (see above).
        if (!this.savedClean) await this.saveConfiguration();
        return;
      }
      this.savedClean = false;

      await this.inConfiguration(async () => {
        await this.prepare(differing.flatMap((port) => vlansOf(target.get(port)!)));
        for (const port of differing) {
          for (const command of this.dialect.portCommands(port, before.get(port)!, target.get(port)!)) await this.run(command);
        }
      });

      const wrong: string[] = [];
      for (const port of differing) {
        const now = await this.readPort(port);
        if (!sameVlans(now, target.get(port)!)) wrong.push(`port ${port} reads ${describe(now)}, not ${describe(target.get(port)!)}`);
      }
      if (wrong.length > 0) throw new SwitchError(`${this.label}: the change did not take: ${wrong.join('; ')}`);

      await this.saveConfiguration();
    });
  }

  getPortNetworks(ports: string[]): Promise<Map<string, PortNetwork[]>> {
    return this.inTurn(async () => {
      const out = new Map<string, PortNetwork[]>();
      for (const port of ports) out.set(port, asPortNetworks(await this.readPort(port)));
      return out;
    });
  }

  /**
   * Ends the conversation now, without waiting for a call in flight (which
   * then fails): the worker closes a session whose action timed out, and a
   * hung switch must not hold it.
   */
  async close(): Promise<void> {
    await this.cli.close();
  }

  // ---------------------------------------------------------------------------

  private async readPort(port: string): Promise<PortVlans> {
    try {
      return await this.dialect.readPort(this.run, port);
    } catch (err) {
      if (err instanceof SwitchError) throw err;
      throw new SwitchError(`${this.label}: cannot read port ${port}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Runs `work` between configure and end. When the work fails and the
   * session still answers, it goes back to exec (so the session stays
   * usable), and the work's error is what the caller sees.
   */
  private async inConfiguration(work: () => Promise<void>): Promise<void> {
    await this.run(this.dialect.configure);
    try {
      await work();
    } catch (err) {
      if (!this.cli.broken) await this.run(this.dialect.end).catch(() => {});
      throw err;
    }
    await this.run(this.dialect.end);
  }

  private async prepare(vlansNeeded: number[]): Promise<void> {
    if (!this.dialect.prepare) return;
    const fresh = [...new Set(vlansNeeded)].filter((v) => !this.prepared?.has(v)).sort((a, b) => a - b);
    if (this.prepared !== null && fresh.length === 0) return;
    for (const command of this.dialect.prepare(fresh)) await this.run(command);
    this.prepared ??= new Set();
    for (const v of fresh) this.prepared.add(v);
  }

  private async saveConfiguration(): Promise<void> {
    const save = this.dialect.save;
    if (!this.save || !save) return;
    const output = await this.cli.run(save.command, { timeoutMs: this.saveMs, confirm: save.confirm });
    if (!save.success.test(output)) {
      const words = output.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ');
      throw new SwitchError(`${this.label}: saving the configuration ("${save.command}") failed: ${words || 'the switch printed nothing'}`);
    }
    this.savedClean = true;
  }

  /** Runs `work` after the calls before it, and makes whatever it throws a SwitchError. */
  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const result = this.turn.then(work).catch((err: unknown) => {
      const e = asSwitchError(err, this.label, this.scrub);
      if (this.cli.broken && !this.warnedBroken) {
        this.warnedBroken = true;
        this.log.warn({ switch: this.label, err: e.message }, 'switch session broken; it will not be reused');
      }
      throw e;
    });
    this.turn = result.catch(() => {});
    return result;
  }
}

function vlansOf(v: PortVlans): number[] {
  return v.native === null ? v.tagged : [v.native, ...v.tagged];
}

function asSwitchError(err: unknown, label: string, scrub: (text: string) => string): SwitchError {
  if (err instanceof SwitchError) {
    const clean = scrub(err.message);
    return clean === err.message ? err : new SwitchError(clean);
  }
  // A BadArgumentError from applyChange (a channel that is not a VLAN's) is the change's fault, but crosses the session boundary as what the worker expects.
  const message = err instanceof HilError || err instanceof Error ? err.message : String(err);
  return new SwitchError(scrub(`${label}: ${message}`));
}
