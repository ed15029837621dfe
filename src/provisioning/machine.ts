/**
 * The provisioning state machine, without a database: the states and their
 * phases, every transition as a function from (the row as it is, an event)
 * to where the row goes and which columns change with it, and every deadline
 * from one table of configured timeouts. docs/fast-provisioning.md has the
 * diagram and the table this follows.
 *
 * `next` answers null when the event changes nothing in the row's position;
 * what null means (ignore it, refuse the request) is the caller's to say. The
 * callers store a change with a conditional UPDATE on the (state, phase) it
 * leaves (rows.ts), so a decision made on a stale row is simply not applied.
 */
import type { ProvisioningRow, ProvisioningState } from '../store/schema.ts';
import { ServerError } from '../errors.ts';

/** Phases per state (the `phase` column). */
export const PHASES = {
  'booting-fpbl': ['switching', 'power-cycling', 'pxe', 'starting', 'wiping'],
  ready: ['idle'],
  deploying: ['loading', 'loaded', 'switching'],
  deployed: ['running'],
  reclaiming: ['switching', 'returning', 'starting', 'wiping'],
  error: ['failed'],
} as const satisfies Record<ProvisioningState, readonly string[]>;

/** Where a row is. */
export interface Position {
  state: ProvisioningState;
  phase: string;
}

/** The configured bounds on the phases that wait for a machine (milliseconds). */
export interface Timeouts {
  bootTimeoutMs: number;
  deployTimeoutMs: number;
  returnTimeoutMs: number;
  wipeTimeoutMs: number;
  networkTimeoutMs: number;
}

/** Which timeout bounds each phase; null: the phase waits for a person, however long. */
const TIMEOUT: { [S in ProvisioningState]: Record<(typeof PHASES)[S][number], keyof Timeouts | null> } = {
  'booting-fpbl': { switching: 'networkTimeoutMs', 'power-cycling': 'bootTimeoutMs', pxe: 'bootTimeoutMs', starting: 'bootTimeoutMs', wiping: 'wipeTimeoutMs' },
  ready: { idle: null },
  deploying: { loading: 'deployTimeoutMs', loaded: 'deployTimeoutMs', switching: 'networkTimeoutMs' },
  deployed: { running: null },
  reclaiming: { switching: 'networkTimeoutMs', returning: 'returnTimeoutMs', starting: 'bootTimeoutMs', wiping: 'wipeTimeoutMs' },
  error: { failed: null },
};

/** A report from an agent, parsed from its key=value lines (docs/fast-provisioning.md, agent protocol). */
export type AgentReport = Record<string, string>;
/** What answers it: a command and its keys. */
export type AgentCommand = { command: string } & Record<string, string>;

/** The row as the machine reads it. */
export type MachineRow = Position & Pick<ProvisioningRow, 'deadline' | 'fpbl_token_hash' | 'return_token_hash' | 'operation_started'>;

/** What a transition writes: the new position, its deadline, and the other columns that change with it. */
export type Change = Position & { deadline: number | null } & Partial<Pick<ProvisioningRow, 'path' | 'image_id' | 'networks' | 'error' | 'fpbl_token_hash' | 'return_token_hash' | 'operation_started'>>;

export type ProvisioningEvent =
  /** A tenant deploys an image; its NICs then go onto `networks` ({nic: network label}). */
  | { type: 'deploy'; imageId: number; networks: Record<string, string> }
  /**
   * Someone asks for the node back in its FPBL (`powerCycle`: not by kexec,
   * whatever its OS could do). `diskless`: its OS's root is on its boot
   * network, which it reaches HIL through: its NICs stay until it jumps.
   */
  | { type: 'reclaim'; powerCycle: boolean; diskless?: boolean }
  /** The node's firmware fetched its boot script, which carries a new FPBL token. */
  | { type: 'boot-script'; fpblTokenHash: string }
  /** The FPBL agent reported (`diskless`: its node still boots from a disk, so it came back through the boot network). */
  | { type: 'fpbl-report'; report: AgentReport; diskless?: boolean }
  /** A customer OS's return agent reported; answered with a return, it would carry this new FPBL token. */
  | { type: 'return-report'; report: AgentReport; fpblTokenHash: string }
  /** Every NIC is where the phase wanted it. */
  | { type: 'moved' }
  | { type: 'move-failed'; reason: string }
  /** Boot device PXE, power off, power on: done. */
  | { type: 'power-cycled' }
  | { type: 'power-cycle-failed'; reason: string }
  /** The row's deadline passed (`diskless`: the node still boots from a disk, its NICs on the boot network). */
  | { type: 'expired'; diskless?: boolean };

