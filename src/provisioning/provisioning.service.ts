/**
 * The provisioning service: a state machine per node (machine.ts), kept in
 * the database (`node_provisioning`, rows.ts), driven by three things:
 *
 * - the API (deploy, reclaim, here), which only records what is wanted;
 * - the agents on the nodes (agent-protocol.ts, served by agent-server.ts),
 *   whose reports move the state and whose answers are the next command;
 * - the tick (tick.ts), which moves NICs between networks, power-cycles
 *   nodes that must PXE-boot the FPBL, and enforces every state's deadline.
 *
 * docs/fast-provisioning.md has the diagram.
 */
import { BadArgumentError, BlockedError, NotFoundError, NotImplementedError, ProjectMismatchError } from '../errors.ts';
import { inTx, type CoreDeps, type Tx } from '../core/context.ts';
import { getNetwork, getNic, getNode } from '../core/lookup.ts';
import { requireProjectAccess, type Principal } from '../core/principal.ts';
import type { NodeRow, ProvisioningState } from '../store/schema.ts';
import { findDeployable } from '../images/image-rules.ts';
import { requireNetworkAccess } from '../core/network-access.ts';
import { AgentProtocol } from './agent-protocol.ts';
import { NodeChanges } from './changes.ts';
import type { Diskless, ProvisioningContext, ProvisioningOptions } from './context.ts';
import { canDeploy, enrollment, next } from './machine.ts';
import type { PowerControl } from './power-cycles.ts';
import { insertRow, provisioningNetworkId, rowOfNode, transition } from './rows.ts';
import { ProvisioningTick } from './tick.ts';
import { afterRelease, releaseBootDisk } from './boot-release.ts';

export type { ProvisioningOptions } from './context.ts';
export type { PowerControl } from './power-cycles.ts';

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

export function provisioningService(deps: CoreDeps, power: PowerControl, o: ProvisioningOptions, diskless: Diskless) {
  // The tick is built after the context it reads; the context's kick reaches it only once both exist.
  const ctx: ProvisioningContext = { deps, diskless, o, log: deps.log.child({ component: 'provisioning' }), changes: new NodeChanges(), kick: () => tick.kick() };
  const tick = new ProvisioningTick(ctx, power);
  const agents = new AgentProtocol(ctx);
  return {
    deploy: (p: Principal, node: string, image: string, networks: Record<string, string>, disk?: string) =>
      disk === undefined ? deploy(ctx, p, node, image, networks) : deployDisk(ctx, p, node, image, networks, disk),
    reclaim: (p: Principal, node: string, opts: ReclaimOptions = {}) => reclaim(ctx, p, node, opts),
    status: (p: Principal, node: string) => status(ctx, p, node),
    bootScript: (mac: string) => agents.bootScript(mac),
    agentReport: (token: string, report: Record<string, string>, signal: AbortSignal) => agents.report(token, report, signal),
    payload: (token: string, part: string) => agents.payload(token, part),
    blob: (token: string, sha256: string) => agents.blob(token, sha256),
    fpblFile: (name: string) => agents.fpblFile(name),
    start: () => tick.start(),
    /** Runs the tick now (a networking action it may wait for has ended). */
    kick: () => tick.kick(),
    /** Stops the tick and waits for what it started; a power cycle under way is finished (bounded by the OBM timeout). */
    stop: () => tick.stop(),
  };
}

export type ProvisioningService = ReturnType<typeof provisioningService>;

/** For services that run whether or not provisioning is enabled. */
export function provisioningDisabled(): never {
  throw new NotImplementedError('Fast provisioning is not enabled on this HIL ([provisioning] enabled = true).');
}

/** Deploy `imageName` on a ready node of the caller's project, its NICs then on `networks`. */
async function deploy(ctx: ProvisioningContext, p: Principal, nodeLabel: string, imageName: string, networks: Record<string, string>): Promise<ProvisioningView> {
  const nodeId = await inTx(ctx.deps, (tx) => deployInTx(tx, ctx, p, nodeLabel, imageName, networks));
  ctx.changes.changed(nodeId);
  return view(ctx.deps.db, nodeId);
}

/**
 * Deploy `imageName`'s kernel and initrd with the root filesystem on disk
 * `diskName` (made from the image if it does not exist): the disk becomes
 * the node's boot disk, exported on its project's boot network, and the
 * deploy's NIC move puts the boot NIC there instead of a tenant network.
 */
async function deployDisk(ctx: ProvisioningContext, p: Principal, nodeLabel: string, imageName: string, networks: Record<string, string>, diskName: string): Promise<ProvisioningView> {
  const { bootDisks, disks } = ctx.diskless;
  bootDisks.requireConfigured();
  // What a plain deploy refuses, refused before a disk is made (rolled back: nothing changes).
  const project = await inTx(ctx.deps, async (tx) => {
    await deployInTx(tx, ctx, p, nodeLabel, imageName, networks, { dryRun: true });
    const node = await getNode(tx, nodeLabel);
    return tx.selectFrom('project').select(['id', 'label']).where('id', '=', node.project_id!).executeTakeFirstOrThrow();
  });
  const exists = await ctx.deps.db.selectFrom('disk').select('project_id').where('label', '=', diskName).executeTakeFirst();
  if (!exists) await disks.create(p, diskName, { image: imageName, project: project.label });
  try {
    const nodeId = await bootDisks.forDeploy(p, nodeLabel, { disk: diskName }, async (tx, boot) => {
      if (networks[boot.nic] !== undefined) throw new BadArgumentError(`Nic ${boot.nic} boots from disk ${diskName} on the boot network; give "networks" other NICs.`);
      return deployInTx(tx, ctx, p, nodeLabel, imageName, { ...networks, [boot.nic]: boot.network });
    });
    ctx.changes.changed(nodeId);
    return view(ctx.deps.db, nodeId);
  } catch (err) {
    if (!exists) await disks.delete(p, diskName).catch((e: unknown) => ctx.log.warn({ disk: diskName, err: (e as Error).message }, 'provisioning: could not delete the disk of a refused deploy'));
    throw err;
  }
}

