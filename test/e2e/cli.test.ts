/**
 * The `hil` CLI end to end: a real server (SQLite) and its networking worker
 * as child processes, driven only through `bin/hil` in subprocesses, as an
 * operator and a tenant would. Asserts on what is printed and on exit codes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HIL_ADMIN, REPO, start, type Child } from '../support/processes.ts';
import { freePort } from '../../src/lab/system.ts';

const HIL = `${REPO}bin/hil`;


interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('hil CLI, end to end', () => {
  let dir: string;
  let endpoint: string;
  let server: Child;
  let worker: Child | undefined;
  const serverEnv = () => ({ HIL_DATA_DIR: dir, HIL_VLAN_POOL: '1001-1010' });

  const hil = (user: [string, string] | null, args: string[], input?: string): Run => {
    const env: NodeJS.ProcessEnv = { ...process.env, HIL_ENDPOINT: endpoint, HIL_TIMEOUT: '10' };
    delete env.HIL_USERNAME;
    delete env.HIL_PASSWORD;
    if (user) [env.HIL_USERNAME, env.HIL_PASSWORD] = user;
    const r = spawnSync(HIL, args, { env, encoding: 'utf8', input });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const ADMIN: [string, string] = ['admin', 'admin-pw'];
  const ALICE: [string, string] = ['alice', 'alice-pw'];
  const BOB: [string, string] = ['bob', 'bob-pw'];
  const ok = (user: [string, string] | null, args: string[], input?: string): string => {
    const r = hil(user, args, input);
    assert.equal(r.status, 0, `hil ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };
  const fails = (user: [string, string] | null, args: string[], message: RegExp): void => {
    const r = hil(user, args);
    assert.equal(r.status, 1, `hil ${args.join(' ')} should fail; printed ${r.stdout}`);
    assert.match(r.stderr, message);
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hil-cli-'));
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    // API and networking worker as separate processes, so the test can stop the worker.
    server = start(HIL_ADMIN, ['serve', '--migrate', '--no-worker'], { ...serverEnv(), HIL_LISTEN: `127.0.0.1:${port}`, HIL_ADMIN_PASSWORD: 'admin-pw' });
    await server.waitFor('hil API server listening', 30000);
    worker = start(HIL_ADMIN, ['serve-networks'], serverEnv());
    await worker.waitFor('hil networking worker running');
  });

  after(async () => {
    await worker?.kill();
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the operator and tenant story, with errors where they belong', async () => {
    // Operator: project, users, switch, ports, node, nic, cabling.
    ok(ADMIN, ['project', 'create', 'runway']);
    ok(ADMIN, ['project', 'create', 'manhattan']);
    ok(ADMIN, ['user', 'create', 'alice', '-', 'regular'], 'alice-pw\n');
    ok(ADMIN, ['user', 'create', 'bob', 'bob-pw', 'regular']);
    ok(ADMIN, ['user', 'project', 'add', 'alice', 'runway']);
    ok(ADMIN, ['user', 'project', 'add', 'bob', 'manhattan']);
    assert.match(ok(ADMIN, ['user', 'list']), /alice\s+no\s+runway/);
    ok(ADMIN, ['switch', 'register', 'sw0', 'mock', 'sw0.example', 'admin', 'switch-secret']);
    // A password of "-" comes from stdin, so it is on no command line.
    ok(ADMIN, ['switch', 'register', 'sw-stdin', 'dellos10', 'os10.example', 'admin', '-'], 'from-stdin-secret\n');
    const stored = new DatabaseSync(join(dir, 'hil.db'), { readOnly: true });
    const params = stored.prepare("SELECT params FROM switch WHERE label = 'sw-stdin'").get() as { params: string };
    stored.close();
    assert.equal(JSON.parse(params.params).password, 'from-stdin-secret');
    ok(ADMIN, ['switch', 'delete', 'sw-stdin']);
    ok(ADMIN, ['port', 'register', 'sw0', 'gi1/0/1']);
    ok(ADMIN, ['node', 'register', 'node1', '--obm', 'mock']);
    ok(ADMIN, ['node', 'nic', 'register', 'node1', 'eth0', '52:54:00:00:00:01']);
    ok(ADMIN, ['port', 'nic', 'add', 'sw0', 'gi1/0/1', 'node1', 'eth0']);
    assert.deepEqual(JSON.parse(ok(ADMIN, ['switch', 'show', 'sw0', '--json'])).ports, [{ label: 'gi1/0/1' }]);

    // Tenant: take the node, make a network, connect and wait.
    assert.equal(ok(ALICE, ['node', 'list', 'free']), 'node1\n');
    ok(ALICE, ['project', 'node', 'add', 'runway', 'node1']);
    assert.deepEqual(JSON.parse(ok(ALICE, ['node', 'list', 'free', '--json'])), []);
    ok(ALICE, ['network', 'create', 'runway-net', 'runway']);
    const connect = hil(ALICE, ['node', 'network', 'connect', 'node1', 'eth0', 'runway-net', '--wait']);
    assert.equal(connect.status, 0, connect.stderr);
    assert.match(connect.stderr, /connect node1\/eth0 to runway-net: DONE in \d+ ms/);
    const statusId = connect.stdout.trim();
    assert.equal(JSON.parse(ok(ALICE, ['networking-action', 'show', statusId, '--json'])).status, 'DONE');
    const shown = ok(ALICE, ['node', 'show', 'node1']);
    assert.match(shown, /project: runway/);
    assert.match(shown, /eth0\s+52:54:00:00:00:01\s+runway-net \(vlan\/native\)/);
    assert.doesNotMatch(shown, /gi1\/0\/1/, 'tenants do not see switch ports');
    assert.match(ok(ALICE, ['network', 'show', 'runway-net']), /node1\s+eth0/);
    assert.match(ok(ALICE, ['network', 'list-attachments', 'runway-net']), /node1\s+eth0\s+vlan\/native\s+runway/);

    // Error paths, each with "Error: <msg>" and exit status 1.
    fails(ALICE, ['node', 'show', 'no-such-node'], /^Error: Node "no-such-node" does not exist\.$/m); // missing object
    fails(BOB, ['node', 'show', 'node1'], /^Error: You do not have access to the required project\.$/m); // no permission
    fails(ALICE, ['network', 'create', 'bad', 'runway', '--net-id', '1005'], /^Error: Project-owned networks must use network ID allocation$/m); // bad argument
    fails(ALICE, ['project', 'node', 'remove', 'runway', 'node1'], /^Error: Node attached to a network$/m); // state
    const usage = hil(ALICE, ['node', 'list']);
    assert.notEqual(usage.status, 0);
    assert.match(usage.stderr, /^Error: missing required argument 'free\|all'\n\(add --help for usage and an example\)\n$/);

    // A pending action blocks the next one: stop the worker, queue, try again.
    await worker!.kill();
    const queued = hil(ALICE, ['node', 'network', 'detach', 'node1', 'eth0', 'runway-net']);
    assert.equal(queued.status, 0, queued.stderr);
    fails(ALICE, ['node', 'network', 'detach', 'node1', 'eth0', 'runway-net'], /^Error: A networking operation is already active on the nic\.$/m);
    assert.equal(JSON.parse(ok(ALICE, ['networking-action', 'show', queued.stdout.trim(), '--json'])).status, 'PENDING');
    worker = start(HIL_ADMIN, ['serve-networks'], serverEnv());
    await worker.waitFor('hil networking worker running');
    for (let i = 0; i < 100 && JSON.parse(ok(ALICE, ['networking-action', 'show', queued.stdout.trim(), '--json'])).status === 'PENDING'; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(JSON.parse(ok(ALICE, ['node', 'show', 'node1', '--json'])).nics[0].networks, {});

    // Reconnect, then `remove --force` (as admin: it reverts the switch port) does the whole sequence.
    ok(ALICE, ['node', 'network', 'connect', 'node1', 'eth0', 'runway-net', '--wait']);
    ok(ALICE, ['node', 'obm', 'enable', 'node1']);
    ok(ALICE, ['node', 'power', 'on', 'node1']);
    assert.equal(ok(ALICE, ['node', 'power', 'status', 'node1']), 'on\n');
    ok(ALICE, ['node', 'bootdev', 'node1', 'pxe', '--once']);
    assert.match(ok(ALICE, ['node', 'console', 'log', 'node1']), /^\d+\n\d+\n/, 'the mock BMC has printed to the console log');
    fails(BOB, ['node', 'console', 'log', 'node1'], /^Error: You do not have access to the required project\.$/m);
    const removed = hil(ADMIN, ['project', 'node', 'remove', 'runway', 'node1', '--force']);
    assert.equal(removed.status, 0, removed.stderr);
    assert.match(removed.stderr, /disabling OBM[\s\S]*reverting sw0 port gi1\/0\/1[\s\S]*revert sw0 gi1\/0\/1: DONE/);
    assert.equal(removed.stdout, 'Removed node node1 from project runway.\n');
    assert.equal(ok(ALICE, ['node', 'list', 'free']), 'node1\n');

    // Tear everything down.
    ok(ALICE, ['network', 'delete', 'runway-net']);
    ok(ADMIN, ['port', 'nic', 'remove', 'sw0', 'gi1/0/1']);
    ok(ADMIN, ['port', 'delete', 'sw0', 'gi1/0/1']);
    ok(ADMIN, ['switch', 'delete', 'sw0']);
    ok(ADMIN, ['node', 'nic', 'delete', 'node1', 'eth0']);
    ok(ADMIN, ['node', 'delete', 'node1']);
    ok(ADMIN, ['user', 'delete', 'alice']);
    ok(ADMIN, ['project', 'delete', 'runway']);
    assert.equal(ok(ADMIN, ['project', 'list']), 'manhattan\n');
    assert.equal(ok(ADMIN, ['node', 'list', 'all']), '');
  });

  it("guides a new user past the usual mistakes, and confirms each change", () => {
    const run = (env: Record<string, string | undefined>, args: string[]) => {
      const full: NodeJS.ProcessEnv = { ...process.env, HIL_ENDPOINT: endpoint, HIL_USERNAME: 'admin', HIL_PASSWORD: 'admin-pw', ...env };
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
      const r = spawnSync(HIL, args, { env: full, encoding: 'utf8' });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const hostPort = endpoint.replace('http://', '');
    // HIL_ENDPOINT without its scheme, or with the API's /v0.
    for (const [value, message] of [
      [hostPort, `Error: the HIL endpoint must be an http:// or https:// URL such as http://127.0.0.1:5000, not "${hostPort}"; did you mean http://${hostPort}?\n`],
      ['localhost:5000', 'Error: the HIL endpoint must be an http:// or https:// URL such as http://127.0.0.1:5000, not "localhost:5000"; did you mean http://localhost:5000?\n'],
      [`${endpoint}/v0`, `Error: the HIL endpoint is the server's base URL, without the API's /v0: use ${endpoint}\n`],
      [`${endpoint}/v0/`, `Error: the HIL endpoint is the server's base URL, without the API's /v0: use ${endpoint}\n`],
    ]) {
      const r = run({ HIL_ENDPOINT: value }, ['node', 'list', 'free']);
      assert.deepEqual([r.status, r.stderr], [1, message], value);
    }
    // Missing credentials are not a wrong password.
    const anonymous = run({ HIL_USERNAME: undefined, HIL_PASSWORD: undefined }, ['node', 'list', 'free']);
    assert.equal(anonymous.status, 1);
    assert.match(anonymous.stderr, /^Error: the server wants credentials, and HIL_USERNAME and HIL_PASSWORD are not set \(the server said: /);
    assert.match(run({ HIL_PASSWORD: undefined }, ['node', 'list', 'free']).stderr, /^Error: the server wants credentials, and HIL_PASSWORD is not set/);
    const wrong = run({ HIL_PASSWORD: 'not-it' }, ['node', 'list', 'free']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /^Error: Authentication failed/);
    assert.doesNotMatch(wrong.stderr, /not set/);

    // A choice that is not one: refused before anything is asked, as upstream's CLI did.
    const fre = run({}, ['node', 'list', 'fre']);
    assert.deepEqual(
      [fre.status, fre.stdout, fre.stderr],
      [1, '', "Error: command-argument value 'fre' is invalid for argument 'free|all'. Allowed choices are free, all.\n(add --help for usage and an example)\n"],
    );
    assert.equal(run({}, ['user', 'set-admin', 'admin', 'root']).status, 1);
    assert.match(run({}, ['no-such-command']).stderr, /^Error: unknown command 'no-such-command' \(commands: node, project,/);

    // Creates and deletes confirm in one line; --quiet prints nothing; --json prints the object.
    assert.equal(run({}, ['project', 'create', 'guide']).stdout, 'Created project guide.\n');
    assert.equal(run({}, ['node', 'register', 'g1', '--obm', 'mock']).stdout, 'Registered node g1.\n');
    assert.deepEqual(JSON.parse(run({}, ['node', 'register', 'g2', '--obm', 'mock', '--json']).stdout), { name: 'g2', project: null, nics: [], metadata: {} });
    const quiet = run({}, ['--quiet', 'node', 'nic', 'register', 'g1', 'eth0', '52:54:00:00:00:31']);
    assert.deepEqual([quiet.status, quiet.stdout, quiet.stderr], [0, '', '']);
    assert.deepEqual([run({}, ['project', 'node', 'add', 'guide', 'g1', '-q']).stdout], ['']);
    const net = JSON.parse(run({}, ['network', 'create', 'guide-net', 'guide', '--json']).stdout);
    assert.deepEqual([net.name, net.owner, net.access], ['guide-net', 'guide', ['guide']]);
    assert.equal(run({}, ['user', 'create', 'carol', 'carol-pw', 'regular']).stdout, 'Created user carol.\n');
    assert.equal(run({}, ['user', 'project', 'add', 'carol', 'guide']).stdout, 'Added user carol to project guide.\n');

    // Completion of names, from the server, with the shell's credentials.
    const complete = (words: string[], env: Record<string, string | undefined> = {}) => {
      const line = words.map((w) => `'${w}'`).join(' ');
      const r = spawnSync('bash', ['-c', `source <(${HIL} completion bash); COMP_WORDS=(${HIL} ${line}); COMP_CWORD=${words.length}; _hil; echo "\${COMPREPLY[@]}"`], {
        env: { ...process.env, HIL_ENDPOINT: endpoint, HIL_USERNAME: 'admin', HIL_PASSWORD: 'admin-pw', ...env },
        encoding: 'utf8',
      });
      return r.stdout.trim();
    };
    assert.equal(complete(['node', 'show', 'g']), 'g1 g2');
    assert.equal(complete(['project', 'node', 'add', 'gu']), 'guide');
    assert.equal(complete(['project', 'node', 'add', 'guide', '']), 'g1 g2');
    assert.equal(complete(['node', 'network', 'connect', 'g1', 'eth0', 'guide']), 'guide-net');
    assert.equal(complete(['network', 'create', 'x', 'guide', '--access', 'gu']), 'guide');
    assert.equal(complete(['user', 'delete', 'ca']), 'carol');
    assert.equal(complete(['node', 'list', '']), 'free all');
    // A tenant gets what it may list; without credentials, nothing.
    const carol = { HIL_USERNAME: 'carol', HIL_PASSWORD: 'carol-pw' };
    assert.equal(complete(['node', 'show', 'g'], carol), run(carol, ['node', 'list', 'all']).stdout.trim().split('\n').filter((n) => n.startsWith('g')).join(' '));
    assert.equal(complete(['user', 'delete', ''], carol), '', 'a tenant cannot list users');
    assert.equal(complete(['node', 'show', 'g'], { HIL_USERNAME: undefined, HIL_PASSWORD: undefined }), '');

    // A refusal says which nodes are in the way and how to free them.
    assert.equal(run({}, ['node', 'obm', 'enable', 'g1']).status, 0);
    const blocked = run({}, ['project', 'node', 'remove', 'guide', 'g1']);
    assert.deepEqual([blocked.status, blocked.stderr], [1, "Error: Node g1's obm is enabled. Disable it first (hil node obm disable g1).\n"]);
    assert.equal(run({}, ['project', 'node', 'remove', 'guide', 'g1', '--force']).stdout, 'Removed node g1 from project guide.\n');
    for (const args of [['network', 'delete', 'guide-net'], ['user', 'delete', 'carol'], ['project', 'delete', 'guide'], ['node', 'nic', 'delete', 'g1', 'eth0'], ['node', 'delete', 'g1'], ['node', 'delete', 'g2']]) {
      const r = run({}, args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Deleted (network guide-net|user carol|project guide|nic eth0 of node g1|node g1|node g2)\.\n$/);
    }
  });

  it('says clearly when the server is down or unconfigured', async () => {
    const down = spawnSync(HIL, ['node', 'list', 'free'], { env: { ...process.env, HIL_ENDPOINT: 'http://127.0.0.1:9' }, encoding: 'utf8' });
    assert.equal(down.status, 1);
    assert.match(down.stderr, /^Error: cannot reach the HIL server at http:\/\/127\.0\.0\.1:9/m);
    const env = { ...process.env };
    delete env.HIL_ENDPOINT;
    const unset = spawnSync(HIL, ['node', 'list', 'free'], { env, encoding: 'utf8' });
    assert.equal(unset.status, 1);
    assert.match(unset.stderr, /^Error: HIL_ENDPOINT not set/m);
  });

  it('prints its version, and help with an example on every command', () => {
    assert.match(ok(null, ['--version']), /^hil client \d+\.\d+\.\d+\nhil server \d+\.\d+\.\d+ at http:\/\/127\.0\.0\.1:\d+ \(Node\.js v\d+/);
    for (const args of [['node'], ['node', 'network'], ['node', 'network', 'connect'], ['project', 'node', 'remove'], ['switch', 'register'], ['user', 'create'], ['port', 'nic', 'add'], ['completion']]) {
      const help = ok(null, [...args, '--help']);
      assert.match(help, /Example:\n {2}\$ .*\bhil /, args.join(" "));
    }
  });

  it('generates bash and zsh completion that list the subcommands', () => {
    for (const shell of ['bash', 'zsh']) {
      const script = ok(null, ['completion', shell]);
      assert.match(script, /complete -F _hil hil/);
      assert.match(script, /'' *\) words='node project network switch port user keystone networking-action image disk headnode completion/);
      assert.match(script, /'\/node\/network'\) words='connect detach/);
      assert.match(script, /'\/project\/node\/remove'\) words='--json --force/);
    }
    assert.match(ok(null, ['completion', 'zsh']), /^autoload -U \+X bashcompinit && bashcompinit/);
    // The bash script really completes: source it and ask for "hil node network c".
    const r = spawnSync('bash', ['-c', `source <(${HIL} completion bash); COMP_WORDS=(hil node network c); COMP_CWORD=3; _hil; echo "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
    assert.equal(r.stdout.trim(), 'connect');
  });
});
