import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedLock } from '../../src/util/keyed-lock.ts';

describe('KeyedLock', () => {
  it('runs holders of one key one at a time in arrival order, other keys in parallel', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const job = (key: string, name: string, ms: number) =>
      lock.run(key, async () => {
        log.push(`start ${name}`);
        await sleep(ms);
        log.push(`end ${name}`);
      });
    await Promise.all([job('a', 'a1', 30), job('a', 'a2', 5), job('b', 'b1', 10)]);
    assert.deepEqual(
      log.filter((l) => l.endsWith('a1') || l.endsWith('a2')),
      ['start a1', 'end a1', 'start a2', 'end a2'],
    );
    assert.ok(log.indexOf('end b1') < log.indexOf('end a1'), 'b does not wait for a');
    assert.equal(lock.busyKeys, 0);
  });

  it('a waiter that aborts leaves at once; the next still waits for the holder', async () => {
    const lock = new KeyedLock();
    const order: string[] = [];
    const holder = lock.run('k', async () => {
      await sleep(40);
      order.push('holder done');
    });
    const controller = new AbortController();
    const leaver = lock.run('k', async () => order.push('leaver ran'), controller.signal);
    const next = lock.run('k', async () => order.push('next ran'));
    controller.abort(new Error('gone'));
    await assert.rejects(leaver, /gone/);
    await Promise.all([holder, next]);
    assert.deepEqual(order, ['holder done', 'next ran']);
  });

  it('releases the key when the holder throws', async () => {
    const lock = new KeyedLock();
    await assert.rejects(lock.run('k', async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await lock.run('k', async () => 'free'), 'free');
  });
});
