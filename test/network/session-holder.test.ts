/** The worker's session with a switch: a login that outlives the timeout is closed when it finally opens, not leaked. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { SwitchSession } from '../../src/drivers/switch/interface.ts';
import { TimeoutError } from '../../src/errors.ts';
import { SessionHolder } from '../../src/network/session-holder.ts';

/** A session that only counts its closes. */
function countingSession(): SwitchSession & { closes: number } {
  const s = {
    closes: 0,
    modifyPort: async () => {},
    revertPort: async () => {},
    getPortNetworks: async () => new Map(),
    close: async () => void s.closes++,
  };
  return s;
}

describe('SessionHolder', () => {
  it('closes a session that opens after the worker gave up waiting for it', async () => {
    const late = countingSession();
    const holder = new SessionHolder(() => sleep(150).then(() => late), 'sw0', 'test', 50);
    await assert.rejects(holder.get(), (e: unknown) => e instanceof TimeoutError && /connecting to switch sw0/.test(e.message));
    assert.equal(late.closes, 0, 'not open yet');
    await sleep(250);
    assert.equal(late.closes, 1, 'closed once it opened');
  });

  it('keeps a session that opened in time, until it is discarded', async () => {
    const quick = countingSession();
    const holder = new SessionHolder(async () => quick, 'sw0', 'test', 1000);
    assert.equal(await holder.get(), quick);
    assert.equal(await holder.get(), quick, 'reused');
    holder.discard();
    await sleep(10);
    assert.equal(quick.closes, 1);
  });
});
