/**
 * Every vendor switch driver against its emulator, through the public API
 * and the networking worker, on SQLite and PostgreSQL:
 * - a command the switch refuses (a VLAN it will not carry, a port it does
 *   not have, a locked configuration) ends the action in ERROR with the
 *   switch's own words, and the switch works again afterwards;
 * - over SSH, a host key that does not match the pinned one, or the one
 *   recorded on first use, refuses the connection; the recorded one is shown
 *   to the admin;
 * - the password appears in no response, log line or action error.
 * (Upstream's registration bodies for these types: test/api/switches.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { testDatabases } from '../support/databases.ts';
import { waitAction, withHil, type Caller, type TestHil } from '../support/hil.ts';
import { VENDOR_FIXTURES } from '../support/switch-emulators/index.ts';
import type { RunningEmulator, VendorFixture } from '../support/switch-emulators/model.ts';
import { trustHostKey } from '../../src/drivers/switch/cli/host-keys.ts';

const USERNAME = 'hil-admin';
/** Random per run, so that finding it anywhere cannot be a coincidence. */
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const creds = { username: USERNAME, password: PASSWORD };

const running = new Set<RunningEmulator>();
after(async () => {
  for (const e of running) await e.close().catch(() => {});
});

async function start(fixture: VendorFixture, extra: { listenPort?: number; hostKey?: string } = {}): Promise<RunningEmulator> {
  const e = await fixture.start({ ports: fixture.ports, ...creds, ...extra });
  running.add(e);
  return e;
}

async function stop(e: RunningEmulator): Promise<void> {
  running.delete(e);
  await e.close();
}

