import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TimeoutError, untilAborted, withTimeout } from '../../src/util/timeout.ts';

describe('withTimeout', () => {
  it('gives the answer when it comes in time', async () => {
    assert.equal(await withTimeout(1000, 'x', async () => 'answer'), 'answer');
  });

  it('fails with a TimeoutError naming the work, and aborts the work\'s signal', async () => {
    let seen: AbortSignal | undefined;
    const started = Date.now();
    await assert.rejects(
      withTimeout(50, 'power status on node n1', (signal) => {
        seen = signal;
        return new Promise<never>(() => {});
      }),
      (e: Error) => e instanceof TimeoutError && e.message === 'power status on node n1 timed out after 50 ms',
    );
    assert.ok(Date.now() - started >= 45);
    assert.equal(seen?.aborted, true);
  });

  it('passes the work\'s own failure through', async () => {
    await assert.rejects(withTimeout(1000, 'x', async () => Promise.reject(new Error('refused'))), /refused/);
  });
});

describe('untilAborted', () => {
  it('rejects with the reason at once when the signal is already aborted', async () => {
    const c = new AbortController();
    c.abort(new Error('before'));
    await assert.rejects(untilAborted(new Promise(() => {}), c.signal), /before/);
  });
});
