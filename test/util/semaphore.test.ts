import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Semaphore } from '../../src/util/semaphore.ts';

describe('Semaphore', () => {
  it('admits at most limit holders, then the waiters in arrival order', async () => {
    const s = new Semaphore(2);
    const r1 = await s.acquire();
    const r2 = await s.acquire();
    const admitted: number[] = [];
    const w3 = s.acquire().then((r) => (admitted.push(3), r));
    const w4 = s.acquire().then((r) => (admitted.push(4), r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(admitted, []);
    assert.equal(s.active, 2);
    r1();
    (await w3)();
    r2();
    (await w4)();
    assert.deepEqual(admitted, [3, 4]);
    assert.equal(s.active, 0);
  });

  it('a waiter that aborts leaves the line; releasing twice gives back one place', async () => {
    const s = new Semaphore(1);
    const r1 = await s.acquire();
    const c = new AbortController();
    const gone = s.acquire(c.signal);
    c.abort(new Error('no longer wanted'));
    await assert.rejects(gone, /no longer wanted/);
    r1();
    r1();
    assert.equal(s.active, 0);
    const r = await s.acquire();
    assert.equal(s.active, 1);
    r();
  });
});
