/**
 * The mock switch's fencing token: a change under an older claim generation
 * than the newest that changed the switch is refused and noted, so that a
 * worker that froze after its own check cannot land a change after its
 * successor's (the chaos test found one that did, before the token).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../../support/databases.ts';
import { mockSwitchDb, withHil } from '../../support/hil.ts';
import { cabledProject } from '../../support/fixtures.ts';
import { mockSwitchDriver } from '../../../src/drivers/switch/mock.ts';
import { SwitchError } from '../../../src/errors.ts';

for (const database of testDatabases()) {
  describe(`mock switch fencing token on ${database.name}`, { skip: database.skip }, () => {
    it('refuses a change under an older generation than one that changed the switch, and notes it', () =>
      withHil(database, { worker: false }, async (t) => {
        await cabledProject(t.as(), 2);
        const row = await t.hil.store.db.selectFrom('switch').select(['id', 'label', 'params']).executeTakeFirstOrThrow();
        const driver = mockSwitchDriver(mockSwitchDb(t));
        const sw = { id: row.id, label: row.label, params: JSON.parse(row.params) };
        const stale = await driver.openSession(sw, { holder: 'frozen', generation: 4 });
        const successor = await driver.openSession(sw, { holder: 'successor', generation: 5 });

        await stale.modifyPort('gi1/0/1', 'vlan/native', '41', 'a1'); // before any newer generation: fine
        await successor.modifyPort('gi1/0/1', 'vlan/native', '42', 'a1');
        await assert.rejects(stale.modifyPort('gi1/0/2', 'vlan/native', '41', 'a2'), SwitchError);
        await assert.rejects(stale.revertPort('gi1/0/1', 'a3'), SwitchError);
        await successor.modifyPort('gi1/0/2', 'vlan/native', '42', 'a2'); // the same generation again: fine

        const mock = mockSwitchDb(t);
        const calls = await mock.selectFrom('mock_switch_call').select(['holder', 'generation', 'port']).orderBy('id').execute();
        assert.deepEqual(calls.map((c) => [c.holder, Number(c.generation), c.port]), [
          ['frozen', 4, 'gi1/0/1'],
          ['successor', 5, 'gi1/0/1'],
          ['successor', 5, 'gi1/0/2'],
        ]);
        const ports = await mock.selectFrom('mock_switch_port').select(['port', 'network_id']).orderBy('port').execute();
        assert.deepEqual(ports.map((p) => [p.port, p.network_id]), [
          ['gi1/0/1', '42'],
          ['gi1/0/2', '42'],
        ]);
        const refused = await mock.selectFrom('mock_switch_refusal').select(['holder', 'generation', 'token', 'op', 'action']).orderBy('id').execute();
        assert.deepEqual(refused.map((r) => [r.holder, Number(r.generation), Number(r.token), r.op, r.action]), [
          ['frozen', 4, 5, 'modify', 'a2'],
          ['frozen', 4, 5, 'revert', 'a3'],
        ]);
      }));
  });
}
