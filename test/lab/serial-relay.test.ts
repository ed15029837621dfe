/**
 * The serial cable between a lab node and its BMC: the BMC's side stays
 * connected while the node's side comes and goes with each power-on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relayNode } from '../../src/lab/serial-relay.ts';
import { freePort } from '../../src/lab/system.ts';


async function connect(o: { port: number; host: string } | { path: string }): Promise<Socket> {
  const s = createConnection(o as never);
  await once(s, 'connect');
  return s;
}

function next(s: Socket): Promise<string> {
  return once(s, 'data').then(([d]) => String(d));
}

describe('serial relay', () => {
  it('carries bytes both ways, across node restarts, on one BMC connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-relay-'));
    const port = await freePort();
    const relay = relayNode('n1', port, join(dir, 'serial.sock'));
    try {
      await relay.listening;
      const bmc = await connect({ port, host: '127.0.0.1' });
      await new Promise((r) => setTimeout(r, 20)); // the relay adopts it
      const first = await connect({ path: join(dir, 'serial.sock') });
      first.write('SeaBIOS\r\n');
      assert.equal(await next(bmc), 'SeaBIOS\r\n');
      bmc.write('root\n');
      assert.equal(await next(first), 'root\n');

      // Power cycle: the old QEMU goes, a new one connects; the BMC's connection stays.
      first.destroy();
      const second = await connect({ path: join(dir, 'serial.sock') });
      second.write('booted again\r\n');
      assert.equal(await next(bmc), 'booted again\r\n');
      assert.equal(bmc.destroyed, false);
      second.destroy();
      bmc.destroy();
    } finally {
      relay.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
