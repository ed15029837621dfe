import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { BmcGate, type ResourceClaims } from '../../src/core/bmc-gate.ts';
import type { Claim } from '../../src/claims/claims.ts';
import { TimeoutError } from '../../src/util/timeout.ts';

/** One process alone on its database: every claim is granted at once (the claims themselves: test/claims/). */
const alone: ResourceClaims = { takeWaiting: async () => ({ valid: true, release: async () => {} }) as unknown as Claim };

/** Work that records how many calls run at once, overall and per key. */
function tracker() {
  let now = 0;
  let peak = 0;
  const perKey = new Map<string, number>();
  const peakPerKey = new Map<string, number>();
  return {
    work: (key: string, ms: number) => async () => {
      now++;
      peak = Math.max(peak, now);
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
      peakPerKey.set(key, Math.max(peakPerKey.get(key) ?? 0, perKey.get(key)!));
      await sleep(ms);
      now--;
      perKey.set(key, perKey.get(key)! - 1);
      return key;
    },
    peak: () => peak,
    peakFor: (key: string) => peakPerKey.get(key) ?? 0,
  };
}

describe('BMC gate', () => {
  it('runs one call at a time per BMC, different BMCs in parallel', async () => {
    const gate = new BmcGate(10, alone);
    const t = tracker();
    const started = Date.now();
    await Promise.all([...Array(4)].map(() => gate.run('a', 5000, 'x', t.work('a', 30))).concat([gate.run('b', 5000, 'x', t.work('b', 30))]));
    assert.equal(t.peakFor('a'), 1);
    assert.equal(t.peak(), 2);
    assert.ok(Date.now() - started >= 4 * 30 - 5);
  });

  it('bounds the calls in flight over all BMCs', async () => {
    const gate = new BmcGate(3, alone);
    const t = tracker();
    const keys = [...Array(12)].map((_, i) => `bmc${i}`);
    const out = await Promise.all(keys.map((k) => gate.run(k, 5000, 'x', t.work(k, 20))));
    assert.deepEqual(out, keys);
    assert.equal(t.peak(), 3);
  });

  it('a call that never answers times out, and gives its place up', async () => {
    const gate = new BmcGate(1, alone);
    const hung = gate.run('a', 100, 'power on', () => new Promise<never>(() => {}));
    const queued = gate.run('a', 50, 'power status', async () => 'late');
    await assert.rejects(queued, (e: Error) => e instanceof TimeoutError && /power status timed out after 50 ms/.test(e.message));
    await assert.rejects(hung, TimeoutError);
    // Neither the BMC's line nor the global slot is still taken.
    assert.equal(await gate.run('a', 1000, 'x', async () => 'ok'), 'ok');
    assert.equal(await gate.run('b', 1000, 'x', async () => 'ok'), 'ok');
  });
});
