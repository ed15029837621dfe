/**
 * Which command answers an FPBL agent's report, for every (state, phase) and
 * every state the agent reports (src/provisioning/agent-protocol.ts,
 * `fpblAnswer`; the command table of docs/fast-provisioning.md). Pure: the
 * deploy command's contents and the held long poll are covered end to end
 * by ./agent-protocol.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fpblAnswer } from '../../src/provisioning/agent-protocol.ts';
import { PHASES, type Position } from '../../src/provisioning/machine.ts';
import type { ProvisioningState } from '../../src/store/schema.ts';

const POSITIONS: Position[] = Object.entries(PHASES).flatMap(([state, phases]) => phases.map((phase) => ({ state: state as ProvisioningState, phase })));
const REPORTS = ['fresh', 'idle', 'wiped', 'staged', 'loaded', 'failed'] as const;

/** The answer wherever it is not "none": position → report state → command. */
const ANSWERS: Record<string, Partial<Record<(typeof REPORTS)[number], string>>> = {
  'booting-fpbl/wiping': { fresh: 'wipe', idle: 'wipe', staged: 'wipe', loaded: 'wipe', failed: 'wipe' },
  'reclaiming/wiping': { fresh: 'wipe', idle: 'wipe', staged: 'wipe', loaded: 'wipe', failed: 'wipe' },
  // A deploy is offered until the agent says it failed (the machine then records why).
  'deploying/loading': { fresh: 'deploy', idle: 'deploy', wiped: 'deploy', staged: 'deploy', loaded: 'deploy' },
  'deploying/loaded': { fresh: 'wait', idle: 'wait', wiped: 'wait', staged: 'wait', loaded: 'wait', failed: 'wait' },
  'deploying/switching': { fresh: 'wait', idle: 'wait', wiped: 'wait', staged: 'wait', loaded: 'wait', failed: 'wait' },
  // Only an FPBL back from a diskless OS reports here: it follows its NICs to the provisioning network.
  'reclaiming/switching': { fresh: 'rejoin', idle: 'rejoin', wiped: 'rejoin', staged: 'rejoin', loaded: 'rejoin', failed: 'rejoin' },
};

describe('the answer to an FPBL report', () => {
  it('wipes while wiping, deploys while loading, waits while the networks move, rejoins after a diskless return, and aborts a load nobody wants', () => {
    for (const pos of POSITIONS) {
      const key = `${pos.state}/${pos.phase}`;
      for (const state of REPORTS) {
        const expected = ANSWERS[key]?.[state] ?? (state === 'loaded' ? 'abort' : 'none');
        assert.equal(fpblAnswer(pos, { agent: 'fpbl', state }), expected, `${state} in ${key}`);
      }
    }
  });
});
