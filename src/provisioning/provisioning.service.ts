/**
 * The provisioning service: a state machine per node, kept in the database
 * (`node_provisioning`), driven by three things:
 *
 * - the API (deploy, reclaim), which only records what is wanted;
 * - the agents on the nodes (agent-server.ts), whose reports move the state
 *   and whose answers are the next command;
 * - a tick, which moves NICs between networks through networking actions,
 *   power-cycles nodes that must PXE-boot the FPBL, and enforces every
 *   state's deadline.
 *
 * Every transition is a conditional UPDATE on the state and phase it leaves,
 * so two processes (or a retry) never apply one twice, and a restarted server
 * picks up where the rows say. docs/fast-provisioning.md has the diagram.
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BadArgumentError, BlockedError, NotFoundError, NotImplementedError, ProjectMismatchError } from '../errors.ts';
import { inTx, type CoreDeps, type Tx } from '../core/context.ts';
import { getNetwork, getNic, getNode } from '../core/lookup.ts';
import { admin, requireProjectAccess, type Principal } from '../core/principal.ts';
import type { ProvisioningRow, ProvisioningState } from '../store/schema.ts';
import { findDeployable } from '../images/image-rules.ts';
import { stepNicMoves, type NicTargets } from './nic-moves.ts';
import { mintToken, hashToken } from './tokens.ts';

/** Phases per state (the `phase` column). */
export const PHASES = {
  'booting-fpbl': ['switching', 'power-cycling', 'pxe', 'starting', 'wiping'],
  ready: ['idle'],
  deploying: ['loading', 'loaded', 'switching'],
  deployed: ['running'],
  reclaiming: ['switching', 'returning', 'starting', 'wiping'],
  error: ['failed'],
} as const satisfies Record<ProvisioningState, readonly string[]>;

export interface ProvisioningOptions {
  /** How nodes reach the agent endpoint, e.g. http://10.128.0.1 */
  url: string;
  /** The provisioning network's label. */
  network: string;
  fpblDir: string;
  bootTimeoutMs: number;
  deployTimeoutMs: number;
  returnTimeoutMs: number;
  wipeTimeoutMs: number;
  networkTimeoutMs: number;
  tickMs: number;
}

/** Power operations the service needs from the OBM use-cases. */
export interface PowerControl {
  setEnabled(p: Principal, label: string, on: boolean): Promise<void>;
  power(p: Principal, label: string, op: 'power_on' | 'power_off' | 'power_cycle', force?: boolean): Promise<unknown>;
  setBootDevice(p: Principal, label: string, bootdev: string, persistent?: boolean): Promise<unknown>;
}

export interface ProvisioningView {
  node: string;
  state: ProvisioningState;
  phase: string;
  /** How the node last went back to the FPBL: "kexec" or "power-cycle"; null before any. */
  path: string | null;
  image: string | null;
  networks: Record<string, string>;
  error: string | null;
  /** ISO times. */
  since: string;
  deadline: string | null;
  last_seen: string | null;
}

/** A report from an agent, parsed from its key=value lines. */
export type AgentReport = Record<string, string>;
export type AgentCommand = { command: string } & Record<string, string>;

const SYSTEM = admin('hil-provisioning');
/**
 * How a loaded FPBL notices it has left the provisioning network: reports
 * every 0.2 s, each given 1 s, and 3 failures in a row mean "gone" (about
 * 3.6 s). The agent's defaults (0.5 s, 2 s) took 7.5 s, half of a deploy in
 * the lab. The answer to a report never waits here, so a second is ample.
 */
const WAIT: AgentCommand = { command: 'wait', report_timeout: '1', failures: '3', interval: '0.2' };
const HOLD_MS = 20_000;
const FPBL_FILES = ['vmlinuz', 'initrd.img'] as const;

