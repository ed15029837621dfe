/**
 * Out-of-band management of nodes (spec §5.2.9–10). A node's OBM is either an
 * external obmd, to which power and console calls are redirected (307, as
 * upstream), or one of our built-in BMC drivers, which we call ourselves.
 * Either way the OBM must be enabled first, and disabling it cuts the console.
 */
import { BadArgumentError, BlockedError, HilError, NotImplementedError, OBMError } from '../errors.ts';
import type { CoreDeps } from './context.ts';
import { getNode } from './lookup.ts';
import { requireProjectAccess, type Principal } from './principal.ts';
import { TimeoutError } from '../util/timeout.ts';
import { BmcGate } from './bmc-gate.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { BOOT_DEVICES, type BootDevice, type ObmDriver, type ObmTarget, type PowerState } from '../drivers/bmc/interface.ts';
import { obmdIssueToken, obmdRevokeToken, type ObmdNode } from '../drivers/bmc/obmd.ts';
import type { NodeRow } from '../store/schema.ts';

/** Where an obmd-managed call must go instead: `{obmd}/<op>?token=…`. */
export interface Redirect {
  redirect: string;
}

type Resolved = { kind: 'obmd'; obmd: ObmdNode; token: string | null } | { kind: 'builtin'; driver: ObmDriver; target: ObmTarget };

