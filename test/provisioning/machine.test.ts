/**
 * The provisioning state machine on its own, without a database
 * (src/provisioning/machine.ts; the rules are docs/fast-provisioning.md's):
 * every event tried in every (state, phase), so that each legal transition
 * is listed here once and everything else is refused; the deadline of each
 * phase from the configured timeouts; and the rules the agent protocol
 * relies on (waiting=1, "returning", the power-cycle fallback, tokens).
 * test/provisioning/agent-protocol.test.ts runs the same rules end to end.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deadlineOf, enrollment, isOverdue, isPosition, next, PHASES, type Change, type MachineRow, type Position, type ProvisioningEvent, type Timeouts } from '../../src/provisioning/machine.ts';
import type { ProvisioningState } from '../../src/store/schema.ts';

/** Distinct, so that a deadline says which timeout it came from. */
const T: Timeouts = { bootTimeoutMs: 1_000, deployTimeoutMs: 2_000, returnTimeoutMs: 3_000, wipeTimeoutMs: 4_000, networkTimeoutMs: 5_000 };
const NOW = 1_000_000;
/** The deadline rows already have: before NOW + any timeout, so a kept one is told from a new one. */
const RUNNING = 999_999;
/** When the row's deploy started (its deploy id). */
const STARTED = 990_000;

const POSITIONS: Position[] = Object.entries(PHASES).flatMap(([state, phases]) => phases.map((phase) => ({ state: state as ProvisioningState, phase })));
const UNTIMED = new Set(['ready/idle', 'deployed/running', 'error/failed']);
const key = (p: Position) => `${p.state}/${p.phase}`;

function rowAt(p: Position, extra: Partial<MachineRow> = {}): MachineRow {
  return { ...p, deadline: UNTIMED.has(key(p)) ? null : RUNNING, fpbl_token_hash: 'fpbl-hash', return_token_hash: 'return-hash', operation_started: STARTED, ...extra };
}
const at = (pos: string, extra: Partial<MachineRow> = {}) => {
  const [state, phase] = pos.split('/') as [ProvisioningState, string];
  return rowAt({ state, phase }, extra);
};
const step = (pos: string, event: ProvisioningEvent, extra: Partial<MachineRow> = {}): Change | null => next(at(pos, extra), event, T, NOW);
const fpbl = (state: string, more: Record<string, string> = {}): ProvisioningEvent => ({ type: 'fpbl-report', report: { agent: 'fpbl', state, ...more } });
const returnAgent = (state: string): ProvisioningEvent => ({ type: 'return-report', report: { agent: 'return', state }, fpblTokenHash: 'new-fpbl-hash' });

/**
 * Every transition there is: event → {from: to}. A position not listed for
 * an event must refuse it (next answers null).
 */