/** The deploy's checks and transition in `tx`; answers the node's id. `dryRun`: checks only. */
async function deployInTx(tx: Tx, ctx: ProvisioningContext, p: Principal, nodeLabel: string, imageName: string, networks: Record<string, string>, o: { dryRun?: boolean } = {}): Promise<number> {
  const node = await getNode(tx, nodeLabel);
  if (node.project_id === null) throw new ProjectMismatchError('Node not in project');
  requireProjectAccess(p, node.project_id);
  const row = await rowOfNode(tx, node.id);
  if (!row) throw new BlockedError(`Node ${nodeLabel} is not held by the provisioning service (an administrator enrolls it with "hil node reclaim").`);
  if (!canDeploy(row)) throw new BlockedError(`Node ${nodeLabel} is ${row.state} (${row.phase}), not ready.`);
  const image = await findDeployable(tx, node.project_id, imageName);
  if (!image.initrd) throw new BadArgumentError(`Image ${imageName} has no initrd.`);
  await checkDeployNetworks(tx, ctx, node, networks);
  if (o.dryRun) return node.id;
  const to = next(row, { type: 'deploy', imageId: image.id, networks }, ctx.o, Date.now());
  if (!to || !(await transition(tx, ctx.log, row, to))) throw new BlockedError(`Node ${nodeLabel} changed state; try again.`);
  return node.id;
}

/** Each NIC of a deploy must be cabled, and each network one the node's project may use (and not the provisioning network). */
async function checkDeployNetworks(tx: Tx, ctx: ProvisioningContext, node: NodeRow, networks: Record<string, string>): Promise<void> {
  const provNet = await provisioningNetworkId(tx, ctx.o.network);
  for (const [nicLabel, netLabel] of Object.entries(networks)) {
    const nic = await getNic(tx, node, nicLabel);
    if (nic.port_id === null) throw new BadArgumentError(`Nic ${nicLabel} is not connected to a switch port.`);
    const net = await getNetwork(tx, netLabel);
    if (net.id === provNet) throw new BadArgumentError('A deployed node cannot stay on the provisioning network.');
    await requireNetworkAccess(tx, net.id, node.project_id, `Project does not have access to network ${netLabel}.`);
  }
}

export interface ReclaimOptions {
  /** Not by kexec, whatever the node's OS could do. */
  powerCycle?: boolean;
  /** Keep the disk a deploy with a disk booted from (default: it is deleted). */
  keepDisk?: boolean;
}

/**
 * Take a node back into the FPBL. A deployed node goes back by kexec when
 * its OS cooperates (falling back to a power cycle); any other node is
 * power-cycled into the FPBL, which is also how a node is enrolled.
 *
 * A node booted from a disk stops doing so (its NIC moves to the
 * provisioning network with the others), and a disk a deploy booted is
 * deleted unless `keepDisk`. Reclaimed by kexec, its OS keeps that disk, its
 * root filesystem, until it jumps: it is asked to return through its boot
 * network's server, and the disk goes only then (boot-release.ts). Reclaimed
 * by power cycle, the disk goes at once.
 */
async function reclaim(ctx: ProvisioningContext, p: Principal, nodeLabel: string, opts: ReclaimOptions): Promise<ProvisioningView> {
  const { nodeId, released } = await inTx(ctx.deps, async (tx) => {
    const node = await getNode(tx, nodeLabel);
    requireProjectAccess(p, node.project_id);
    await provisioningNetworkId(tx, ctx.o.network);
    const row = await rowOfNode(tx, node.id);
    if (!row) {
      const released = await releaseBootDisk(ctx, tx, node.id, false);
      await insertRow(tx, node.id, enrollment(ctx.o, Date.now()));
      ctx.log.info({ node: nodeLabel }, 'provisioning: enrolling');
      return { nodeId: node.id, released };
    }
    // A boot disk on a node the service holds is a deploy's (boot_disk refuses held nodes).
    const diskless = (await tx.selectFrom('node_boot').select('node_id').where('node_id', '=', node.id).executeTakeFirst()) !== undefined;
    const to = next(row, { type: 'reclaim', powerCycle: opts.powerCycle ?? false, diskless }, ctx.o, Date.now());
    if (!to) return { nodeId: node.id, released: null }; // already there or on its way
    if (!(await transition(tx, ctx.log, row, to))) throw new BlockedError(`Node ${nodeLabel} changed state; try again.`);
    if (to.state === 'reclaiming' && diskless) {
      await tx.updateTable('node_boot').set({ delete_on_release: !opts.keepDisk }).where('node_id', '=', node.id).execute();
      return { nodeId: node.id, released: null };
    }
    return { nodeId: node.id, released: await releaseBootDisk(ctx, tx, node.id, !opts.keepDisk) };
  });
  if (released) afterRelease(ctx, released, p);
  ctx.changes.changed(nodeId);
  ctx.kick();
  return view(ctx.deps.db, nodeId);
}

async function status(ctx: ProvisioningContext, p: Principal, nodeLabel: string): Promise<ProvisioningView> {
  const node = await getNode(ctx.deps.db, nodeLabel);
  requireProjectAccess(p, node.project_id);
  return view(ctx.deps.db, node.id);
}

async function view(db: Tx, nodeId: number): Promise<ProvisioningView> {
  const row = await db
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