export function obmService(deps: CoreDeps) {
  const { consoles } = deps;
  const gate = new BmcGate(deps.obmConcurrency);

  function resolve(node: NodeRow): Resolved {
    const params = JSON.parse(node.obm_params) as Record<string, unknown>;
    if (node.obm_type === 'obmd') {
      return { kind: 'obmd', obmd: { uri: String(params.uri), adminToken: String(params.admin_token) }, token: node.obmd_node_token };
    }
    return { kind: 'builtin', driver: deps.obms.resolve(node.obm_type), target: { nodeLabel: node.label, params } };
  }

  async function authorized(p: Principal, label: string): Promise<NodeRow> {
    const node = await getNode(deps.db, label);
    requireProjectAccess(p, node.project_id);
    return node;
  }

  async function enabled(p: Principal, label: string): Promise<{ node: NodeRow; obm: Resolved }> {
    const node = await authorized(p, label);
    if (!node.obm_enabled) throw new BlockedError('OBM is not enabled');
    return { node, obm: resolve(node) };
  }

  /**
   * Runs a built-in driver call through the gate (one call per BMC at a time,
   * a global bound, the OBM timeout). Calls that are safe to repeat are
   * retried after a quick failure (flaky BMCs), never after a timeout: the
   * caller was promised an answer within the timeout.
   */
  async function call<T>(node: NodeRow, what: string, work: () => Promise<T>, o: { repeatable: boolean }): Promise<T> {
    const attempts = o.repeatable ? 1 + deps.obmRetries : 1;
    for (let n = 1; ; n++) {
      try {
        return await gate.run(node.label, deps.obmTimeoutMs, `${what} on node ${node.label}`, work);
      } catch (err) {
        if (err instanceof HilError && !(err instanceof OBMError)) throw err;
        const timedOut = err instanceof TimeoutError;
        deps.log.warn({ node: node.label, op: what, attempt: n, err: (err as Error).message }, 'OBM call failed');
        if (timedOut || n >= attempts) throw new OBMError(`${what} failed on node ${node.label}: ${(err as Error).message}`, { cause: err });
        await sleep(100 * n);
      }
    }
  }

  function noConsole(obm: Extract<Resolved, { kind: 'builtin' }>): void {
    if (obm.driver.hasConsole === false) throw new NotImplementedError(`The ${obm.driver.type} BMC driver offers no serial console.`);
  }

  function redirect(obm: Extract<Resolved, { kind: 'obmd' }>, op: string): Redirect {
    return { redirect: `${obm.obmd.uri}/${op}?token=${encodeURIComponent(obm.token ?? '')}` };
  }

  function holdConsole(node: NodeRow, obm: Extract<Resolved, { kind: 'builtin' }>) {
    const { driver, target } = obm;
    if (driver.hasConsole === false) return;
    consoles.start(node.id, node.project_id, (signal) => driver.openConsole?.(target, signal) ?? { output: driver.console(target, signal) });
  }

  return {
    async setEnabled(p: Principal, label: string, on: boolean): Promise<void> {
      const node = await authorized(p, label);
      const obm = resolve(node);
      let token: string | null = null;
      if (obm.kind === 'obmd') {
        if (on) token = await obmdIssueToken(obm.obmd, deps.obmTimeoutMs);
        else await obmdRevokeToken(obm.obmd, deps.obmTimeoutMs);
      }
      if (obm.kind === 'builtin') {
        if (on) holdConsole(node, obm);
        else consoles.stop(node.id); // disabling cuts the console, as upstream
      }
      await deps.db.updateTable('node').set({ obm_enabled: on, obmd_node_token: token }).where('id', '=', node.id).execute();
    },

    async power(p: Principal, label: string, op: 'power_on' | 'power_off' | 'power_cycle', force = false): Promise<Redirect | void> {
      const { node, obm } = await enabled(p, label);
      if (obm.kind === 'obmd') return redirect(obm, op);
      const { driver, target } = obm;
      if (op === 'power_cycle') await call(node, 'power cycle', () => driver.powerCycle(target, force), { repeatable: false });
      else await call(node, op.replace('_', ' '), () => driver.setPower(target, op === 'power_on' ? 'on' : 'off'), { repeatable: true });
    },

    async powerStatus(p: Principal, label: string): Promise<Redirect | { power_status: PowerState }> {
      const { node, obm } = await enabled(p, label);
      if (obm.kind === 'obmd') return redirect(obm, 'power_status');
      const { driver, target } = obm;
      return { power_status: await call(node, 'power status', () => driver.powerStatus(target), { repeatable: true }) };
    },

    async setBootDevice(p: Principal, label: string, bootdev: string, persistent = true): Promise<Redirect | void> {
      const { node, obm } = await enabled(p, label);
      if (obm.kind === 'obmd') return redirect(obm, 'boot_device');
      if (!(BOOT_DEVICES as readonly string[]).includes(bootdev)) {
        throw new BadArgumentError(`Boot device ${JSON.stringify(bootdev)} is not one of ${BOOT_DEVICES.join(', ')}.`);
      }
      const { driver, target } = obm;
      await call(node, 'set boot device', () => driver.setBootDevice(target, bootdev as BootDevice, persistent), { repeatable: true });
    },

    /**
     * The console stream from now on. One reader per node: a new reader
     * displaces the previous one, as obmd does. The stream ends when the
     * caller goes away, another reader arrives, or the OBM is disabled.
     */
    async console(p: Principal, label: string, callerSignal: AbortSignal): Promise<Redirect | AsyncIterable<Uint8Array>> {
      const { node, obm } = await enabled(p, label);
      if (obm.kind === 'obmd') return redirect(obm, 'console');
      noConsole(obm);
      if (!consoles.running(node.id)) holdConsole(node, obm); // e.g. after a server restart
      return consoles.subscribe(node.id, callerSignal);
    },

    /**
     * The interactive console (WebSocket): live output, and input typed into
     * the node's serial line where the driver supports it.
     */
    async interactiveConsole(p: Principal, label: string, callerSignal: AbortSignal): Promise<{ output: AsyncIterable<Uint8Array>; write(data: Uint8Array): boolean }> {
      const { node, obm } = await enabled(p, label);
      if (obm.kind === 'obmd') throw new BadArgumentError('This node\'s console is served by obmd: use GET /v0/node/<node>/console.');
      noConsole(obm);
      if (!consoles.running(node.id)) holdConsole(node, obm);
      return { output: consoles.subscribe(node.id, callerSignal), write: (data) => consoles.write(node.id, data) };
    },

    /** The node's rolling console log, from its time in the caller's project (empty for obmd nodes). */
    async consoleLog(p: Principal, label: string): Promise<Buffer> {
      const node = await authorized(p, label);
      return consoles.log(node.id, node.project_id);
    },

    /** After a start: hold the consoles of nodes whose OBM was left enabled. */
    async resumeConsoles(): Promise<void> {
      const nodes = await deps.db.selectFrom('node').selectAll().where('obm_enabled', '=', true).where('obm_type', '!=', 'obmd').execute();
      for (const node of nodes) {
        const obm = resolve(node);
        if (obm.kind === 'builtin') holdConsole(node, obm);
      }
    },

    close(): void {
      consoles.stopAll();
    },
  };
}