const TRANSITIONS: Array<[string, ProvisioningEvent, Record<string, string>]> = [
  ['deploy', { type: 'deploy', imageId: 7, networks: { eth0: 'net-a' } }, { 'ready/idle': 'deploying/loading' }],
  [
    'reclaim',
    { type: 'reclaim', powerCycle: false },
    {
      'deploying/loading': 'booting-fpbl/switching',
      'deploying/loaded': 'booting-fpbl/switching',
      'deploying/switching': 'booting-fpbl/switching',
      'deployed/running': 'reclaiming/switching',
      'error/failed': 'booting-fpbl/switching',
    },
  ],
  [
    'reclaim of a diskless node',
    { type: 'reclaim', powerCycle: false, diskless: true },
    {
      'deploying/loading': 'booting-fpbl/switching',
      'deploying/loaded': 'booting-fpbl/switching',
      'deploying/switching': 'booting-fpbl/switching',
      'deployed/running': 'reclaiming/returning',
      'error/failed': 'booting-fpbl/switching',
    },
  ],
  [
    'reclaim by power cycle',
    { type: 'reclaim', powerCycle: true },
    {
      'deploying/loading': 'booting-fpbl/switching',
      'deploying/loaded': 'booting-fpbl/switching',
      'deploying/switching': 'booting-fpbl/switching',
      'deployed/running': 'booting-fpbl/switching',
      'reclaiming/switching': 'booting-fpbl/switching',
      'reclaiming/returning': 'booting-fpbl/switching',
      'reclaiming/starting': 'booting-fpbl/switching',
      'reclaiming/wiping': 'booting-fpbl/switching',
      'error/failed': 'booting-fpbl/switching',
    },
  ],
  ['boot script fetched', { type: 'boot-script', fpblTokenHash: 'new-fpbl-hash' }, { 'booting-fpbl/pxe': 'booting-fpbl/starting' }],
  ['fpbl fresh', fpbl('fresh'), { 'booting-fpbl/starting': 'booting-fpbl/wiping', 'reclaiming/starting': 'reclaiming/wiping' }],
  ['fpbl idle', fpbl('idle'), {}],
  ['fpbl wiped', fpbl('wiped'), { 'booting-fpbl/wiping': 'ready/idle', 'reclaiming/wiping': 'ready/idle' }],
  ['fpbl failed', fpbl('failed', { error: 'x' }), { 'booting-fpbl/wiping': 'error/failed', 'reclaiming/wiping': 'error/failed', 'deploying/loading': 'error/failed' }],
  ['fpbl loaded', fpbl('loaded'), { 'deploying/loading': 'deploying/loaded' }],
  ['fpbl loaded, waiting=1', fpbl('loaded', { waiting: '1' }), { 'deploying/loading': 'deploying/loaded', 'deploying/loaded': 'deploying/switching' }],
  ['fpbl loaded, waiting=1 for this deploy', fpbl('loaded', { waiting: '1', deploy: String(STARTED) }), { 'deploying/loading': 'deploying/switching', 'deploying/loaded': 'deploying/switching' }],
  ['fpbl staged, waiting=1 for this deploy', fpbl('staged', { waiting: '1', deploy: String(STARTED) }), { 'deploying/loading': 'deploying/switching' }],
  ['fpbl staged, for another deploy', fpbl('staged', { waiting: '1', deploy: String(STARTED - 1) }), {}],
  ['return agent running', returnAgent('running'), { 'reclaiming/returning': 'reclaiming/starting', 'reclaiming/starting': 'reclaiming/starting' }],
  ['return agent returning', returnAgent('returning'), {}],
  ['fpbl fresh, back from a diskless OS', { type: 'fpbl-report', report: { agent: 'fpbl', state: 'fresh' }, diskless: true }, { 'booting-fpbl/starting': 'booting-fpbl/wiping', 'reclaiming/starting': 'reclaiming/switching' }],
  // The rows here hold an FPBL token: in reclaiming/switching, that is an FPBL back from a diskless OS, rejoining.
  ['moved', { type: 'moved' }, { 'booting-fpbl/switching': 'booting-fpbl/power-cycling', 'deploying/switching': 'deployed/running', 'reclaiming/switching': 'reclaiming/starting' }],
  ['move failed', { type: 'move-failed', reason: 'moving nic eth0: boom' }, { 'booting-fpbl/switching': 'error/failed', 'deploying/switching': 'error/failed', 'reclaiming/switching': 'error/failed' }],
  ['power cycled', { type: 'power-cycled' }, { 'booting-fpbl/power-cycling': 'booting-fpbl/pxe' }],
  ['power cycle failed', { type: 'power-cycle-failed', reason: 'BMC unreachable' }, { 'booting-fpbl/power-cycling': 'error/failed' }],
  [
    'expired',
    { type: 'expired' },
    {
      'booting-fpbl/switching': 'error/failed',
      'booting-fpbl/power-cycling': 'error/failed',
      'booting-fpbl/pxe': 'error/failed',
      'booting-fpbl/starting': 'error/failed',
      'booting-fpbl/wiping': 'error/failed',
      'deploying/loading': 'error/failed',
      'deploying/loaded': 'error/failed',
      'deploying/switching': 'error/failed',
      'reclaiming/switching': 'error/failed',
      'reclaiming/returning': 'booting-fpbl/power-cycling',
      'reclaiming/starting': 'booting-fpbl/power-cycling',
      'reclaiming/wiping': 'error/failed',
    },
  ],
];

