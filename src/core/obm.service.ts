/**
 * Out-of-band management of nodes (spec §5.2.9–10): power, boot device and
 * serial console, through the node's BMC type (drivers/bmc). A type HIL
 * drives itself is called here, one call per BMC at a time and bounded by
 * the OBM timeout; a type another service drives (obmd) is delegated: the
 * caller is sent there. Either way the OBM must be enabled first, and
 * disabling it cuts the console.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BadArgumentError, BlockedError, HilError, NotFoundError, NotImplementedError, OBMError, TimeoutError } from '../errors.ts';
import { BOOT_DEVICES, type BmcDriver, type BmcTarget, type BootDevice, type ManagedBmcDriver, type ObmOperation, type PowerState } from '../drivers/bmc/interface.ts';
import type { NodeRow } from '../store/schema.ts';
import { scrubSecrets } from '../drivers/params.ts';
import { countBmcTimeout, observeDriverCall } from '../metrics/process.ts';
import { KeyedLock } from '../util/keyed-lock.ts';
import { BmcGate } from './bmc-gate.ts';
import { ConsoleOwner } from './console-owner.ts';
import type { CoreDeps } from './context.ts';
import { getNode } from './lookup.ts';
import { requireProjectAccess, type Principal } from './principal.ts';
import { Service } from './service.ts';

/** The operation is done by another service, at `location` (the API answers 307). */
export class Delegated {
  readonly location: string;
  constructor(location: string) {
    this.location = location;
  }
}

interface Bmc {
  node: NodeRow;
  driver: BmcDriver;
  target: BmcTarget<unknown>;
}

type Interface = 'power' | 'boot' | 'console';
const OFFERS: Record<Interface, string> = { power: 'power control', boot: 'boot device selection', console: 'serial console' };

/** The driver's interface `k`; NotImplementedError (501) when its BMC type has none. */
function offered<K extends Interface>(bmc: Bmc, k: K): NonNullable<ManagedBmcDriver[K]> {
  const i = (bmc.driver as ManagedBmcDriver)[k];
  if (!i) throw new NotImplementedError(`The ${bmc.driver.type} BMC driver offers no ${OFFERS[k]}.`);
  return i as NonNullable<ManagedBmcDriver[K]>;
}

/**
 * `work` reporting its own duration (hil_driver_call_duration_seconds): the
 * driver's time, not the wait for the gate. A call abandoned at the timeout
 * is reported when it settles, if ever; the timeout itself is counted apart.
 */
function timed<T>(driver: string, what: string, work: () => Promise<T>): () => Promise<T> {
  const op = what.replaceAll(' ', '_');
  return async () => {
    const started = performance.now();
    let ok = false;
    try {
      const result = await work();
      ok = true;
      return result;
    } finally {
      observeDriverCall('bmc', driver, op, (performance.now() - started) / 1000, ok);
    }
  };
}

export class ObmService extends Service {
  readonly #gate: BmcGate;
  /**
   * Enables and disables of one node, one at a time: each starts or stops
   * the console and then writes the flag, so without this two of them could
   * write in one order and leave the console in the other's state.
   */
  readonly #switching = new KeyedLock();
  /** Which process holds each console, and reading it from any of them. */
  readonly #owner: ConsoleOwner;

  constructor(deps: CoreDeps) {
    super(deps);
    this.#gate = new BmcGate(deps.obmConcurrency, deps.claims);
    this.#owner = new ConsoleOwner(deps);
  }