export function provisioningService(deps: CoreDeps, power: PowerControl, o: ProvisioningOptions) {
  const { db } = deps;
  const log = deps.log.child({ component: 'provisioning' });
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const changed = (nodeId: number) => changes.emit('changed', nodeId);

  // --- the FPBL files, and their checksums (computed again when a file changes) ---
  const fpblHashes = new Map<string, { mtimeMs: number; sha256: string }>();
  function fpblPath(name: string): string {
    if (!(FPBL_FILES as readonly string[]).includes(name)) throw new NotFoundError(`no FPBL file ${name}`);
    const path = join(o.fpblDir, name);
    if (!existsSync(path)) throw new NotFoundError(`the FPBL has not been built: ${path} is missing (hil-admin fpbl build)`);
    return path;
  }
  async function fpblSha256(name: string): Promise<string> {
    const path = fpblPath(name);
    const { mtimeMs } = statSync(path);
    const cached = fpblHashes.get(name);
    if (cached?.mtimeMs === mtimeMs) return cached.sha256;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    const sha256 = hash.digest('hex');
    fpblHashes.set(name, { mtimeMs, sha256 });
    return sha256;
  }

  const now = () => Date.now();

  /** Moves a row from (state, phase) to a new one; false if it was not there any more. */
  async function transition(tx: Tx, row: Pick<ProvisioningRow, 'node_id' | 'state' | 'phase'>, to: Partial<ProvisioningRow> & { state: ProvisioningState; phase: string }): Promise<boolean> {
    if (!(PHASES[to.state] as readonly string[]).includes(to.phase)) throw new Error(`${to.state} has no phase ${to.phase}`); // a bug here, not bad input
    const r = await tx
      .updateTable('node_provisioning')
      .set({ ...to, since: now() })
      .where('node_id', '=', row.node_id)
      .where('state', '=', row.state)
      .where('phase', '=', row.phase)
      .executeTakeFirst();
    const moved = Number(r.numUpdatedRows) === 1;
    if (moved) log.info({ node: row.node_id, from: `${row.state}/${row.phase}`, to: `${to.state}/${to.phase}`, error: to.error ?? undefined }, 'provisioning state');
    return moved;
  }

  async function provisioningNetworkId(tx: Tx): Promise<number> {
    const net = await tx.selectFrom('network').select('id').where('label', '=', o.network).executeTakeFirst();
    if (!net) throw new NotFoundError(`the provisioning network "${o.network}" does not exist`);
    return net.id;
  }

  async function view(tx: Tx, nodeId: number): Promise<ProvisioningView> {
    const row = await tx
      .selectFrom('node_provisioning')
      .innerJoin('node', 'node.id', 'node_provisioning.node_id')
      .leftJoin('image', 'image.id', 'node_provisioning.image_id')
      .selectAll('node_provisioning')
      .select(['node.label as node', 'image.label as image'])
      .where('node_provisioning.node_id', '=', nodeId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('The provisioning service does not hold this node.');
    const iso = (t: number | null) => (t === null ? null : new Date(Number(t)).toISOString());
    return {
      node: row.node,
      state: row.state,
      phase: row.phase,
      path: row.path,
      image: row.image,
      networks: JSON.parse(row.networks) as Record<string, string>,
      error: row.error,
      since: iso(row.since)!,
      deadline: iso(row.deadline),
      last_seen: iso(row.last_seen),
    };
  }

  // --- API use-cases ---

  /** Deploy `imageName` on a ready node of the caller's project, its NICs then on `networks`. */
  async function deploy(p: Principal, nodeLabel: string, imageName: string, networks: Record<string, string>): Promise<ProvisioningView> {
    const nodeId = await inTx(deps, async (tx) => {
      const node = await getNode(tx, nodeLabel);
      if (node.project_id === null) throw new ProjectMismatchError('Node not in project');
      requireProjectAccess(p, node.project_id);
      const row = await tx.selectFrom('node_provisioning').selectAll().where('node_id', '=', node.id).executeTakeFirst();
      if (!row) throw new BlockedError(`Node ${nodeLabel} is not held by the provisioning service (an administrator enrolls it with "hil node reclaim").`);
      if (row.state !== 'ready') throw new BlockedError(`Node ${nodeLabel} is ${row.state} (${row.phase}), not ready.`);
      const image = await findDeployable(tx, node.project_id, imageName);
      if (!image.initrd) throw new BadArgumentError(`Image ${imageName} has no initrd.`);
      const provNet = await provisioningNetworkId(tx);
      for (const [nicLabel, netLabel] of Object.entries(networks)) {
        const nic = await getNic(tx, node, nicLabel);
        if (nic.port_id === null) throw new BadArgumentError(`Nic ${nicLabel} is not connected to a switch port.`);
        const net = await getNetwork(tx, netLabel);
        if (net.id === provNet) throw new BadArgumentError('A deployed node cannot stay on the provisioning network.');
        const access = await tx.selectFrom('network_access').select('project_id').where('network_id', '=', net.id).execute();
        if (access.length && !access.some((a) => a.project_id === node.project_id)) {
          throw new ProjectMismatchError(`Project does not have access to network ${netLabel}.`);
        }
      }
      const moved = await transition(tx, row, {
        state: 'deploying',
        phase: 'loading',
        image_id: image.id,
        networks: JSON.stringify(networks),
        error: null,
        deadline: now() + o.deployTimeoutMs,
        operation_started: now(),
      });
      if (!moved) throw new BlockedError(`Node ${nodeLabel} changed state; try again.`);
      return node.id;
    });
    changed(nodeId);
    return view(db, nodeId);
  }

  /**
   * Take a node back into the FPBL. A deployed node goes back by kexec when
   * its OS cooperates (falling back to a power cycle); any other node is
   * power-cycled into the FPBL, which is also how a node is enrolled.
   */
  async function reclaim(p: Principal, nodeLabel: string, opts: { powerCycle?: boolean } = {}): Promise<ProvisioningView> {
    const nodeId = await inTx(deps, async (tx) => {
      const node = await getNode(tx, nodeLabel);
      requireProjectAccess(p, node.project_id);
      await provisioningNetworkId(tx);
      const row = await tx.selectFrom('node_provisioning').selectAll().where('node_id', '=', node.id).executeTakeFirst();
      const start = { networks: '{}', error: null, deadline: now() + o.networkTimeoutMs, operation_started: now(), return_token_hash: null } as const;
      if (!row) {
        await tx
          .insertInto('node_provisioning')
          .values({ node_id: node.id, state: 'booting-fpbl', phase: 'switching', path: 'power-cycle', since: now(), ...start })
          .execute();
        log.info({ node: nodeLabel }, 'provisioning: enrolling');
        return node.id;
      }
      if (row.state === 'ready' || row.state === 'booting-fpbl' || (row.state === 'reclaiming' && !opts.powerCycle)) return node.id; // already there or on its way
      // The power cycle is also what an operator asks for who does not trust the customer's OS to return it.
      const kexec = row.state === 'deployed' && !opts.powerCycle;
      const moved = await transition(tx, row, {
        state: kexec ? 'reclaiming' : 'booting-fpbl',
        phase: 'switching',
        path: kexec ? 'kexec' : 'power-cycle',
        ...start,
        // A deployed node keeps its return token (its OS needs it to come back); nothing else does.
        return_token_hash: kexec ? row.return_token_hash : null,
        fpbl_token_hash: kexec ? null : row.fpbl_token_hash,
      });
      if (!moved) throw new BlockedError(`Node ${nodeLabel} changed state; try again.`);
      return node.id;
    });
    changed(nodeId);
    kick();
    return view(db, nodeId);
  }

  async function status(p: Principal, nodeLabel: string): Promise<ProvisioningView> {
    const node = await getNode(db, nodeLabel);
    requireProjectAccess(p, node.project_id);
    return view(db, node.id);
  }

  // --- the agents' side ---

  async function rowByToken(token: string): Promise<{ row: ProvisioningRow; kind: 'fpbl' | 'return' } | null> {
    const h = hashToken(token);
    const row = await db.selectFrom('node_provisioning').selectAll().where((eb) => eb.or([eb('fpbl_token_hash', '=', h), eb('return_token_hash', '=', h)])).executeTakeFirst();
    if (!row) return null;
    return { row, kind: row.fpbl_token_hash === h ? 'fpbl' : 'return' };
  }

  async function macOf(nodeId: number, reported?: string): Promise<string> {
    const nics = await db.selectFrom('nic').select('macaddr').where('node_id', '=', nodeId).where('port_id', 'is not', null).orderBy('id').execute();
    const macs = nics.map((n) => (n.macaddr ?? '').toLowerCase()).filter(Boolean);
    return reported && macs.includes(reported.toLowerCase()) ? reported.toLowerCase() : (macs[0] ?? '');
  }

  /** The iPXE script for a NIC's MAC, when its node is waiting to PXE-boot the FPBL (one token per boot). */
  async function bootScript(mac: string): Promise<string | null> {
    const m = mac.toLowerCase();
    const nic = await db
      .selectFrom('nic')
      .innerJoin('node_provisioning', 'node_provisioning.node_id', 'nic.node_id')
      .select(['nic.node_id'])
      .where((eb) => eb(eb.fn('lower', ['nic.macaddr']), '=', m))
      .where('node_provisioning.state', '=', 'booting-fpbl')
      .where('node_provisioning.phase', '=', 'pxe')
      .executeTakeFirst();
    if (!nic) return null;
    const { token, hash } = mintToken();
    const row = { node_id: nic.node_id, state: 'booting-fpbl' as const, phase: 'pxe' };
    const moved = await inTx(deps, (tx) => transition(tx, row, { state: 'booting-fpbl', phase: 'starting', fpbl_token_hash: hash, deadline: now() + o.bootTimeoutMs }));
    if (!moved) return null;
    changed(nic.node_id);
    const base = `${o.url}/fpbl/v1/fpbl`;
    return `#!ipxe
kernel ${base}/vmlinuz initrd=initrd.img ${fpblCmdline(token, m)}
initrd ${base}/initrd.img
boot
`;
  }

  const fpblCmdline = (token: string, mac: string) => `console=ttyS0,115200 quiet hil.url=${o.url} hil.token=${token} hil.mac=${mac}`;

  /**
   * An agent's report: applies what it says to the node's state, then answers
   * with the next command (holding an idle FPBL up to 20 s, so that a
   * command reaches it at once). null: the token is not valid.
   */
  async function agentReport(token: string, report: AgentReport, signal: AbortSignal): Promise<AgentCommand | null> {
    const found = await rowByToken(token);
    if (!found) return null;
    const { kind } = found;
    const nodeId = found.row.node_id;
    await db
      .updateTable('node_provisioning')
      .set({ last_seen: now(), ...(kind === 'fpbl' && report.ip ? { ip: report.ip } : {}), ...(kind === 'fpbl' && report.boot_id ? { boot_id: report.boot_id } : {}) })
      .where('node_id', '=', nodeId)
      .execute();
    if (kind === 'return') return returnCommand(found.row, report);
    await applyFpblReport(found.row, report);
    const deadline = now() + HOLD_MS;
    for (;;) {
      const row = await db.selectFrom('node_provisioning').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
      if (!row || row.fpbl_token_hash !== hashToken(token)) return { command: 'none' }; // the node is not this FPBL's any more
      const command = await fpblCommand(row, report);
      if (command.command !== 'none' || now() >= deadline || signal.aborted) return command;
      await waitForChange(nodeId, deadline - now(), signal);
    }
  }

  /** What an FPBL's report moves its node to, if anything. */
  function afterFpblReport(row: ProvisioningRow, report: AgentReport): (Partial<ProvisioningRow> & { state: ProvisioningState; phase: string }) | null {
    const s = report.state;
    const why = report.error ?? 'no reason given';
    if (s === 'fresh' && row.phase === 'starting') {
      // The FPBL runs: the customer OS that returned the node is gone, and its token with it.
      return { state: row.state, phase: 'wiping', deadline: now() + o.wipeTimeoutMs, return_token_hash: null };
    }
    if (row.phase === 'wiping') {
      if (s === 'wiped') return { state: 'ready', phase: 'idle', deadline: null, image_id: null, networks: '{}', error: null, return_token_hash: null };
      if (s === 'failed') return { state: 'error', phase: 'failed', deadline: null, error: `wiping the disks failed: ${why}` };
      return null;
    }
    if (row.state !== 'deploying') return null;
    // Told to wait, but the move starts only when the agent says it heard
    // "wait" (waiting=1): moved at once, the answer could be lost on its way
    // (or the report retried), and an agent that never heard "wait" never kexecs.
    if (s === 'loaded' && row.phase === 'loading') return { state: 'deploying', phase: 'loaded' };
    if (s === 'loaded' && row.phase === 'loaded' && report.waiting === '1') return { state: 'deploying', phase: 'switching', deadline: now() + o.networkTimeoutMs };
    if (s === 'failed' && row.phase === 'loading') return { state: 'error', phase: 'failed', deadline: null, error: `the node could not load the image: ${why}` };
    return null;
  }

  async function applyFpblReport(row: ProvisioningRow, report: AgentReport): Promise<void> {
    const to = afterFpblReport(row, report);
    if (!to) return; // most reports change nothing: no transaction, no tick
    await inTx(deps, (tx) => transition(tx, row, to));
    changed(row.node_id);
    kick();
  }

  async function fpblCommand(row: ProvisioningRow, report: AgentReport): Promise<AgentCommand> {
    if (row.phase === 'wiping') return report.state === 'wiped' ? { command: 'none' } : { command: 'wipe' };
    if (row.state === 'deploying' && row.phase === 'loading') {
      if (report.state === 'failed') return { command: 'none' };
      return deployCommand(row, report);
    }
    if (row.state === 'deploying' && (row.phase === 'loaded' || row.phase === 'switching')) return WAIT;
    if (report.state === 'loaded') return { command: 'abort' }; // a load nobody wants any more
    return { command: 'none' };
  }

  /** The deploy command, with a fresh return token for the customer's OS. */
  async function deployCommand(row: ProvisioningRow, report: AgentReport): Promise<AgentCommand> {
    const image = await db.selectFrom('image').selectAll().where('id', '=', row.image_id!).executeTakeFirstOrThrow();
    const { token, hash } = mintToken();
    await db.updateTable('node_provisioning').set({ return_token_hash: hash }).where('node_id', '=', row.node_id).where('phase', '=', 'loading').execute();
    const mac = await macOf(row.node_id, report.mac);
    const hil = `hil.url=${o.url} hil.token=${token} hil.mac=${mac}${row.ip ? ` hil.ip=${row.ip}` : ''}`;
    return {
      command: 'deploy',
      kernel_url: `${o.url}/fpbl/v1/payload/kernel`,
      kernel_sha256: image.kernel_sha256!,
      initrd_url: `${o.url}/fpbl/v1/payload/initrd`,
      initrd_sha256: image.initrd_sha256!,
      cmdline: `${image.cmdline} ${hil}`.trim(),
    };
  }

  /** The return agent of a customer OS: told to kexec back into the FPBL when its node is being reclaimed. */
  async function returnCommand(row: ProvisioningRow, report: AgentReport): Promise<AgentCommand> {
    // Asked again while the FPBL has not reported (the OS could not download or
    // load it, and kept polling): the same answer, with a new FPBL token, and
    // the first deadline still running.
    // ("returning" is the OS saying it is about to jump: answering that with
    // a new token would leave the FPBL it loaded with a dead one.)
    if (report.state === 'returning') return { command: 'none' };
    if (!(row.state === 'reclaiming' && (row.phase === 'returning' || row.phase === 'starting'))) return { command: 'none' };
    const { token, hash } = mintToken();
    const [kernelSha, initrdSha] = [await fpblSha256('vmlinuz'), await fpblSha256('initrd.img')];
    const deadline = row.phase === 'returning' ? now() + o.bootTimeoutMs : row.deadline;
    const moved = await inTx(deps, (tx) => transition(tx, row, { state: 'reclaiming', phase: 'starting', path: 'kexec', fpbl_token_hash: hash, deadline }));
    if (!moved) return { command: 'none' };
    changed(row.node_id);
    const mac = await macOf(row.node_id, report.mac);
    return {
      command: 'return',
      kernel_url: `${o.url}/fpbl/v1/fpbl/vmlinuz`,
      kernel_sha256: kernelSha,
      initrd_url: `${o.url}/fpbl/v1/fpbl/initrd.img`,
      initrd_sha256: initrdSha,
      cmdline: fpblCmdline(token, mac),
    };
  }

  /** The image file a node may fetch: only its own deploy's, and only while it deploys. */
  async function payload(token: string, part: string): Promise<{ sha256: string } | 'unauthorized' | null> {
    const found = await rowByToken(token);
    if (!found || found.kind !== 'fpbl') return 'unauthorized';
    const { row } = found;
    if (row.state !== 'deploying' || row.image_id === null) return null;
    const image = await db.selectFrom('image').selectAll().where('id', '=', row.image_id).executeTakeFirst();
    const sha = part === 'kernel' ? image?.kernel_sha256 : part === 'initrd' ? image?.initrd_sha256 : null;
    return sha ? { sha256: sha } : null;
  }

  function waitForChange(nodeId: number, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        changes.off('changed', onChange);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const onChange = (id: number) => id === nodeId && done();
      // Another server process may change the row: look again every second.
      const timer = setTimeout(done, Math.min(ms, 1000));
      changes.on('changed', onChange);
      signal.addEventListener('abort', done);
    });
  }

  // --- the tick: network moves, power cycles, deadlines ---

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  /** Power cycles in flight from this process, by node (they outlive a tick): stop() waits for them. */
  const cycling = new Map<number, Promise<void>>();

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = tick()
      .catch((err: Error) => log.error({ err: err.message }, 'provisioning tick failed'))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          kick();
        }
      });
  }

  async function tick(): Promise<void> {
    const rows = await db
      .selectFrom('node_provisioning')
      .selectAll()
      .where((eb) => eb.or([eb('phase', 'in', ['switching', 'power-cycling']), eb('deadline', '<', now())]))
      .execute();
    for (const row of rows) {
      if (row.deadline !== null && Number(row.deadline) < now()) await expire(row);
      else if (row.phase === 'switching') await advanceMove(row);
      else if (row.phase === 'power-cycling') powerCycle(row);
    }
  }

  /** NIC targets: the deploy's networks, or the provisioning network for every NIC. */
  async function targets(tx: Tx, row: ProvisioningRow): Promise<NicTargets> {
    const nics = await tx.selectFrom('nic').select(['id', 'label']).where('node_id', '=', row.node_id).execute();
    const out: NicTargets = new Map();
    if (row.state === 'deploying') {
      const wanted = JSON.parse(row.networks) as Record<string, string>;
      for (const nic of nics) out.set(nic.id, wanted[nic.label] ? (await getNetwork(tx, wanted[nic.label])).id : null);
    } else {
      const prov = await provisioningNetworkId(tx);
      for (const nic of nics) out.set(nic.id, prov);
    }
    return out;
  }

  async function advanceMove(row: ProvisioningRow): Promise<void> {
    const queued = await inTx(deps, async (tx) => {
      const current = await tx.selectFrom('node_provisioning').selectAll().where('node_id', '=', row.node_id).executeTakeFirst();
      if (!current || current.state !== row.state || current.phase !== 'switching') return 0;
      const progress = await stepNicMoves(tx, deps.allocator, await targets(tx, current), Number(current.operation_started ?? 0));
      if (!progress.done) {
        if (progress.failed) await transition(tx, current, { state: 'error', phase: 'failed', deadline: null, error: progress.failed });
        return progress.queued;
      }
      if (current.state === 'deploying') {
        // The FPBL sees the provisioning network go and kexecs into the image.
        await transition(tx, current, { state: 'deployed', phase: 'running', deadline: null, fpbl_token_hash: null });
      } else if (current.state === 'reclaiming') {
        await transition(tx, current, { state: 'reclaiming', phase: 'returning', deadline: now() + o.returnTimeoutMs });
      } else {
        await transition(tx, current, { state: 'booting-fpbl', phase: 'power-cycling', deadline: now() + o.bootTimeoutMs });
      }
      return progress.queued;
    });
    if (queued) deps.actionsQueued();
    changed(row.node_id);
  }

  /** Past its deadline: fall back to a power cycle where one can help, else error. */
  async function expire(row: ProvisioningRow): Promise<void> {
    const late = `${row.state}/${row.phase} took longer than allowed`;
    await inTx(deps, async (tx) => {
      if (row.state === 'reclaiming' && (row.phase === 'returning' || row.phase === 'starting')) {
        // The customer's OS did not come back by itself: the out-of-band path.
        await transition(tx, row, { state: 'booting-fpbl', phase: 'power-cycling', path: 'power-cycle', return_token_hash: null, fpbl_token_hash: null, deadline: now() + o.bootTimeoutMs, error: null });
      } else {
        await transition(tx, row, { state: 'error', phase: 'failed', deadline: null, error: late });
      }
    });
    changed(row.node_id);
  }

  /** Boot device PXE and a power cycle, so that the node comes up in the FPBL (OBM enabled just for this if it was off). */
  function powerCycle(row: ProvisioningRow): void {
    if (cycling.has(row.node_id) || stopped) return;
    const work = (async () => {
      const node = await db.selectFrom('node').select(['label', 'obm_enabled']).where('id', '=', row.node_id).executeTakeFirstOrThrow();
      const wasEnabled = Boolean(node.obm_enabled);
      try {
        if (!wasEnabled) await power.setEnabled(SYSTEM, node.label, true);
        await power.setBootDevice(SYSTEM, node.label, 'pxe', true);
        await power.power(SYSTEM, node.label, 'power_off');
        await power.power(SYSTEM, node.label, 'power_on');
        await inTx(deps, (tx) => transition(tx, row, { state: row.state, phase: 'pxe', deadline: now() + o.bootTimeoutMs }));
      } catch (err) {
        await inTx(deps, (tx) => transition(tx, row, { state: 'error', phase: 'failed', deadline: null, error: `power-cycling into the FPBL failed: ${(err as Error).message}` }));
      } finally {
        if (!wasEnabled) await power.setEnabled(SYSTEM, node.label, false).catch(() => {});
        changed(row.node_id);
      }
    })().catch((err: Error) => log.error({ node: row.node_id, err: err.message }, 'power cycle bookkeeping failed'));
    cycling.set(row.node_id, work);
    void work.finally(() => cycling.delete(row.node_id));
  }

  return {
    deploy,
    reclaim,
    status,
    bootScript,
    agentReport,
    payload,
    fpblFile: fpblPath,
    start(): void {
      timer = setInterval(kick, o.tickMs);
      kick();
    },
    /** Stops the tick and waits for what it started; a power cycle under way is finished (bounded by the OBM timeout). */
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(timer);
      await running;
      await Promise.allSettled([...cycling.values()]);
    },
  };
}

export type ProvisioningService = ReturnType<typeof provisioningService>;

/** For services that run whether or not provisioning is enabled. */
export function provisioningDisabled(): never {
  throw new NotImplementedError('Fast provisioning is not enabled on this HIL ([provisioning] enabled = true).');
}
