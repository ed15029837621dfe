/**
 * The worker as its own process (`hil-admin serve-networks`), as operators
 * run it: killed with SIGKILL in the middle of a queue and restarted, it
 * finishes the rest with each action applied to the switch exactly once; and
 * it is woken by the API's commits without a polling sleep.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../support/databases.ts';
import { mockSwitchDb, waitAction, withHil, type TestHil } from '../support/hil.ts';
import { cabledProject, queueConnect } from '../support/fixtures.ts';
import { HIL_ADMIN, start, until } from '../support/processes.ts';

function serveNetworks(t: TestHil, config: string) {
  const dir = mkdtempSync(join(tmpdir(), 'hil-worker-'));
  const file = join(dir, 'hil.toml');
  writeFileSync(file, config);
  return start(HIL_ADMIN, ['--config', file, 'serve-networks'], {
    HIL_DATABASE_URL: t.hil.store.url,
    HIL_VLAN_POOL: '40-80',
    HIL_LOG_LEVEL: 'info',
  });
}

async function actionStates(t: TestHil) {
  const rows = await t.hil.store.db.selectFrom('networking_action').select(['status']).orderBy('id').execute();
  return rows.map((r) => r.status);
}

for (const database of testDatabases()) {
  describe(`serve-networks process on ${database.name}`, { skip: database.skip }, () => {
    it('SIGKILLed mid-queue and restarted, it completes the rest, each exactly once', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        const count = 10;
        await cabledProject(api, count);
        const sw = await t.hil.store.db.selectFrom('switch').select('id').executeTakeFirstOrThrow();
        // Port 4 hangs: the worker is stuck inside its switch call when we kill it.
        await mockSwitchDb(t).insertInto('mock_switch_fault').values({ switch_id: sw.id, port: 'gi1/0/4', mode: 'hang' }).execute();
        for (let i = 1; i <= count; i++) await queueConnect(api, `n${i}`, 'eth0', 'net');

        const first = serveNetworks(t, '[worker]\naction_timeout_seconds = 60\n');
        try {
          await until('three actions done', async () => (await actionStates(t)).filter((s) => s === 'DONE').length === 3);
          await new Promise((r) => setTimeout(r, 200));
          await first.kill('SIGKILL');
        } finally {
          await first.kill('SIGKILL');
        }
        assert.deepEqual(await actionStates(t), [...Array(3).fill('DONE'), ...Array(7).fill('PENDING')]);

        await mockSwitchDb(t).deleteFrom('mock_switch_fault').execute();
        const second = serveNetworks(t, '[worker]\naction_timeout_seconds = 60\n');
        try {
          await until('all actions done', async () => (await actionStates(t)).every((s) => s === 'DONE'), 30000);
        } finally {
          await second.kill();
        }

        const calls = await mockSwitchDb(t).selectFrom('mock_switch_call').select(['port', 'op']).execute();
        const perPort = new Map<string, number>();
        for (const c of calls) perPort.set(c.port, (perPort.get(c.port) ?? 0) + 1);
        for (let i = 1; i <= count; i++) assert.equal(perPort.get(`gi1/0/${i}`), 1, `switch calls for gi1/0/${i}`);
        const attachments = await t.hil.store.db.selectFrom('network_attachment').select('nic_id').execute();
        assert.equal(attachments.length, count);
        assert.equal(new Set(attachments.map((a) => a.nic_id)).size, count);
        const onSwitch = await mockSwitchDb(t).selectFrom('mock_switch_port').select('port').execute();
        assert.equal(onSwitch.length, count);
      }));

    it('is woken by the API commit, not by its poll', () =>
      withHil(database, { worker: false }, async (t) => {
        const api = t.as();
        await cabledProject(api, 1);
        // A one-minute safety poll: finishing in well under that proves the wake-up path.
        const worker = serveNetworks(t, '[worker]\npoll_ms = 60000\n');
        try {
          await worker.waitFor('hil networking worker running');
          const started = Date.now();
          const id = await queueConnect(api, 'n1', 'eth0', 'net');
          const done = await waitAction(api, id, 10000);
          const ms = Date.now() - started;
          assert.equal(done.status, 'DONE');
          assert.ok(ms < 3000, `cross-process connect→DONE took ${ms} ms`);
        } finally {
          await worker.kill();
        }
      }));
  });
}
