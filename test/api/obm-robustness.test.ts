/** The OBM service in front of a flaky or slow BMC: bounded retries, per-BMC order, timeouts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { withHil } from '../support/hil.ts';
import { mockBmcDriver } from '../../src/drivers/bmc/mock.ts';
import type { ManagedBmcDriver } from '../../src/drivers/bmc/interface.ts';

/** The mock BMC, but failing the first `failures` calls of each kind, and counting calls. */
function flaky(failures: number) {
  const mock = mockBmcDriver();
  const calls: string[] = [];
  let active = 0;
  let peak = 0;
  const wrap =
    <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      calls.push(name);
      active++;
      peak = Math.max(peak, active);
      try {
        await new Promise((r) => setTimeout(r, 5));
        if (calls.filter((c) => c === name).length <= failures) throw new Error(`BMC busy (${name})`);
        return await fn(...a);
      } finally {
        active--;
      }
    };
  const driver: ManagedBmcDriver = {
    ...mock,
    type: 'flaky',
    power: {
      setPower: wrap('setPower', mock.power.setPower),
      powerCycle: wrap('powerCycle', mock.power.powerCycle),
      powerStatus: wrap('powerStatus', mock.power.powerStatus),
    },
  };
  return { driver, calls, peak: () => peak };
}

for (const database of testDatabases()) {
  describe(`OBM robustness on ${database.name}`, { skip: database.skip }, () => {
    it('retries a repeatable call after a quick failure, but never a power cycle', () => {
      const bmc = flaky(1);
      return withHil(database, { bmcDrivers: [bmc.driver] }, async (t) => {
        const api = t.as();
        await api('PUT', '/v0/node/n1', { obm: { type: 'flaky' } });
        await api('PUT', '/v0/node/n1/obm', { enabled: true });
        assert.equal((await api('POST', '/v0/node/n1/power_on')).status, 200);
        assert.deepEqual(bmc.calls, ['setPower', 'setPower']);
        const cycle = await api('POST', '/v0/node/n1/power_cycle', { force: true });
        assert.deepEqual([cycle.status, cycle.body.type], [500, 'OBMError']);
        assert.match(cycle.body.msg, /power cycle failed on node n1: BMC busy/);
        assert.deepEqual(bmc.calls.filter((c) => c === 'powerCycle'), ['powerCycle']);
        assert.deepEqual((await api('GET', '/v0/node/n1/power_status')).body, { power_status: 'on' });
      });
    });

    it('sends one call at a time to a BMC, however many requests arrive', () => {
      const bmc = flaky(0);
      return withHil(database, { bmcDrivers: [bmc.driver] }, async (t) => {
        const api = t.as();
        await api('PUT', '/v0/node/n1', { obm: { type: 'flaky' } });
        await api('PUT', '/v0/node/n1/obm', { enabled: true });
        const results = await Promise.all([...Array(8)].map((_, i) => api('POST', `/v0/node/n1/${i % 2 ? 'power_on' : 'power_off'}`)));
        assert.ok(results.every((r) => r.status === 200));
        assert.equal(bmc.peak(), 1);
      });
    });

    it('sets the boot device for every boot by default, or for the next boot only', () =>
      withHil(database, {}, async (t) => {
        const api = t.as();
        await api('PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        await api('PUT', '/v0/node/n1/obm', { enabled: true });
        const bmc = (t.hil.bmcs.resolve('mock') as unknown as { state(n: string): { bootDevice: string; bootPersistent: boolean } }).state('n1');
        assert.equal((await api('PUT', '/v0/node/n1/boot_device', { bootdev: 'pxe' })).status, 200);
        assert.deepEqual([bmc.bootDevice, bmc.bootPersistent], ['pxe', true]);
        assert.equal((await api('PUT', '/v0/node/n1/boot_device', { bootdev: 'disk', persistent: false })).status, 200);
        assert.deepEqual([bmc.bootDevice, bmc.bootPersistent], ['disk', false]);
        assert.equal((await api('PUT', '/v0/node/n1/boot_device', { bootdev: 'pxe', persistent: 'no' })).status, 400);
      }));
  });
}