  #bmcOf(node: NodeRow): Bmc {
    const driver = this.deps.bmcs.resolve(node.obm_type);
    const params = driver.params.parse(JSON.parse(node.obm_params) as Record<string, unknown>);
    return { node, driver, target: { nodeLabel: node.label, params } };
  }

  async #authorized(p: Principal, label: string): Promise<NodeRow> {
    const node = await getNode(this.deps.db, label);
    requireProjectAccess(p, node.project_id);
    return node;
  }

  async #enabled(p: Principal, label: string): Promise<Bmc> {
    const node = await this.#authorized(p, label);
    if (!node.obm_enabled) throw new BlockedError('OBM is not enabled');
    return this.#bmcOf(node);
  }

  #delegated(bmc: Bmc, op: ObmOperation): Delegated {
    return new Delegated(bmc.driver.delegate!.location(bmc.target, op, bmc.node.obm_token));
  }

  /**
   * Runs a driver call through the gate (one call per BMC at a time, a global
   * bound, the OBM timeout). Calls that are safe to repeat are retried after
   * a quick failure (flaky BMCs), never after a timeout: the caller was
   * promised an answer within the timeout.
   */
  async #call<T>(bmc: Bmc, what: string, work: () => Promise<T>, o: { repeatable: boolean }): Promise<T> {
    const { node } = bmc;
    const attempts = o.repeatable ? 1 + this.deps.obmRetries : 1;
    for (let n = 1; ; n++) {
      try {
        return await this.#gate.run(`bmc:${node.id}`, this.deps.obmTimeoutMs, `${what} on node ${node.label}`, timed(bmc.driver.type, what, work));
      } catch (err) {
        if (err instanceof HilError && !(err instanceof OBMError)) throw err;
        const timedOut = err instanceof TimeoutError;
        if (timedOut) countBmcTimeout(bmc.driver.type);
        // What the BMC said may echo its credentials (encoded or not): never to the caller or the log.
        const said = scrubSecrets((err as Error).message, JSON.parse(node.obm_params) as Record<string, unknown>, bmc.driver.params.secretFields);
        this.deps.log.warn({ node: node.label, op: what, attempt: n, err: said }, 'OBM call failed');
        if (timedOut || n >= attempts) throw new OBMError(`${what} failed on node ${node.label}: ${said}`);
        await sleep(100 * n);
      }
    }
  }

  /** Holds the node's console in this process unless another holds it; true when this one does. */
  async #holdConsole(bmc: Bmc): Promise<boolean> {
    const console = bmc.driver.console;
    if (!console) return false;
    return this.#owner.hold(bmc.node.id, bmc.node.project_id, (signal) => console.open(bmc.target, signal));
  }

  /** The node's console wherever it is held, held here first if nobody holds it (e.g. after a restart). */
  #consoleOf(bmc: Bmc, callerSignal: AbortSignal) {
    offered(bmc, 'console');
    const { id, project_id } = bmc.node;
    const stillWanted = async () => {
      const now = await this.deps.db.selectFrom('node').select(['obm_enabled', 'project_id']).where('id', '=', id).executeTakeFirst();
      return Boolean(now?.obm_enabled) && now?.project_id === project_id;
    };
    return this.#owner.follow(id, callerSignal, () => this.#holdConsole(bmc), stillWanted);
  }

  async setEnabled(p: Principal, label: string, on: boolean): Promise<void> {
    const release = await this.#switching.acquire(label);
    try {
      await this.#setEnabled(p, label, on);
    } finally {
      release();
    }
  }

  async #setEnabled(p: Principal, label: string, on: boolean): Promise<void> {
    const bmc = this.#bmcOf(await this.#authorized(p, label));
    const { delegate } = bmc.driver;
    let token: string | null = null;
    if (delegate) {
      if (on) token = await delegate.enable(bmc.target, this.deps.obmTimeoutMs);
      else await delegate.disable(bmc.target, this.deps.obmTimeoutMs);
    } else if (on) await this.#holdConsole(bmc);
    else await this.#owner.release(bmc.node.id); // disabling cuts the console, as upstream (a holder elsewhere stops within a heartbeat)
    // Guarded by the project the caller was checked against: a node that
    // changed hands meanwhile (detached, taken by another project) is not
    // the caller's to change any more.
    const projectId = bmc.node.project_id;
    const r = await this.deps.db
      .updateTable('node')
      .set({ obm_enabled: on, obm_token: token })
      .where('id', '=', bmc.node.id)
      .where((eb) => (projectId === null ? eb('project_id', 'is', null) : eb('project_id', '=', projectId)))
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) {
      if (on) await this.#owner.release(bmc.node.id);
      throw new BlockedError(`Node ${label} changed project meanwhile; try again.`);
    }
  }

  async power(p: Principal, label: string, op: 'power_on' | 'power_off' | 'power_cycle', force = false): Promise<Delegated | void> {
    const bmc = await this.#enabled(p, label);
    if (bmc.driver.delegate) return this.#delegated(bmc, op);
    const power = offered(bmc, 'power');
    if (op === 'power_cycle') await this.#call(bmc, 'power cycle', () => power.powerCycle(bmc.target, force), { repeatable: false });
    else await this.#call(bmc, op.replace('_', ' '), () => power.setPower(bmc.target, op === 'power_on' ? 'on' : 'off'), { repeatable: true });
  }

  async powerStatus(p: Principal, label: string): Promise<Delegated | { power_status: PowerState }> {
    const bmc = await this.#enabled(p, label);
    if (bmc.driver.delegate) return this.#delegated(bmc, 'power_status');
    const power = offered(bmc, 'power');
    return { power_status: await this.#call(bmc, 'power status', () => power.powerStatus(bmc.target), { repeatable: true }) };
  }

  async setBootDevice(p: Principal, label: string, bootdev: string, persistent = true): Promise<Delegated | void> {
    const bmc = await this.#enabled(p, label);
    if (bmc.driver.delegate) return this.#delegated(bmc, 'boot_device');
    if (!(BOOT_DEVICES as readonly string[]).includes(bootdev)) {
      throw new BadArgumentError(`Boot device ${JSON.stringify(bootdev)} is not one of ${BOOT_DEVICES.join(', ')}.`);
    }
    const boot = offered(bmc, 'boot');
    await this.#call(bmc, 'set boot device', () => boot.setBootDevice(bmc.target, bootdev as BootDevice, persistent), { repeatable: true });
  }

  /**
   * The console stream from now on. One reader per node: a new reader
   * displaces the previous one, as obmd does. The stream ends when the
   * caller goes away, another reader arrives, or the OBM is disabled.
   */
  async console(p: Principal, label: string, callerSignal: AbortSignal): Promise<Delegated | AsyncIterable<Uint8Array>> {
    const bmc = await this.#enabled(p, label);
    if (bmc.driver.delegate) return this.#delegated(bmc, 'console');
    return this.#consoleOf(bmc, callerSignal);
  }

  /**
   * The interactive console (WebSocket): live output, and input typed into
   * the node's serial line where the driver supports it.
   */
  async interactiveConsole(p: Principal, label: string, callerSignal: AbortSignal): Promise<{ output: AsyncIterable<Uint8Array>; write(data: Uint8Array): boolean }> {
    const bmc = await this.#enabled(p, label);
    if (bmc.driver.delegate) throw new BadArgumentError(`This node's console is served by ${bmc.driver.type}: use GET /v0/node/<node>/console.`);
    const output = this.#consoleOf(bmc, callerSignal);
    // Typed bytes reach the console in order, wherever it is held.
    let typing = Promise.resolve();
    const write = (data: Uint8Array) => {
      typing = typing.then(() => this.#owner.write(bmc.node.id, data)).then(() => {}, () => {});
      return true;
    };
    return { output, write };
  }

  /** The node's rolling console log, from its time in the caller's project (empty where HIL holds no console). */
  async consoleLog(p: Principal, label: string): Promise<Buffer> {
    const node = await this.#authorized(p, label);
    return this.#owner.log(node.id, node.project_id);
  }

  /**
   * At start and every heartbeat: hold the consoles of OBM-enabled nodes
   * that no process holds (their holder died, or nobody started them), let
   * go of those whose OBM was disabled through another process, and start a
   * new tenant's log where a node changed hands.
   */
  async reconcileConsoles(): Promise<void> {
    const nodes = await this.deps.db.selectFrom('node').select(['id', 'label', 'obm_type', 'project_id']).where('obm_enabled', '=', true).execute();
    const heldElsewhere = await this.#owner.heldElsewhere();
    const enabled = new Set<number>();
    for (const node of nodes) {
      if (!this.deps.bmcs.get(node.obm_type)?.console) continue;
      enabled.add(node.id);
      if (heldElsewhere.has(node.id)) continue; // only a holder's expiry or death frees it: no point asking
      if (this.#owner.keep(node.id, node.project_id)) continue; // held here already: no lock, no re-read
      await this.#reconcileOne(node.label).catch((err: Error) => this.deps.log.warn({ node: node.label, err: err.message }, 'console: could not take its claim'));
    }
    for (const id of this.#owner.heldHere().filter((held) => !enabled.has(held))) {
      const node = await this.deps.db.selectFrom('node').select('label').where('id', '=', id).executeTakeFirst();
      if (node) await this.#reconcileOne(node.label);
      else await this.#owner.release(id); // the node is gone
    }
  }

  /** One node's console made to follow its flag, in line with its enables and disables (which a stale look must not undo). */
  async #reconcileOne(label: string): Promise<void> {
    await this.#switching.run(label, async () => {
      const node = await this.deps.db.selectFrom('node').selectAll().where('label', '=', label).executeTakeFirst();
      if (!node) return;
      if (node.obm_enabled) await this.#holdConsole(this.#bmcOf(node));
      else await this.#owner.release(node.id);
    });
  }

  /** For another process relaying a console this one holds (internal route); NotFoundError when it does not hold it. */
  servedConsole(nodeId: number, signal: AbortSignal): AsyncIterable<Uint8Array> {
    if (!this.deps.consoles.running(nodeId)) throw new NotFoundError(`This process does not hold the console of node ${nodeId}.`);
    return this.deps.consoles.subscribe(nodeId, signal);
  }

  servedLog(nodeId: number, projectId: number | null): Buffer {
    return this.deps.consoles.log(nodeId, projectId);
  }

  servedWrite(nodeId: number, data: Uint8Array): boolean {
    return this.deps.consoles.write(nodeId, data);
  }

  /** Shutting down: the consoles go on in other processes at once (their readers follow them there). */
  async close(): Promise<void> {
    await this.#owner.close();
  }
}

export const obmService = (deps: CoreDeps) => new ObmService(deps);
