/**
 * A switch that dies in the middle of a batch, for every vendor emulator:
 * the emulator runs as its own process and kills itself after a set number
 * of configuration commands, partway through the worker's batch. The
 * actions end in ERROR, so the database says the ports carry nothing; the
 * switch (restarted with the running configuration it had, as a switch's
 * data plane keeps forwarding what it was told) carries the network on the
 * ports it finished. `verify_networks` reports exactly those ports, `fix`
 * repairs them, and afterwards the switch and the database agree; and
 * after a power cycle (back to its startup configuration) it still does,
 * since every DONE action was saved. Also: the password is not on the
 * emulator's command line.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { testDatabases } from '../support/databases.ts';
import { startTestHil, waitAction, type Caller } from '../support/hil.ts';
import { VENDOR_FIXTURES } from '../support/switch-emulators/index.ts';
import type { RunningEmulator } from '../support/switch-emulators/model.ts';
import { startEmulatorProcess } from '../support/switch-emulators/process.ts';
import { generateHostKey } from '../support/switch-emulators/ssh-server.ts';

const creds = { username: 'hil-admin', password: 'kill-test-password-5f2a' };

async function ok(api: Caller, method: string, path: string, body?: unknown) {
  const r = await api(method, path, body);
  assert.ok(r.status === 200 || r.status === 202, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

/** Configuration commands the switch applied so far (kept in its state file, written at the first one). */
const commandsIn = (stateFile: string): number => (existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, 'utf8')) as { commands: number }).commands : 0);

