import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Coalesced } from '../../src/util/coalesced.ts';

describe('Coalesced', () => {
  it('runs once more after kicks that arrive during a run, never twice at once', async () => {
    let runs = 0;
    let concurrent = 0;
    let peak = 0;
    const c = new Coalesced(
      async () => {
        runs++;
        peak = Math.max(peak, ++concurrent);
        await sleep(20);
        concurrent--;
      },
      { onError: (e) => assert.fail(String(e)) },
    );
    c.kick();
    for (let i = 0; i < 5; i++) c.kick(); // all during the first run
    await c.settled();
    assert.equal(runs, 2);
    assert.equal(peak, 1);
  });

  it('keeps going after a failing run and reports the error', async () => {
    const errors: unknown[] = [];
    let n = 0;
    const c = new Coalesced(
      async () => {
        if (n++ === 0) throw new Error('first');
      },
      { onError: (e) => errors.push(e) },
    );
    c.kick();
    c.kick();
    await c.settled();
    assert.equal(n, 2);
    assert.equal((errors[0] as Error).message, 'first');
  });

  it('starts nothing after stop, and stop waits for the run under way', async () => {
    let finished = 0;
    let settledCalls = 0;
    const c = new Coalesced(
      async () => {
        await sleep(20);
        finished++;
      },
      { onError: (e) => assert.fail(String(e)), onSettled: () => settledCalls++ },
    );
    c.kick();
    c.kick();
    await c.stop();
    assert.equal(finished, 1, 'the pending re-run is dropped');
    c.kick();
    assert.equal(c.running, false);
    assert.ok(settledCalls >= 1);
  });
});