describe('provisioning state machine', () => {
  it('takes every listed transition, to a real position, and refuses every other (state, phase, event)', () => {
    assert.equal(POSITIONS.length, 15);
    for (const [name, event, legal] of TRANSITIONS) {
      for (const from of Object.keys(legal)) assert.ok(POSITIONS.some((p) => key(p) === from), `${name}: ${from} is not a position`);
      for (const from of POSITIONS) {
        const to = next(rowAt(from), event, T, NOW);
        assert.equal(to && key(to), legal[key(from)] ?? null, `${name} from ${key(from)}`);
        if (to) assert.ok(isPosition(to), `${name} from ${key(from)} goes to ${key(to)}`);
      }
    }
  });

  it('gives each phase the deadline of its configured timeout, and none to the phases that wait for a person', () => {
    const expected: Record<string, number | null> = {
      'booting-fpbl/switching': T.networkTimeoutMs,
      'booting-fpbl/power-cycling': T.bootTimeoutMs,
      'booting-fpbl/pxe': T.bootTimeoutMs,
      'booting-fpbl/starting': T.bootTimeoutMs,
      'booting-fpbl/wiping': T.wipeTimeoutMs,
      'ready/idle': null,
      'deploying/loading': T.deployTimeoutMs,
      'deploying/loaded': T.deployTimeoutMs,
      'deploying/switching': T.networkTimeoutMs,
      'deployed/running': null,
      'reclaiming/switching': T.networkTimeoutMs,
      'reclaiming/returning': T.returnTimeoutMs,
      'reclaiming/starting': T.bootTimeoutMs,
      'reclaiming/wiping': T.wipeTimeoutMs,
      'error/failed': null,
    };
    assert.deepEqual(POSITIONS.map(key).sort(), Object.keys(expected).sort());
    for (const p of POSITIONS) {
      const timeout = expected[key(p)];
      assert.equal(deadlineOf(null, p, T, NOW), timeout === null ? null : NOW + timeout, key(p));
    }
    assert.throws(() => deadlineOf(null, { state: 'ready', phase: 'loading' }, T, NOW), /ready has no phase loading/);
  });

  it('starts a new deadline on entering a phase, and keeps the running one through a load and a repeated return', () => {
    // Every transition's deadline, as a node lives through enrollment, a deploy and a reclaim.
    assert.equal(enrollment(T, NOW).deadline, NOW + T.networkTimeoutMs);
    assert.equal(step('booting-fpbl/switching', { type: 'moved' })?.deadline, NOW + T.bootTimeoutMs);
    assert.equal(step('booting-fpbl/power-cycling', { type: 'power-cycled' })?.deadline, NOW + T.bootTimeoutMs);
    assert.equal(step('booting-fpbl/pxe', { type: 'boot-script', fpblTokenHash: 'h' })?.deadline, NOW + T.bootTimeoutMs);
    assert.equal(step('booting-fpbl/starting', fpbl('fresh'))?.deadline, NOW + T.wipeTimeoutMs);
    assert.equal(step('booting-fpbl/wiping', fpbl('wiped'))?.deadline, null);
    assert.equal(step('ready/idle', { type: 'deploy', imageId: 1, networks: {} })?.deadline, NOW + T.deployTimeoutMs);
    // One deploy_timeout covers loading and waiting for waiting=1.
    assert.equal(step('deploying/loading', fpbl('loaded'))?.deadline, RUNNING);
    assert.equal(step('deploying/loaded', fpbl('loaded', { waiting: '1' }))?.deadline, NOW + T.networkTimeoutMs);
    assert.equal(step('deploying/switching', { type: 'moved' })?.deadline, null);
    assert.equal(step('deployed/running', { type: 'reclaim', powerCycle: false })?.deadline, NOW + T.networkTimeoutMs);
    assert.equal(step('reclaiming/switching', { type: 'moved' }, { fpbl_token_hash: null })?.deadline, NOW + T.returnTimeoutMs);
    assert.equal(step('reclaiming/switching', { type: 'moved' })?.deadline, NOW + T.bootTimeoutMs, 'a diskless OS jumped: its FPBL boots');
    assert.equal(step('reclaiming/returning', returnAgent('running'))?.deadline, NOW + T.bootTimeoutMs);
    // Asked again before the FPBL reports: the first boot deadline still runs.
    assert.equal(step('reclaiming/starting', returnAgent('running'))?.deadline, RUNNING);
    assert.equal(step('reclaiming/starting', fpbl('fresh'))?.deadline, NOW + T.wipeTimeoutMs);
    assert.equal(step('reclaiming/returning', { type: 'expired' })?.deadline, NOW + T.bootTimeoutMs);
    for (const failing of [step('deploying/loading', { type: 'expired' }), step('booting-fpbl/power-cycling', { type: 'power-cycle-failed', reason: 'x' }), step('deploying/switching', { type: 'move-failed', reason: 'x' })]) {
      assert.equal(failing?.deadline, null);
    }
  });

  it('starts the network move only on a loaded report that carries waiting=1', () => {
    // The first "loaded" is answered with "wait"; a retried one proves nothing.
    assert.equal(step('deploying/loaded', fpbl('loaded')), null);
    assert.equal(step('deploying/loaded', fpbl('loaded', { waiting: '0' })), null);
    assert.equal(step('deploying/loaded', fpbl('idle', { waiting: '1' })), null);
    assert.deepEqual(step('deploying/loaded', fpbl('loaded', { waiting: '1' })), { state: 'deploying', phase: 'switching', deadline: NOW + T.networkTimeoutMs });
    // An agent that says waiting=1 to its first "loaded" has not heard "wait" for this load yet,
    // unless it names this deploy (told "deploy, then wait")...
    assert.deepEqual(step('deploying/loading', fpbl('loaded', { waiting: '1' })), { state: 'deploying', phase: 'loaded', deadline: RUNNING });
    assert.deepEqual(step('deploying/loading', fpbl('loaded', { waiting: '1', deploy: String(STARTED) })), { state: 'deploying', phase: 'switching', deadline: NOW + T.networkTimeoutMs });
    // ...and not another one.
    assert.deepEqual(step('deploying/loading', fpbl('loaded', { waiting: '1', deploy: String(STARTED - 1) })), { state: 'deploying', phase: 'loaded', deadline: RUNNING });
    assert.deepEqual(step('deploying/loading', fpbl('loaded', { waiting: '1', deploy: '' }), { operation_started: null }), { state: 'deploying', phase: 'loaded', deadline: RUNNING });
    // Once the move is under way, more reports change nothing.
    assert.equal(step('deploying/switching', fpbl('loaded', { waiting: '1' })), null);
  });

  it('takes the "returning" report of a customer OS as changing nothing, and a "running" one as asking to return', () => {
    for (const pos of ['reclaiming/returning', 'reclaiming/starting', 'deployed/running']) assert.equal(step(pos, returnAgent('returning')), null, pos);
    assert.deepEqual(step('reclaiming/returning', returnAgent('running')), { state: 'reclaiming', phase: 'starting', path: 'kexec', fpbl_token_hash: 'new-fpbl-hash', deadline: NOW + T.bootTimeoutMs });
    // Deployed, the OS is not being reclaimed: it is told nothing.
    assert.equal(step('deployed/running', returnAgent('running')), null);
  });

  it('reclaims a diskless node by kexec through its boot network: asked first, its NICs moved once it jumps', () => {
    // Its NICs stay where they are: its OS needs its boot network to return.
    assert.deepEqual(step('deployed/running', { type: 'reclaim', powerCycle: false, diskless: true }), {
      state: 'reclaiming',
      phase: 'returning',
      path: 'kexec',
      networks: '{}',
      error: null,
      operation_started: NOW,
      return_token_hash: 'return-hash',
      fpbl_token_hash: null,
      deadline: NOW + T.returnTimeoutMs,
    });
    // Asked, it is given the FPBL; saying it jumps changes nothing: its shutdown still writes to the disk.
    assert.equal(step('reclaiming/returning', returnAgent('running'))?.phase, 'starting');
    assert.equal(step('reclaiming/starting', returnAgent('returning')), null);
    // Its FPBL, reporting through the boot network, says that OS is gone: now the NICs move.
    const fresh: ProvisioningEvent = { type: 'fpbl-report', report: { agent: 'fpbl', state: 'fresh' }, diskless: true };
    assert.deepEqual(step('reclaiming/starting', fresh), { state: 'reclaiming', phase: 'switching', deadline: NOW + T.networkTimeoutMs });
    assert.equal(step('reclaiming/returning', fresh), null, 'no FPBL before the OS was given one');
    // Moved with the FPBL already running: it reports again from the provisioning network. Without one (any other OS): it is the OS's turn to ask.
    assert.equal(step('reclaiming/switching', { type: 'moved' })?.phase, 'starting');
    assert.equal(step('reclaiming/switching', { type: 'moved' }, { fpbl_token_hash: null })?.phase, 'returning');
    // It did not come back: off the boot network first, then the power cycle.
    for (const pos of ['reclaiming/returning', 'reclaiming/starting']) assert.deepEqual(step(pos, { type: 'expired', diskless: true })?.phase, 'switching', pos);
    assert.equal(step('reclaiming/returning', { type: 'expired', diskless: true })?.state, 'booting-fpbl');
  });

  it('falls back to a power cycle when a kexec return times out, and to error anywhere else past a deadline', () => {
    for (const pos of ['reclaiming/returning', 'reclaiming/starting']) {
      assert.deepEqual(step(pos, { type: 'expired' }), {
        state: 'booting-fpbl',
        phase: 'power-cycling',
        path: 'power-cycle',
        return_token_hash: null,
        fpbl_token_hash: null,
        error: null,
        deadline: NOW + T.bootTimeoutMs,
      }, pos);
    }
    assert.deepEqual(step('deploying/loading', { type: 'expired' }), { state: 'error', phase: 'failed', error: 'deploying/loading took longer than allowed', deadline: null });
    // The power cycle the fallback asks for has no fallback of its own.
    assert.equal(step('booting-fpbl/power-cycling', { type: 'expired' })?.error, 'booting-fpbl/power-cycling took longer than allowed');
    // A row without a deadline has nothing to expire, whatever its phase.
    assert.equal(step('deploying/loading', { type: 'expired' }, { deadline: null }), null);
  });

  it('reclaims a deployed node by kexec with its return token, anything else by power cycle without one', () => {
    const start = { phase: 'switching', networks: '{}', error: null, operation_started: NOW, deadline: NOW + T.networkTimeoutMs };
    assert.deepEqual(step('deployed/running', { type: 'reclaim', powerCycle: false }), { state: 'reclaiming', path: 'kexec', ...start, return_token_hash: 'return-hash', fpbl_token_hash: null });
    const powerCycle = { state: 'booting-fpbl', path: 'power-cycle', ...start, return_token_hash: null, fpbl_token_hash: 'fpbl-hash' };
    assert.deepEqual(step('deployed/running', { type: 'reclaim', powerCycle: true }), powerCycle);
    assert.deepEqual(step('error/failed', { type: 'reclaim', powerCycle: false }), powerCycle);
    assert.deepEqual(enrollment(T, NOW), { state: 'booting-fpbl', path: 'power-cycle', phase: 'switching', networks: '{}', error: null, operation_started: NOW, return_token_hash: null, deadline: NOW + T.networkTimeoutMs });
  });

  it('writes what a deploy asked for, and forgets it once the disks are wiped', () => {
    assert.deepEqual(step('ready/idle', { type: 'deploy', imageId: 7, networks: { eth0: 'net-a' } }), {
      state: 'deploying',
      phase: 'loading',
      image_id: 7,
      networks: '{"eth0":"net-a"}',
      error: null,
      operation_started: NOW,
      deadline: NOW + T.deployTimeoutMs,
    });
    assert.deepEqual(step('reclaiming/wiping', fpbl('wiped')), { state: 'ready', phase: 'idle', image_id: null, networks: '{}', error: null, return_token_hash: null, deadline: null });
  });

  it('kills each token when its holder is gone: the return token when the FPBL runs, the FPBL token when the image does', () => {
    assert.deepEqual(step('reclaiming/starting', fpbl('fresh')), { state: 'reclaiming', phase: 'wiping', return_token_hash: null, deadline: NOW + T.wipeTimeoutMs });
    assert.deepEqual(step('deploying/switching', { type: 'moved' }), { state: 'deployed', phase: 'running', fpbl_token_hash: null, deadline: null });
    assert.deepEqual(step('booting-fpbl/pxe', { type: 'boot-script', fpblTokenHash: 'new-fpbl-hash' }), { state: 'booting-fpbl', phase: 'starting', fpbl_token_hash: 'new-fpbl-hash', deadline: NOW + T.bootTimeoutMs });
  });

  it('says why a node ended in error', () => {
    assert.equal(step('booting-fpbl/wiping', fpbl('failed', { error: 'disk sda is read-only' }))?.error, 'wiping the disks failed: disk sda is read-only');
    assert.equal(step('deploying/loading', fpbl('failed', { error: 'kernel sha256 mismatch' }))?.error, 'the node could not load the image: kernel sha256 mismatch');
    assert.equal(step('deploying/loading', fpbl('failed'))?.error, 'the node could not load the image: no reason given');
    assert.equal(step('booting-fpbl/power-cycling', { type: 'power-cycle-failed', reason: 'BMC unreachable' })?.error, 'power-cycling into the FPBL failed: BMC unreachable');
    assert.equal(step('reclaiming/switching', { type: 'move-failed', reason: 'moving nic eth0: boom' })?.error, 'moving nic eth0: boom');
  });

  it('is overdue only past a deadline it has', () => {
    assert.equal(isOverdue({ deadline: NOW - 1 }, NOW), true);
    assert.equal(isOverdue({ deadline: NOW }, NOW), false);
    assert.equal(isOverdue({ deadline: null }, NOW), false);
  });
});