type EventOf<T extends ProvisioningEvent['type']> = Extract<ProvisioningEvent, { type: T }>;
/** A transition without its deadline, which `next` adds. */
type Move = Omit<Change, 'deadline'>;
type Rule<T extends ProvisioningEvent['type']> = (row: MachineRow, event: EventOf<T>, now: number) => Move | null;

const failed = (error: string): Move => ({ state: 'error', phase: 'failed', error });

/** What every way back into the FPBL starts with: nothing asked of the networks yet, no error, no return token. */
const startOver = (now: number) => ({ phase: 'switching', networks: '{}', error: null, operation_started: now, return_token_hash: null }) as const;

/** Names one deploy of a node (its start time), for the agent to echo: `deploy=` in its reports. */
export const deployId = (row: Pick<ProvisioningRow, 'operation_started'>): string | null => (row.operation_started === null ? null : String(row.operation_started));

/** Only a ready node takes a deploy. */
export const canDeploy = (row: Position): boolean => row.state === 'ready' && row.phase === 'idle';

const RULES: { [T in ProvisioningEvent['type']]: Rule<T> } = {
  deploy: (row, e, now) => (canDeploy(row) ? { state: 'deploying', phase: 'loading', image_id: e.imageId, networks: JSON.stringify(e.networks), error: null, operation_started: now } : null),

  reclaim(row, e, now) {
    if (row.state === 'ready' || row.state === 'booting-fpbl' || (row.state === 'reclaiming' && !e.powerCycle)) return null; // already there or on its way
    // The power cycle is also what an operator asks for who does not trust the customer's OS to return it.
    if (row.state === 'deployed' && !e.powerCycle) {
      // A deployed node keeps its return token (its OS needs it to come back); nothing else does.
      const back = { state: 'reclaiming', path: 'kexec', ...startOver(now), return_token_hash: row.return_token_hash, fpbl_token_hash: null } as const;
      // A diskless OS needs its boot network until it jumps: it is asked to return first, and its NICs move after.
      return e.diskless ? { ...back, phase: 'returning' } : back;
    }
    // An FPBL that still runs keeps its token until the node's next PXE boot mints another.
    return { state: 'booting-fpbl', path: 'power-cycle', ...startOver(now), fpbl_token_hash: row.fpbl_token_hash };
  },

  'boot-script': (row, e) => (row.state === 'booting-fpbl' && row.phase === 'pxe' ? { state: 'booting-fpbl', phase: 'starting', fpbl_token_hash: e.fpblTokenHash } : null),

  'fpbl-report'(row, { report, diskless }) {
    const s = report.state;
    const why = report.error ?? 'no reason given';
    // Back from a diskless OS, through its boot network: that OS is gone, so
    // its disk can go and the NICs move; the FPBL follows them (`rejoin`).
    if (s === 'fresh' && diskless && row.state === 'reclaiming' && row.phase === 'starting') return { state: 'reclaiming', phase: 'switching' };
    // The FPBL runs: the customer OS that returned the node is gone, and its token with it.
    if (s === 'fresh' && row.phase === 'starting') return { state: row.state, phase: 'wiping', return_token_hash: null };
    if (row.phase === 'wiping') {
      if (s === 'wiped') return { state: 'ready', phase: 'idle', image_id: null, networks: '{}', error: null, return_token_hash: null };
      if (s === 'failed') return failed(`wiping the disks failed: ${why}`);
      return null;
    }
    if (row.state !== 'deploying') return null;
    // Told to wait, but the move starts only when the agent says it heard
    // "wait" (waiting=1): moved at once, the answer could be lost on its way
    // (or the report retried), and an agent that never heard "wait" never kexecs.
    // An agent told "deploy, then wait" says so with its first loaded report,
    // naming the deploy (agent-protocol.ts deployId): a waiting=1 left over
    // from another load proves nothing about this one. One that will be told
    // when to jump (a deploy with a disk) says so as soon as it has the files
    // ("staged"): the move then runs while it loads them.
    const thisDeploy = report.waiting === '1' && deployId(row) !== null && report.deploy === deployId(row);
    if (s === 'staged' && row.phase === 'loading') return thisDeploy ? { state: 'deploying', phase: 'switching' } : null;
    if (s === 'loaded' && row.phase === 'loading') return { state: 'deploying', phase: thisDeploy ? 'switching' : 'loaded' };
    if (s === 'loaded' && row.phase === 'loaded' && report.waiting === '1') return { state: 'deploying', phase: 'switching' };
    if (s === 'failed' && row.phase === 'loading') return failed(`the node could not load the image: ${why}`);
    return null;
  },

  'return-report'(row, e) {
    // "returning" is the OS saying it is about to jump: answering that with
    // a new token would leave the FPBL it loaded with a dead one.
    if (e.report.state === 'returning') return null;
    // Asked again while the FPBL has not reported (the OS could not download
    // or load it, and kept polling): the same answer, with a new FPBL token.
    if (!(row.state === 'reclaiming' && (row.phase === 'returning' || row.phase === 'starting'))) return null;
    return { state: 'reclaiming', phase: 'starting', path: 'kexec', fpbl_token_hash: e.fpblTokenHash };
  },

  moved(row) {
    if (row.phase !== 'switching') return null;
    // The FPBL sees the provisioning network go and kexecs into the image; its token dies with it.
    if (row.state === 'deploying') return { state: 'deployed', phase: 'running', fpbl_token_hash: null };
    // A diskless node's FPBL, already running, is told to rejoin the provisioning network and report from there.
    if (row.state === 'reclaiming') return { state: 'reclaiming', phase: row.fpbl_token_hash !== null ? 'starting' : 'returning' };
    if (row.state === 'booting-fpbl') return { state: 'booting-fpbl', phase: 'power-cycling' };
    return null;
  },
  'move-failed': (row, e) => (row.phase === 'switching' ? failed(e.reason) : null),

  'power-cycled': (row) => (row.state === 'booting-fpbl' && row.phase === 'power-cycling' ? { state: 'booting-fpbl', phase: 'pxe' } : null),
  'power-cycle-failed': (row, e) => (row.state === 'booting-fpbl' && row.phase === 'power-cycling' ? failed(`power-cycling into the FPBL failed: ${e.reason}`) : null),

  expired(row, e) {
    if (row.deadline === null) return null; // nothing here runs against a clock
    if (row.state === 'reclaiming' && (row.phase === 'returning' || row.phase === 'starting')) {
      // The customer's OS did not come back by itself: the out-of-band path,
      // its NICs first back on the provisioning network if they are still on a boot network.
      return { state: 'booting-fpbl', phase: e.diskless ? 'switching' : 'power-cycling', path: 'power-cycle', return_token_hash: null, fpbl_token_hash: null, error: null };
    }
    return failed(`${row.state}/${row.phase} took longer than allowed`);
  },
};

