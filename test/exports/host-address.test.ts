/** Which addresses an export may bind now: loopback's /8 and what an interface holds; a boot network's address before its link is up waits. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { isHostAddress, waitingForAddress } from '../../src/exports/host-address.ts';

describe('export addresses on the storage host', () => {
  it('binds loopback anywhere in 127.0.0.0/8 and any address an interface holds', () => {
    assert.equal(isHostAddress('127.0.0.1'), true);
    assert.equal(isHostAddress('127.77.3.1'), true, 'loopback answers its whole /8 without an assignment');
    const held = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal);
    if (held) assert.equal(isHostAddress(held.address), true, held.address);
    assert.equal(isHostAddress('198.51.100.254'), false, 'TEST-NET-2 is on no interface here');
  });

  it('makes an export of a boot address not yet on the host wait, and one on [exports] address never', () => {
    assert.equal(waitingForAddress(null), null);
    assert.equal(waitingForAddress('127.77.0.1'), null);
    assert.match(waitingForAddress('198.51.100.254') ?? '', /waiting for the storage host to have its boot network's address 198\.51\.100\.254/);
  });
});