for (const fixture of VENDOR_FIXTURES) {
  for (const database of testDatabases()) {
    describe(`${fixture.vendor} switch killed mid-batch, on ${database.name}`, { skip: database.skip }, () => {
      it('verify reports the ports the switch finished, and --fix repairs them', async () => {
        const dir = mkdtempSync(join(tmpdir(), `hil-kill-${fixture.vendor}-`));
        const stateFile = join(dir, 'state.json');
        // The same key and address across restarts: it is the same switch.
        const hostKey = fixture.transport === 'ssh' ? generateHostKey() : undefined;
        const ports = fixture.ports.slice(0, 4);
        let emulator = await startEmulatorProcess(fixture.vendor, { ports: fixture.ports, ...creds, stateFile, hostKey });
        const db = await database.create();
        const config = { config: (c: { worker: { action_timeout_seconds: number } }) => (c.worker.action_timeout_seconds = 10) };
        // Requests go to an API process without a worker, so that the queue fills before any worker drains it.
        const front = await startTestHil(db, { worker: false, ...config });
        let worker: Awaited<ReturnType<typeof startTestHil>> | undefined;
        try {
          const cmdline = readFileSync(`/proc/${emulator.pid}/cmdline`, 'utf8');
          assert.ok(!cmdline.includes(creds.password), 'the password is not on the emulator process command line');

          const api = front.as();
          const target = { host: '127.0.0.1', port: emulator.port, hostKeyFingerprint: emulator.hostKeyFingerprint } as RunningEmulator;
          await ok(api, 'PUT', '/v0/switch/sw0', { type: fixture.type, ...fixture.fields(target, creds) });
          await ok(api, 'PUT', '/v0/project/p');
          for (const [i, port] of ports.entries()) {
            await ok(api, 'PUT', `/v0/switch/sw0/port/${encodeURIComponent(port)}`);
            await ok(api, 'PUT', `/v0/node/n${i}`, { obm: { type: 'mock' } });
            await ok(api, 'PUT', `/v0/node/n${i}/nic/eth0`, { macaddr: `52:54:00:00:01:0${i}` });
            await ok(api, 'POST', `/v0/switch/sw0/port/${encodeURIComponent(port)}/connect_nic`, { node: `n${i}`, nic: 'eth0' });
            await ok(api, 'POST', '/v0/project/p/connect_node', { node: `n${i}` });
          }
          await ok(api, 'PUT', '/v0/network/net', { owner: 'p', access: 'p', net_id: '' });
          const vlan = (await ok(api, 'GET', '/v0/network/net')).channels[1].split('/')[1] as string;
          // Fresh ports carry the switch's default VLAN: isolate them first.
          const isolated = await ok(api, 'POST', '/v0/verify_networks', { fix: true });
          assert.deepEqual(isolated.unreachable, []);

          worker = await startTestHil(db, { worker: true, ...config });
          // How many commands one such change takes on this switch, in a session of its own.
          const before = commandsIn(stateFile);
          const { status_id: first } = await ok(api, 'POST', '/v0/node/n3/nic/eth0/connect_network', { network: 'net' });
          assert.equal((await waitAction(api, first, 30000)).status, 'DONE');
          const perChange = commandsIn(stateFile) - before;
          assert.ok(perChange > 0, 'the change took configuration commands');
          await worker.close();
          worker = undefined;

          // The switch dies one command into the second port of the next batch.
          await emulator.stop();
          emulator = await startEmulatorProcess(fixture.vendor, { ports: fixture.ports, ...creds, stateFile, hostKey, listenPort: target.port, faults: { dieAfterCommands: perChange + 1 } });
          const queued = [];
          for (const i of [0, 1, 2]) queued.push((await ok(api, 'POST', `/v0/node/n${i}/nic/eth0/connect_network`, { network: 'net' })).status_id as string);
          worker = await startTestHil(db, { worker: true, ...config });
          await emulator.exited;
          const outcomes = await Promise.all(queued.map((id) => waitAction(api, id, 60000)));
          assert.deepEqual(outcomes.map((a) => a.status), ['ERROR', 'ERROR', 'ERROR'], `every action of the broken batch failed: ${JSON.stringify(outcomes)}`);

          // Back up with the running configuration it had when it died.
          emulator = await startEmulatorProcess(fixture.vendor, { ports: fixture.ports, ...creds, stateFile, hostKey, listenPort: target.port });
          const report = await ok(api, 'GET', '/v0/verify_networks');
          assert.deepEqual(report.unreachable, []);
          const differing = report.differences.map((d: { port: string; actual: Record<string, string> }) => d.port);
          assert.ok(differing.includes(ports[0]), `verify names the port the switch finished before it died: ${JSON.stringify(report.differences)}`);
          const finished = report.differences.find((d: { port: string }) => d.port === ports[0]);
          assert.deepEqual(finished.expected, {});
          assert.deepEqual(finished.actual, { 'vlan/native': vlan });
          assert.ok(!differing.includes(ports[3]), 'the port changed before the batch is as the database says');

          const fixed = await ok(api, 'POST', '/v0/verify_networks', { fix: true });
          assert.ok(fixed.differences.length >= 1 && fixed.differences.every((d: { fixed: boolean }) => d.fixed), JSON.stringify(fixed.differences));
          assert.deepEqual((await ok(api, 'GET', '/v0/verify_networks')).differences, [], 'after --fix the switch and the database agree');
          // And the switch takes changes again.
          const { status_id: again } = await ok(api, 'POST', '/v0/node/n0/nic/eth0/connect_network', { network: 'net' });
          assert.equal((await waitAction(api, again, 30000)).status, 'DONE');

          // Every DONE action was saved: a power cycle (back to the startup configuration) loses none of them.
          await emulator.stop();
          emulator = await startEmulatorProcess(fixture.vendor, { ports: fixture.ports, ...creds, stateFile, hostKey, listenPort: target.port, boot: 'startup' });
          const rebooted = await ok(api, 'GET', '/v0/verify_networks');
          assert.deepEqual(rebooted.unreachable, []);
          assert.deepEqual(rebooted.differences, [], 'after a power cycle the switch still carries what every DONE action asked');
          assert.equal(rebooted.checked, 4);
        } finally {
          await worker?.close();
          await front.close();
          await db.drop();
          await emulator.stop();
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  }
}