/** Where `event` moves `row`, with the deadline there; null: it changes nothing. */
export function next(row: MachineRow, event: ProvisioningEvent, timeouts: Timeouts, now: number): Change | null {
  const move = (RULES[event.type] as Rule<typeof event.type>)(row, event, now);
  return move && { ...move, deadline: deadlineOf(row, move, timeouts, now) };
}

/** The first row of a node the service did not hold: enrollment, the way back into the FPBL by power cycle. */
export function enrollment(timeouts: Timeouts, now: number): Change {
  const move: Move = { state: 'booting-fpbl', path: 'power-cycle', ...startOver(now) };
  return { ...move, deadline: deadlineOf(null, move, timeouts, now) };
}

/**
 * By when a row that goes from `from` to `to` must have moved on: a fresh
 * deadline from the timeout of the phase it enters, except where it stays
 * within one: the same phase asked again (a return agent asking twice), or a
 * deploy's load reported (deploy_timeout covers loading and waiting alike).
 */
export function deadlineOf(from: (Position & Pick<ProvisioningRow, 'deadline'>) | null, to: Position, timeouts: Timeouts, now: number): number | null {
  const timeout = timeoutOf(to);
  if (timeout === null) return null;
  const sameClock = from !== null && from.state === to.state && (from.phase === to.phase || (to.state === 'deploying' && from.phase === 'loading' && to.phase === 'loaded'));
  if (sameClock && from.deadline !== null) return Number(from.deadline);
  return now + timeouts[timeout];
}

export function isPosition(p: Position): boolean {
  return (PHASES[p.state] as readonly string[] | undefined)?.includes(p.phase) ?? false;
}

function timeoutOf(p: Position): keyof Timeouts | null {
  if (!isPosition(p)) throw new ServerError(`${p.state} has no phase ${p.phase}`); // a bug here, not bad input
  return (TIMEOUT[p.state] as Record<string, keyof Timeouts | null>)[p.phase];
}

/** Whether the row's deadline has passed. */
export function isOverdue(row: Pick<ProvisioningRow, 'deadline'>, now: number): boolean {
  return row.deadline !== null && Number(row.deadline) < now;
}
