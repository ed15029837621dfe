/**
 * A derived HIL's pool policy, on its own: min_free tops the pool up from the
 * base (at start, after an allocation, and on the rebalance timer when the
 * base gains free nodes later), max_free gives released nodes back. Two
 * server processes; the base drives the mock switch and BMCs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HilClient } from '../../src/client/index.ts';
import { freePort } from '../../src/lab/system.ts';
import { HIL_ADMIN, start, until, type Child } from '../support/processes.ts';

describe('recursive HIL: the pool policy', () => {
  let root: string;
  let baseServer: Child;
  let derivedServer: Child;
  let base: HilClient;
  let derived: HilClient;
  let customer: HilClient;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'hil-pool-'));
    for (const d of ['base', 'derived']) mkdirSync(join(root, d));
    const basePort = await freePort();
    baseServer = start(HIL_ADMIN, ['serve', '--migrate'], { HIL_DATA_DIR: join(root, 'base'), HIL_LISTEN: `127.0.0.1:${basePort}`, HIL_ADMIN_PASSWORD: 'base-pw' });
    await baseServer.waitFor('hil API server listening', 30_000);
    base = new HilClient({ endpoint: `http://127.0.0.1:${basePort}`, username: 'admin', password: 'base-pw' });
    await base.switch.register('sw0', 'mock', { hostname: 'h', username: 'u', password: 'p' });
    for (const i of [1, 2, 3, 4]) {
      await base.node.register(`n${i}`, { obm: { type: 'mock' } });
      await base.node.addNic(`n${i}`, 'eth0', `52:54:00:00:01:0${i}`);
      await base.port.register('sw0', `gi1/0/${i}`);
      await base.port.connectNic('sw0', `gi1/0/${i}`, `n${i}`, 'eth0');
    }
    for (const p of ['reseller', 'other']) await base.project.create(p);
    await base.user.create('reseller', 'reseller-pw', false);
    await base.user.addProject('reseller', 'reseller');
    // The base keeps n3 and n4 for someone else for now: only n1 and n2 are free.
    for (const n of ['n3', 'n4']) await base.project.connectNode('other', n);

    const derivedPort = await freePort();
    const config = join(root, 'derived', 'hil.toml');
    writeFileSync(config, '[upstream]\nmin_free = 1\nmax_free = 2\nrebalance_seconds = 1\ntimeout_seconds = 5\n');
    derivedServer = start(HIL_ADMIN, ['serve', '--migrate'], {
      HIL_DATA_DIR: join(root, 'derived'),
      HIL_LISTEN: `127.0.0.1:${derivedPort}`,
      HIL_ADMIN_PASSWORD: 'derived-pw',
      HIL_CONFIG: config,
      HIL_UPSTREAM_ENDPOINT: `http://127.0.0.1:${basePort}`,
      HIL_UPSTREAM_USERNAME: 'reseller',
      HIL_UPSTREAM_PASSWORD: 'reseller-pw',
      HIL_UPSTREAM_PROJECT: 'reseller',
    });
    await derivedServer.waitFor('hil API server listening', 30_000);
    derived = new HilClient({ endpoint: `http://127.0.0.1:${derivedPort}`, username: 'admin', password: 'derived-pw' });
    await derived.project.create('c');
    await derived.user.create('cust', 'cust-pw', false);
    await derived.user.addProject('cust', 'c');
    customer = new HilClient({ endpoint: `http://127.0.0.1:${derivedPort}`, username: 'cust', password: 'cust-pw' });
  });

  after(async () => {
    await derivedServer?.kill();
    await baseServer?.kill();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const free = () => derived.node.list('free');

  it('fills the pool to min_free at start, and again after each allocation', async () => {
    await until('the pool to reach min_free', async () => (await free()).length === 1, 10_000);
    const [first] = await free();
    await customer.project.connectNode('c', first);
    await until('the pool to refill', async () => (await free()).length === 1, 10_000);
    assert.deepEqual((await base.project.nodes('reseller')).sort(), ['n1', 'n2']);
  });

  it('tops the pool up by itself when the base gains free nodes', async () => {
    const [second] = await free();
    await customer.project.connectNode('c', second);
    // The base has nothing left to give: the pool stays empty...
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(await free(), []);
    // ...until the base frees a node: the rebalance timer takes it, with no request here.
    await base.project.detachNode('other', 'n3');
    await until('the timer to take n3', async () => (await free()).includes('n3'), 10_000);
  });

  it('gives back what is released above max_free', async () => {
    for (const n of await derived.project.nodes('c')) await customer.project.detachNode('c', n);
    await until('a node to go back to the base', async () => (await base.node.list('free')).length === 1, 10_000);
    assert.equal((await free()).length, 2, 'max_free stay');
    assert.equal((await base.project.nodes('reseller')).length, 2);
  });
});
