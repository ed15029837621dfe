/**
 * The rolling console log: kept while the OBM is enabled, readable by the
 * node's project and admins only, never carried over to the node's next tenant.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil } from '../support/hil.ts';
import { mockBmcDriver } from '../../src/drivers/bmc/mock.ts';
import type { ManagedBmcDriver } from '../../src/drivers/bmc/interface.ts';

for (const database of testDatabases()) {
  describe(`console log on ${database.name}`, { skip: database.skip }, () => {
    it('records the console while the OBM is enabled, for the owning project only', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const root = t.as(await addUser(t, 'root', 'root-pw', true));
        for (const p of ['alpha', 'beta']) await root('PUT', `/v0/project/${p}`);
        const alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['alpha']));
        const bob = t.as(await addUser(t, 'bob', 'bob-pw', false, ['beta']));
        await root('PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        await root('POST', '/v0/project/alpha/connect_node', { node: 'n1' });

        assert.equal((await alice('GET', '/v0/node/n1/console_log')).text, '', 'nothing before the OBM is enabled');
        await alice('PUT', '/v0/node/n1/obm', { enabled: true });
        await sleep(150);
        const log = await alice('GET', '/v0/node/n1/console_log');
        assert.equal(log.status, 200);
        assert.match(String(log.headers['content-type']), /application\/octet-stream/);
        assert.match(log.text, /^0\n1\n2\n/);
        assert.equal((await root('GET', '/v0/node/n1/console_log')).text.slice(0, 6), '0\n1\n2\n');
        assert.equal((await bob('GET', '/v0/node/n1/console_log')).status, 401);
        assert.equal((await t.as()('GET', '/v0/node/n1/console_log')).status, 401);

        // Disabling stops the recording; the log stays for the same project.
        await alice('PUT', '/v0/node/n1/obm', { enabled: false });
        const frozen = (await alice('GET', '/v0/node/n1/console_log')).text;
        await sleep(100);
        assert.equal((await alice('GET', '/v0/node/n1/console_log')).text, frozen);

        // The node's next tenant starts with an empty log.
        assert.equal((await alice('POST', '/v0/project/alpha/detach_node', { node: 'n1' })).status, 200);
        await root('POST', '/v0/project/beta/connect_node', { node: 'n1' });
        assert.equal((await bob('GET', '/v0/node/n1/console_log')).text, '');
        await bob('PUT', '/v0/node/n1/obm', { enabled: true });
        await sleep(100);
        const fresh = (await bob('GET', '/v0/node/n1/console_log')).text;
        assert.ok(fresh.length > 0);
        assert.ok(!fresh.startsWith(frozen), 'beta must not see what alpha saw');
        await bob('PUT', '/v0/node/n1/obm', { enabled: false });
      }));

    it("gives a free node's new tenant the console from the moment the node is theirs", () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const root = t.as(await addUser(t, 'root', 'root-pw', true));
        await root('PUT', '/v0/project/alpha');
        const alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['alpha']));
        await root('PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        // An operator enables the BMC of a free node (as hil-lab does), then hands it out.
        await root('PUT', '/v0/node/n1/obm', { enabled: true });
        await sleep(100);
        const whileFree = (await root('GET', '/v0/node/n1/console_log')).text;
        assert.match(whileFree, /^0\n1\n/);
        await root('POST', '/v0/project/alpha/connect_node', { node: 'n1' });
        await sleep(150);
        const log = (await alice('GET', '/v0/node/n1/console_log')).text;
        assert.ok(log.length > 0, 'the tenant sees what the node printed since it became theirs');
        assert.ok(!log.startsWith('0\n'), 'but not what it printed before');
        await root('PUT', '/v0/node/n1/obm', { enabled: false });
      }));

    it("says in the console when the BMC's console fails, without the BMC's details", () => {
      const mock = mockBmcDriver();
      const failing: ManagedBmcDriver = {
        ...mock,
        type: 'flaky',
        console: {
          open: () => ({
            // eslint-disable-next-line require-yield
            output: (async function* () {
              throw new Error('no answer from the BMC at 10.9.8.7:623');
            })(),
          }),
        },
      };
      return withHil(database, { auth: 'database', bmcDrivers: [mock, failing] }, async (t) => {
        const root = t.as(await addUser(t, 'root', 'root-pw', true));
        await root('PUT', '/v0/project/alpha');
        const alice = t.as(await addUser(t, 'alice', 'alice-pw', false, ['alpha']));
        await root('PUT', '/v0/node/n1', { obm: { type: 'flaky' } });
        await root('POST', '/v0/project/alpha/connect_node', { node: 'n1' });
        await alice('PUT', '/v0/node/n1/obm', { enabled: true });
        await sleep(100);
        const log = (await alice('GET', '/v0/node/n1/console_log')).text;
        assert.match(log, /\[hil: console unavailable; retrying in 0\.5 s\]/);
        assert.doesNotMatch(log, /10\.9\.8\.7/, "the tenant does not learn the BMC's address");
        assert.ok(t.logs.some((l) => String(l.err).includes('10.9.8.7')), 'the admin log has the details');
        await alice('PUT', '/v0/node/n1/obm', { enabled: false });
      });
    });

    it('keeps only the configured size, oldest bytes dropped first', () =>
      withHil(database, { config: (c) => (c.obm.console_log_kib = 1) }, async (t) => {
        const api = t.as();
        await api('PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        await api('PUT', '/v0/node/n1/obm', { enabled: true });
        // The mock prints a line every 20 ms: ~4 bytes each; wait until well past 1 KiB.
        let text = '';
        for (let i = 0; i < 100 && !(text.length >= 1024 && !text.startsWith('0\n')); i++) {
          await sleep(100);
          text = (await api('GET', '/v0/node/n1/console_log')).text;
        }
        assert.ok(text.length >= 1024 && text.length < 1024 + 64, `log is ${text.length} bytes`);
        assert.ok(!text.startsWith('0\n1\n'), 'the oldest lines are gone');
        await api('PUT', '/v0/node/n1/obm', { enabled: false });
      }));
  });
}
