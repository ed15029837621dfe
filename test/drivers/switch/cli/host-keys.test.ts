/**
 * Host-key pinning and trust on first use (src/drivers/switch/cli/host-keys.ts
 * through ssh-cli.ts), and the database store on both databases.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchError } from '../../../../src/errors.ts';
import { SshCli, type SshCliOptions } from '../../../../src/drivers/switch/cli/ssh-cli.ts';
import { spawnSync } from 'node:child_process';
import { dbHostKeyStore, fingerprintOf, memoryHostKeyStore, SWITCH_HOST_KEY_MIGRATIONS, trustHostKey, type HostKeyStore } from '../../../../src/drivers/switch/cli/host-keys.ts';
import { HIL_ADMIN } from '../../../support/processes.ts';
import { openStore } from '../../../../src/store/db.ts';
import { CORE_MIGRATIONS, migrate } from '../../../../src/store/migrate.ts';
import { testDatabases } from '../../../support/databases.ts';
import { newHostKey, startScripted, type ScriptedSwitch } from './scripted-server.ts';

const USER = 'hil';
const PASSWORD = 'host-key-test-pw';

const servers: ScriptedSwitch[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function server(hostKey?: string): Promise<ScriptedSwitch> {
  const s = await startScripted({ auth: { username: USER, password: PASSWORD }, hostKey });
  servers.push(s);
  return s;
}

function capture() {
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  return { lines, info: (obj: object, msg: string) => lines.push({ obj: obj as Record<string, unknown>, msg }), warn() {} };
}

function options(s: ScriptedSwitch, store: HostKeyStore, pinned?: string, log = capture()): SshCliOptions {
  return {
    host: '127.0.0.1',
    port: s.port,
    username: USER,
    password: PASSWORD,
    label: 'toy switch "edge-3"',
    hostKey: { switchId: 7, switchLabel: 'edge-3', pinned, store, log },
    errorPatterns: [/^% /],
    loginTimeoutMs: 5000,
    commandTimeoutMs: 3000,
  };
}

describe('switch host keys', () => {
  it('computes fingerprints as OpenSSH prints them', () => {
    const blob = Buffer.from('AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl', 'base64');
    // ssh-keygen -lf of this public key prints this SHA256 fingerprint.
    assert.equal(fingerprintOf(blob), 'SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU');
  });

  it('connects to a switch showing its pinned key, recording nothing', async () => {
    const s = await server();
    const store = memoryHostKeyStore();
    const cli = await SshCli.connect(options(s, store, s.fingerprint));
    await cli.close();
    assert.equal(store.keys.size, 0);
  });

  it('refuses a switch whose key is not the pinned one, before sending the password', async () => {
    const s = await server();
    const pinned = (await server()).fingerprint;
    await assert.rejects(SshCli.connect(options(s, memoryHostKeyStore(), pinned)), (err: Error) => {
      assert.ok(err instanceof SwitchError);
      assert.ok(err.message.includes(s.fingerprint), err.message);
      assert.ok(err.message.includes(pinned), err.message);
      assert.match(err.message, /^toy switch "edge-3" presented the SSH host key .* pinned by the registration's host_key; refusing to connect\..* run: hil-admin switch trust-host-key edge-3 SHA256:/);
      return true;
    });
    assert.deepEqual(s.authAttempts, [], 'no password went to the impostor');
  });

  it('records the first key seen, logs it, and refuses a different one later', async () => {
    const key = newHostKey();
    const first = await server(key);
    const store = memoryHostKeyStore();
    const log = capture();
    await (await SshCli.connect(options(first, store, undefined, log))).close();
    assert.equal(store.keys.get(7), first.fingerprint);
    assert.equal(log.lines.length, 1);
    assert.deepEqual(log.lines[0]!.obj, { switch: 'toy switch "edge-3"', fingerprint: first.fingerprint });
    assert.match(log.lines[0]!.msg, /recorded its SSH host key SHA256:/);

    // The same key again: accepted, nothing logged.
    const same = await server(key);
    await (await SshCli.connect(options(same, store, undefined, log))).close();
    assert.equal(log.lines.length, 1);

    const impostor = await server();
    await assert.rejects(SshCli.connect(options(impostor, store, undefined, log)), (err: Error) => {
      assert.ok(err instanceof SwitchError);
      assert.ok(err.message.includes(impostor.fingerprint) && err.message.includes(first.fingerprint), err.message);
      assert.match(err.message, /recorded on first use; refusing to connect/);
      return true;
    });
    assert.deepEqual(impostor.authAttempts, []);
    assert.equal(store.keys.get(7), first.fingerprint, 'the recorded key stays');
  });

  for (const tdb of testDatabases()) {
    it(`keeps first-use keys in the database (${tdb.name})`, { skip: tdb.skip }, async () => {
      const fresh = await tdb.create();
      const store = openStore(fresh.url);
      try {
        await migrate(store, [CORE_MIGRATIONS, SWITCH_HOST_KEY_MIGRATIONS]);
        const { id } = await store.db.insertInto('switch').values({ label: 'edge-3', type: 'x', params: '{}' }).returning('id').executeTakeFirstOrThrow();
        const keys = dbHostKeyStore(store.db);
        assert.equal(await keys.recorded(Number(id)), null);
        await keys.record(Number(id), 'SHA256:first');
        await keys.record(Number(id), 'SHA256:second');
        assert.equal(await keys.recorded(Number(id)), 'SHA256:first', 'the first writer wins');
        assert.equal(await dbHostKeyStore(store.db).recorded(Number(id) + 1), null);

        // `hil-admin switch trust-host-key` replaces the recorded key; or the registration's pin, where there is one.
        const newKey = `SHA256:${'N'.repeat(43)}`;
        const trusted = spawnSync(HIL_ADMIN, ['switch', 'trust-host-key', 'edge-3', newKey], { env: { ...process.env, HIL_DATABASE_URL: fresh.url }, encoding: 'utf8' });
        assert.equal(trusted.status, 0, trusted.stderr);
        assert.match(trusted.stdout, /switch edge-3: now trusting host key SHA256:N+ \(replacing SHA256:first, recorded on first use\)/);
        assert.equal(await keys.recorded(Number(id)), newKey);
        await store.db.updateTable('switch').set({ params: JSON.stringify({ host_key: 'SHA256:pinned' }) }).where('id', '=', id).execute();
        assert.deepEqual(await trustHostKey(store.db, 'edge-3', newKey), { replaced: 'SHA256:pinned', pinned: true });
        const { params } = await store.db.selectFrom('switch').select('params').where('id', '=', id).executeTakeFirstOrThrow();
        assert.equal(JSON.parse(params).host_key, newKey);
        await assert.rejects(trustHostKey(store.db, 'edge-3', 'SHA256:short'), /must be an SSH host key fingerprint/);
        await assert.rejects(trustHostKey(store.db, 'nope', newKey), /Switch "nope" does not exist/);

        await store.db.deleteFrom('switch').where('id', '=', id).execute();
        assert.equal(await keys.recorded(Number(id)), null, 'the key goes with its switch');
      } finally {
        await store.close();
        await fresh.drop();
      }
    });
  }
});