async function ok(api: Caller, method: string, path: string, body?: unknown) {
  const r = await api(method, path, body);
  assert.ok(r.status === 200 || r.status === 202, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

/** Every response body seen, for the secret scan. */
function recording(api: Caller, seen: string[]): Caller {
  return async (...args) => {
    const r = await api(...args);
    seen.push(r.text);
    return r;
  };
}

/** A node n<i> with eth0 cabled to `port` of sw0, in project p. */
async function cabledNode(api: Caller, i: number, port: string) {
  await ok(api, 'PUT', `/v0/switch/sw0/port/${encodeURIComponent(port)}`);
  await ok(api, 'PUT', `/v0/node/n${i}`, { obm: { type: 'mock' } });
  await ok(api, 'PUT', `/v0/node/n${i}/nic/eth0`, { macaddr: `52:54:00:00:00:0${i}` });
  await ok(api, 'POST', `/v0/switch/sw0/port/${encodeURIComponent(port)}/connect_nic`, { node: `n${i}`, nic: 'eth0' });
  await ok(api, 'POST', '/v0/project/p/connect_node', { node: `n${i}` });
}

/** Connects n<i> to `network` (on `channel`, default its native one) and waits for the action to end. */
async function connect(api: Caller, i: number, network: string, channel?: string) {
  const { status_id } = await ok(api, 'POST', `/v0/node/n${i}/nic/eth0/connect_network`, channel ? { network, channel } : { network });
  return waitAction(api, status_id, 30000);
}

function assertNoSecret(t: TestHil, seen: string[]) {
  for (const text of seen) assert.ok(!text.includes(PASSWORD), `a response carries the switch password: ${text.slice(0, 200)}`);
  for (const line of t.logs) assert.ok(!JSON.stringify(line).includes(PASSWORD), `a log line carries the switch password: ${JSON.stringify(line).slice(0, 300)}`);
}

const config = (vlans: string) => ({
  config: (c: { network: { vlans: string }; worker: { action_timeout_seconds: number } }) => {
    c.network.vlans = vlans;
    c.worker.action_timeout_seconds = 10;
  },
});

for (const fixture of VENDOR_FIXTURES) {
  for (const database of testDatabases()) {
    describe(`${fixture.vendor} switch on ${database.name}`, { skip: database.skip }, () => {
      it("a refused command ends the action in ERROR with the switch's words", async () => {
        const e = await start(fixture);
        try {
          await withHil(database, config("40-80"), async (t) => {
            const seen: string[] = [];
            const api = recording(t.as(), seen);
            await ok(api, 'PUT', '/v0/switch/sw0', { type: fixture.type, ...fixture.fields(e, creds) });
            await ok(api, 'PUT', '/v0/project/p');
            await cabledNode(api, 1, fixture.ports[0]!);
            await cabledNode(api, 2, fixture.missingPorts[0]!);
            await cabledNode(api, 3, fixture.ports[1]!);
            await ok(api, 'PUT', '/v0/network/good', { owner: 'p', access: 'p', net_id: '' });
            await ok(api, 'PUT', '/v0/network/refused', { owner: 'admin', access: 'p', net_id: String(fixture.invalidVlan.vlan) });

            const { vlan: bad, tagged } = fixture.invalidVlan;
            // A VLAN refused only as a tagged one goes beside a native network (these switches want one first).
            if (tagged) assert.equal((await connect(api, 1, 'good')).status, 'DONE');
            const refused = await connect(api, 1, 'refused', tagged ? `vlan/${bad}` : undefined);
            assert.equal(refused.status, 'ERROR', `a VLAN the switch refuses: ${JSON.stringify(refused)}`);
            assert.match(refused.error, fixture.invalidVlan.message);

            const missing = await connect(api, 2, 'good');
            assert.equal(missing.status, 'ERROR', `a port the switch lacks: ${JSON.stringify(missing)}`);
            assert.match(missing.error, fixture.missingPortMessage);

            e.faults.configLocked = true;
            const locked = await connect(api, 3, 'good');
            assert.equal(locked.status, 'ERROR', `a locked configuration: ${JSON.stringify(locked)}`);
            assert.match(locked.error, fixture.configLockedMessage);

            e.faults.configLocked = false;
            const fine = await connect(api, 3, 'good');
            assert.equal(fine.status, 'DONE', `after the lock: ${fine.error}`);
            const vlan = Number((await ok(api, 'GET', '/v0/network/good')).channels[1].split('/')[1]);
            assert.deepEqual(e.effective(fixture.ports[1]!), { native: vlan, tagged: [] }, 'the switch carries the network untagged on the port');
            assertNoSecret(t, seen);
          });
        } finally {
          await stop(e);
        }
      });

      it('a switch that cannot trunk without a native VLAN gets the native network first and loses it last (409 otherwise, as upstream)', async () => {
        const e = await start(fixture);
        try {
          await withHil(database, config('40-80'), async (t) => {
            const api = t.as();
            await ok(api, 'PUT', '/v0/switch/sw0', { type: fixture.type, ...fixture.fields(e, creds) });
            await ok(api, 'PUT', '/v0/project/p');
            await cabledNode(api, 1, fixture.ports[0]!);
            await ok(api, 'PUT', '/v0/network/a', { owner: 'p', access: 'p', net_id: '' });
            await ok(api, 'PUT', '/v0/network/b', { owner: 'p', access: 'p', net_id: '' });
            const tagged = (await ok(api, 'GET', '/v0/network/b')).channels[1] as string;
            const vlanB = Number(tagged.split('/')[1]);
            const nativeless = ((await ok(api, 'GET', '/v0/switch/sw0')).capabilities as string[]).includes('nativeless-trunk-mode');
            const tryConnect = (network: string, channel?: string) => api('POST', '/v0/node/n1/nic/eth0/connect_network', channel ? { network, channel } : { network });
            const tryDetach = (network: string) => api('POST', '/v0/node/n1/nic/eth0/detach_network', { network });
            const done = async (r: { status: number; body: { status_id: string }; text: string }) => {
              assert.equal(r.status, 202, r.text);
              const a = await waitAction(api, r.body.status_id, 30000);
              assert.equal(a.status, 'DONE', a.error);
            };
            if (nativeless) {
              await done(await tryConnect('b', tagged));
              assert.deepEqual(e.effective(fixture.ports[0]!), { native: null, tagged: [vlanB] }, 'a nativeless trunk');
              await done(await tryDetach('b'));
              return;
            }
            const first = await tryConnect('b', tagged);
            assert.equal(first.status, 409, first.text);
            assert.match(first.body.msg, /Please attach a native network first/);
            await done(await tryConnect('a'));
            await done(await tryConnect('b', tagged));
            const last = await tryDetach('a');
            assert.equal(last.status, 409, last.text);
            assert.match(last.body.msg, /Please remove all trunked Vlans before removing the native vlan/);
            await done(await tryDetach('b'));
            await done(await tryDetach('a'));
            assert.deepEqual(e.effective(fixture.ports[0]!), { native: null, tagged: [] });
          });
        } finally {
          await stop(e);
        }
      });

      it('a hung switch is cut off by the action timeout, and its session is not reused', async () => {
        const e = await start(fixture);
        try {
          await withHil(database, { config: (c) => (c.worker.action_timeout_seconds = 5) }, async (t) => {
            const api = t.as();
            await ok(api, 'PUT', '/v0/switch/sw0', { type: fixture.type, ...fixture.fields(e, creds) });
            await ok(api, 'PUT', '/v0/project/p');
            await cabledNode(api, 1, fixture.ports[0]!);
            await ok(api, 'PUT', '/v0/network/good', { owner: 'p', access: 'p', net_id: '' });
            e.faults.hangAfterCommands = 0;
            const started = Date.now();
            const hung = await connect(api, 1, 'good');
            assert.equal(hung.status, 'ERROR', JSON.stringify(hung));
            assert.match(hung.error, /timed out|timeout/i);
            assert.ok(Date.now() - started < 20000, 'cut off by the timeout, not left hanging');
            // The switch answers again, but the hung command's session never will: the next action can only succeed on a new one.
            e.faults.hangAfterCommands = undefined;
            const fine = await connect(api, 1, 'good');
            assert.equal(fine.status, 'DONE', `the next action, on a new session: ${fine.error}`);
          });
        } finally {
          await stop(e);
        }
      });

      // Only SSH switches have host keys.
      if (fixture.transport === 'ssh') it('refuses a switch whose host key is not the pinned or first-seen one', async () => {
        let e = await start(fixture);
        try {
          await withHil(database, config('40-80'), async (t) => {
            const api = t.as();
            // Without a pinned key: what is recorded on first use is under test here.
            const { host_key: _pinned, ...fields } = fixture.fields(e, creds);
            await ok(api, 'PUT', '/v0/project/p');
            await ok(api, 'PUT', '/v0/network/good', { owner: 'p', access: 'p', net_id: '' });
            // Pinned at registration, and wrong.
            const wrong = 'SHA256:' + Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '');
            await ok(api, 'PUT', '/v0/switch/pinned', { type: fixture.type, ...fields, host_key: wrong });
            await ok(api, 'PUT', `/v0/switch/pinned/port/${encodeURIComponent(fixture.ports[1]!)}`);
            await ok(api, 'PUT', '/v0/node/n9', { obm: { type: 'mock' } });
            await ok(api, 'PUT', '/v0/node/n9/nic/eth0', { macaddr: '52:54:00:00:00:09' });
            await ok(api, 'POST', `/v0/switch/pinned/port/${encodeURIComponent(fixture.ports[1]!)}/connect_nic`, { node: 'n9', nic: 'eth0' });
            await ok(api, 'POST', '/v0/project/p/connect_node', { node: 'n9' });
            const before = e.effective(fixture.ports[1]!);
            const { status_id } = await ok(api, 'POST', '/v0/node/n9/nic/eth0/connect_network', { network: 'good' });
            const pinned = await waitAction(api, status_id, 30000);
            assert.equal(pinned.status, 'ERROR');
            assert.match(pinned.error, /host key/i);
            assert.ok(pinned.error.includes(e.hostKeyFingerprint!), `the error names the key the switch showed: ${pinned.error}`);
            assert.deepEqual(e.effective(fixture.ports[1]!), before, 'the port is as it was');
            assert.deepEqual(e.log, [], 'no command reached the switch');

            // Not pinned: the first key seen is recorded and shown to the admin.
            await ok(api, 'PUT', '/v0/switch/sw0', { type: fixture.type, ...fields });
            await cabledNode(api, 1, fixture.ports[0]!);
            assert.equal((await connect(api, 1, 'good')).status, 'DONE');
            const firstKey = e.hostKeyFingerprint;
            assert.equal((await ok(api, 'GET', '/v0/switch/sw0')).host_key, firstKey);

            // The same address answers with another key: refused.
            const port = e.port;
            await stop(e);
            e = await start(fixture, { listenPort: port });
            assert.notEqual(e.hostKeyFingerprint, undefined);
            const { status_id: again } = await ok(api, 'POST', '/v0/node/n1/nic/eth0/detach_network', { network: 'good' });
            const changed = await waitAction(api, again, 30000);
            assert.equal(changed.status, 'ERROR');
            assert.match(changed.error, /host key/i);
            assert.ok(changed.error.includes(e.hostKeyFingerprint!) && changed.error.includes(firstKey!), `the error names both keys: ${changed.error}`);
            assert.equal((await ok(api, 'GET', '/v0/switch/sw0')).host_key, firstKey, 'the recorded key is kept, not replaced by the new one');

            // The admin checked the new key on the switch's console: `hil-admin switch trust-host-key` (its function here).
            assert.match(changed.error, new RegExp(`hil-admin switch trust-host-key sw0 ${e.hostKeyFingerprint!.replace(/[+/]/g, '\\$&')}`));
            assert.deepEqual(await trustHostKey(t.hil.store.db, 'sw0', e.hostKeyFingerprint!), { replaced: firstKey, pinned: false });
            const { status_id: trusted } = await ok(api, 'POST', '/v0/node/n1/nic/eth0/detach_network', { network: 'good' });
            assert.equal((await waitAction(api, trusted, 30000)).status, 'DONE', 'the new key is trusted');
            assert.equal((await ok(api, 'GET', '/v0/switch/sw0')).host_key, e.hostKeyFingerprint);
            // A pinned key is replaced in the registration.
            assert.deepEqual(await trustHostKey(t.hil.store.db, 'pinned', e.hostKeyFingerprint!), { replaced: wrong, pinned: true });
            const { status_id: pinnedAgain } = await ok(api, 'POST', '/v0/node/n9/nic/eth0/connect_network', { network: 'good' });
            assert.equal((await waitAction(api, pinnedAgain, 30000)).status, 'DONE', 'the re-pinned key is trusted');
          });
        } finally {
          await stop(e).catch(() => {});
        }
      });
    });
  }
}
