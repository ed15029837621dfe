/**
 * `hil headnode …` and `hil network vpn …` through bin/hil in subprocesses,
 * against a real server (SQLite, database auth; headnodes and VPNs
 * configured, no host switch, so rows only): every command a tenant has,
 * including the two upstream's CLI got wrong (network detach, the raw paths).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil } from '../support/hil.ts';
import { runHil } from '../support/processes.ts';
import { headnodeApiConfig, SSH_KEY } from '../support/headnodes.ts';
import { generateKeyPair } from '../../src/vpn/keys.ts';

const sqlite = testDatabases().find((d) => d.name === 'sqlite')!;

describe('hil headnode and hil network vpn', { skip: sqlite.skip }, () => {
  it('a tenant makes, changes, shows and deletes a headnode and a VPN', () =>
    withHil(sqlite, { auth: 'database', config: headnodeApiConfig }, async (t) => {
      const admin = t.as(await addUser(t, 'admin', 'admin-pw', true));
      assert.equal((await admin('PUT', '/v0/project/runway')).status, 200);
      await addUser(t, 'alice', 'alice-pw', false, ['runway']);
      const endpoint = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
      const ok = async (...args: string[]) => {
        const r = await runHil(endpoint, ['alice', 'alice-pw'], args);
        assert.equal(r.status, 0, `hil ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      const scratch = mkdtempSync(join(tmpdir(), 'hil-cli-headnode-'));
      try {
        const keyFile = join(scratch, 'id.pub');
        writeFileSync(keyFile, `# a comment\n${SSH_KEY}\n`);
        await ok('network', 'create', 'rnet', 'runway');
        assert.equal(await ok('headnode', 'list-images'), 'base-headnode\nimg1\n');
        assert.equal(await ok('headnode', 'create', 'hn/1', 'runway', 'img1', '--ssh-key', keyFile), 'Created headnode hn/1.\n');
        await ok('headnode', 'nic', 'create', 'hn/1', 'eth0', '--address', '10.50.0.1/24');
        await ok('headnode', 'nic', 'create', 'hn/1', 'eth1');
        assert.equal(await ok('headnode', 'network', 'connect', 'hn/1', 'eth0', 'rnet'), 'Connected hn/1/eth0 to rnet.\n');
        const shown = JSON.parse(await ok('headnode', 'show', 'hn/1', '--json'));
        assert.deepEqual([shown.hnics, shown.nics.eth0.network, shown.nics.eth0.address, shown.ssh_keys], [['eth0', 'eth1'], 'rnet', '10.50.0.1/24', [SSH_KEY]]);
        assert.match(await ok('headnode', 'show', 'hn/1'), /headnode: hn\/1\nproject: runway\nbase image: img1\npower: off\nstate: stopped\n/);
        // Upstream's form names the network; it is accepted, and so is the short one.
        await ok('headnode', 'network', 'detach', 'hn/1', 'eth0', 'rnet');
        await ok('headnode', 'network', 'detach', 'hn/1', 'eth0');
        await ok('headnode', 'nic', 'delete', 'hn/1', 'eth1');
        assert.equal(await ok('headnode', 'list', 'runway'), 'hn/1\n');
        await ok('headnode', 'start', 'hn/1');
        assert.equal(await ok('headnode', 'power-status', 'hn/1'), 'On\n');
        await ok('headnode', 'power-cycle', 'hn/1');
        await ok('headnode', 'stop', 'hn/1');
        assert.equal(await ok('headnode', 'console', 'hn/1'), '', 'an empty log: no VM ran here');

        const mine = generateKeyPair();
        const conf = await ok('network', 'vpn', 'create', 'laptop', 'rnet', '--public-key', mine.publicKey, '--address', '10.50.0.254/24');
        assert.match(conf, /^\[Interface\]$/m);
        assert.doesNotMatch(conf, /^PrivateKey/m, 'the tenant kept its own key');
        assert.match(conf, /^AllowedIPs = 10\.50\.0\.0\/24$/m);
        const made = JSON.parse(await ok('network', 'vpn', 'create', 'phone', 'rnet', '--json'));
        assert.match(made.config, /^PrivateKey = /m);
        assert.equal(await ok('network', 'vpn', 'list', 'rnet'), 'laptop\nphone\n');
        assert.match(await ok('network', 'vpn', 'show', 'laptop'), new RegExp(`public key: ${mine.publicKey.replace(/[+/]/g, '\\$&')}\\n`));
        const refused = await runHil(endpoint, ['alice', 'alice-pw'], ['network', 'delete', 'rnet']);
        assert.equal(refused.status, 1);
        assert.match(refused.stderr, /still has a VPN/);
        for (const v of ['laptop', 'phone']) await ok('network', 'vpn', 'delete', v);
        assert.equal(await ok('headnode', 'delete', 'hn/1'), 'Deleted headnode hn/1.\n');
        await ok('network', 'delete', 'rnet');
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    }));
});
