/**
 * The switch emulators' core (test/support/switch-emulators: ssh-server,
 * cli-engine, http-server, process/main) with a toy grammar (toy.ts): what
 * a client sees on the wire — prompts, echo, abbreviations, the vendor's
 * messages, modes, paging, faults — and what the emulated device then
 * holds, read from its DeviceState and its state file.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateHostKey, hostKeyFingerprint } from '../../support/switch-emulators/ssh-server.ts';
import { startHttpEmulator } from '../../support/switch-emulators/http-server.ts';
import { startEmulatorProcess } from '../../support/switch-emulators/process.ts';
import type { CliEmulator } from '../../support/switch-emulators/cli-engine.ts';
import { newToyState, startToy, TOY_PORTS, toyGrammar, type ToyPort } from '../../support/switch-emulators/toy.ts';
import { openScreen, type Screen, type ScreenLogin } from './ssh-screen.ts';
import { findBinary } from '../../../src/lab/system.ts';
import { skipUnless } from '../../support/require.ts';

const USER = 'admin';
const PASSWORD = 'toy-secret-pw';
const TOY_MODULE = new URL('../../support/switch-emulators/toy.ts', import.meta.url).href;

const ANY_PROMPT = /toy(\([a-z-]+\))?#$/;

const connect = (port: number, o: Partial<ScreenLogin> = {}): Promise<Screen> => openScreen(port, { username: USER, password: PASSWORD, ...o }, ANY_PROMPT);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('switch emulator core: the CLI engine over SSH', () => {
  let e: CliEmulator<ToyPort>;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hil-emu-core-'));
    e = await startToy({ ports: TOY_PORTS, username: USER, password: PASSWORD });
  });
  after(async () => {
    await e.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the prompt, echoes what is typed, accepts abbreviations and both interface spellings, and logs each command', async () => {
    const s = await connect(e.port);
    assert.equal(await s.expect('toy#'), 'toy#');
    assert.match(await s.run('conf t'), /^conf t\r\ntoy\(config\)#$/);
    await s.run('vl 10');
    await s.run('vlan 20');
    assert.match(await s.run('int eth1/1'), /toy\(config-if\)#$/);
    await s.run('sw tr al vl add 10,20');
    await s.run('interface ethernet 1/2');
    await s.run('sw acc vl 20');
    assert.match(await s.run('end'), /^end\r\ntoy#$/);
    s.end();
    assert.deepEqual(e.state.port('Ethernet1/1'), { access: 1, tagged: [10, 20] });
    assert.deepEqual(e.effective('Ethernet1/2'), { native: 20, tagged: [] });
    assert.deepEqual(e.log.slice(-8), ['conf t', 'vl 10', 'vlan 20', 'int eth1/1', 'sw tr al vl add 10,20', 'interface ethernet 1/2', 'sw acc vl 20', 'end']);
  });

  it("prints the vendor's messages for invalid (with the marker), incomplete and ambiguous input, and the prompt again", async () => {
    const s = await connect(e.port);
    await s.expect('toy#');
    // "toy#" is 4 columns: the marker sits under the word that went wrong.
    assert.equal(await s.run('shw vlan'), "shw vlan\r\n    ^\r\n% Invalid input detected at '^' marker.\r\ntoy#");
    assert.equal(await s.run('show vlan extra'), "show vlan extra\r\n              ^\r\n% Invalid input detected at '^' marker.\r\ntoy#");
    assert.equal(await s.run('show interface eth9/9'), "show interface eth9/9\r\n                   ^\r\n% Invalid input detected at '^' marker.\r\ntoy#");
    assert.equal(await s.run('show'), 'show\r\n% Incomplete command.\r\ntoy#');
    assert.equal(await s.run('t 1'), 't 1\r\n% Ambiguous command:  "t 1"\r\ntoy#');
    // A refusal by the vendor's handler is printed the same way, and the session goes on.
    await s.run('conf t');
    assert.equal(await s.run('vlan 5000'), 'vlan 5000\r\n% VLAN id out of range\r\ntoy(config)#');
    assert.match(await s.run('int e1/3'), /toy\(config-if\)#$/);
    assert.equal(await s.run('sw acc vl 77'), 'sw acc vl 77\r\n% Access VLAN 77 does not exist\r\ntoy(config-if)#');
    s.end();
    assert.equal(e.state.vlans.has(5000), false);
    assert.equal(e.state.port('Ethernet1/3')!.access, 1);
  });

  it('moves between modes: exit to the parent, end to exec, a parent command from a child mode, do, exit at exec ends the session', async () => {
    const s = await connect(e.port);
    await s.expect('toy#');
    await s.run('configure terminal');
    await s.run('interface Ethernet1/4');
    // A global command typed in interface mode runs there, and the session drops to global mode.
    assert.match(await s.run('vlan 30'), /toy\(config\)#$/);
    assert.equal(e.state.vlans.has(30), true);
    await s.run('int eth1/4');
    // `do` runs an exec command and stays.
    assert.match(await s.run('do show vlan'), /VLAN\r\n1\r\n(.*\r\n)*30\r\ntoy\(config-if\)#$/);
    assert.match(await s.run('exit'), /toy\(config\)#$/);
    assert.match(await s.run('exit'), /\r\ntoy#$/);
    await s.run('conf t');
    await s.run('int eth1/4');
    assert.match(await s.run('end'), /\r\ntoy#$/);
    s.type('exit\r');
    await s.closed;
  });

  it('pages long output at the vendor\'s --More-- (space: a page, enter: a line, q: stop) until paging is turned off', async () => {
    const s = await connect(e.port);
    await s.expect('toy#');
    s.type('show numbers 30\r');
    // 10 lines per page: 9 of output and the pager's prompt.
    const first = await s.expect(' --More-- ');
    assert.match(first, /line 9\r\n --More-- $/);
    assert.doesNotMatch(first, /line 10/);
    await sleep(100);
    assert.equal(s.all().endsWith(' --More-- '), true, 'waits for a key');
    s.type(' ');
    const second = await s.expect(' --More-- ');
    assert.match(second, /^\r {10}\rline 10\r\n(line \d+\r\n){7}line 18\r\n --More-- $/);
    s.type('\r');
    assert.match(await s.expect(' --More-- '), /line 19\r\n --More-- $/);
    s.type('q');
    const rest = await s.expect('toy#');
    assert.doesNotMatch(rest, /line 20/);
    await s.run('terminal length 0');
    const all = await s.run('show numbers 30');
    assert.doesNotMatch(all, /More/);
    assert.match(all, /line 1\r\n(line \d+\r\n){28}line 30\r\ntoy#$/);
    s.end();
    // Paging is per session: a new one pages again.
    const t = await connect(e.port);
    await t.expect('toy#');
    t.type('show numbers 30\r');
    await t.expect(' --More-- ');
    t.end();
  });

  it('answers a question inside a command (a confirmation key)', async () => {
    const s = await connect(e.port);
    await s.expect('toy#');
    s.type('reload\r');
    await s.expect('Proceed with reload? [confirm]');
    s.type('y');
    assert.match(await s.expect('toy#'), /Reloading \(not really\)\.\r\ntoy#$/);
    s.end();
  });

  it("refuses configuration commands with the vendor's message while the configuration is locked", async () => {
    const s = await connect(e.port);
    await s.expect('toy#');
    await s.run('conf t');
    e.faults.configLocked = true;
    try {
      assert.equal(await s.run('vlan 40'), 'vlan 40\r\n% Configuration mode is locked by another session\r\ntoy(config)#');
      assert.equal(e.state.vlans.has(40), false);
      // exec commands still work
      assert.match(await s.run('do show vlan'), /VLAN/);
    } finally {
      e.faults.configLocked = false;
    }
    await s.run('vlan 40');
    assert.equal(e.state.vlans.has(40), true);
    s.end();
  });

  it('keeps its configuration in the state file across a restart, running apart from startup until saved', async () => {
    const stateFile = join(dir, 'restart.json');
    const a = await startToy({ ports: TOY_PORTS, username: USER, password: PASSWORD, stateFile });
    const s = await connect(a.port);
    await s.expect('toy#');
    await s.run('conf t');
    await s.run('vlan 11');
    await s.run('int eth1/5');
    await s.run('sw acc vl 11');
    await s.run('end');
    s.end();
    assert.equal(a.unsaved, true);
    await a.close();

    const b = await startToy({ ports: TOY_PORTS, username: USER, password: PASSWORD, stateFile });
    try {
      assert.deepEqual(b.effective('Ethernet1/5'), { native: 11, tagged: [] });
      assert.equal(b.unsaved, true);
      const t = await connect(b.port);
      await t.expect('toy#');
      assert.match(await t.run('show interface eth1/5'), /Ethernet1\/5: access 11/);
      assert.match(await t.run('copy running-config startup-config'), /Copy complete\./);
      t.end();
      assert.equal(b.unsaved, false);
      assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')).startup.ports['Ethernet1/5'], { access: 11, tagged: [] });
    } finally {
      await b.close();
    }
  });

  it('stops answering after hangAfterCommands configuration commands: no output, no echo', async () => {
    const h = await startToy({ ports: TOY_PORTS, username: USER, password: PASSWORD, faults: { hangAfterCommands: 1 } });
    try {
      const s = await connect(h.port);
      await s.expect('toy#');
      await s.run('conf t'); // an exec command: not counted
      await s.run('vlan 2');
      s.type('vlan 3\r');
      await s.expect('vlan 3\r\n');
      const seen = s.all().length;
      s.type('show vlan\r');
      await sleep(400);
      assert.equal(s.all().length, seen, `printed after the hang: ${JSON.stringify(s.all().slice(seen))}`);
      assert.deepEqual([...h.state.vlans].sort(), [1, 2]);
      s.end();
      // A hung switch answers no new session either: it takes the connection and prints nothing.
      const late = await connect(h.port);
      await sleep(300);
      assert.equal(late.all(), '');
      late.end();
    } finally {
      await h.close();
    }
  });

  it('refuses a wrong password at the SSH layer', async () => {
    await assert.rejects(connect(e.port, { password: 'wrong' }), /authentication methods failed/);
    await assert.rejects(connect(e.port, { username: 'root' }), /authentication methods failed/);
  });

  it('presents its host key with the fingerprint OpenSSH prints, and a given key when asked', async () => {
    let seen = '';
    const s = await connect(e.port, { fingerprint: (f) => (seen = f) });
    s.end();
    assert.equal(seen, e.hostKeyFingerprint);
    assert.match(e.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);

    const key = generateHostKey();
    const k = await startToy({ ports: TOY_PORTS, username: USER, password: PASSWORD, hostKey: key });
    try {
      let seenK = '';
      (await connect(k.port, { fingerprint: (f) => (seenK = f) })).end();
      assert.equal(seenK, k.hostKeyFingerprint);
      assert.notEqual(k.hostKeyFingerprint, e.hostKeyFingerprint);
      assert.equal(k.hostKeyFingerprint, hostKeyFingerprint(key));
    } finally {
      await k.close();
    }
  });

  it('agrees with ssh-keygen on a host key fingerprint', { skip: skipUnless(findBinary('ssh-keygen') ? undefined : 'ssh-keygen is not installed (apt-get install openssh-client)') }, () => {
    const key = generateHostKey();
    const file = join(dir, 'hostkey');
    writeFileSync(file, key, { mode: 0o600 });
    const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' });
    assert.equal(out.split(' ')[1], hostKeyFingerprint(key));
  });

  it('drops every session at once, and takes new ones after', async () => {
    const a = await connect(e.port);
    const b = await connect(e.port);
    await a.expect('toy#');
    await b.expect('toy#');
    assert.equal(e.sessions >= 2, true);
    e.dropSessions();
    await Promise.all([a.closed, b.closed]);
    const c = await connect(e.port);
    await c.expect('toy#');
    c.end();
  });

  it('asks for a user name and password in the shell for vendors that do, without echoing the password', async () => {
    const grammar = { ...toyGrammar, login: { username: 'User Name:', password: 'Password:', failed: 'Authentication failed!' } };
    const d = await startToy({ ports: TOY_PORTS, username: USER, password: PASSWORD }, grammar);
    try {
      const s = await connect(d.port, { password: 'anything: the CLI asks' });
      await s.expect('User Name:');
      s.type(`${USER}\r`);
      await s.expect('Password:');
      s.type('wrong\r');
      assert.equal(await s.expect('User Name:'), '\r\nAuthentication failed!\r\nUser Name:');
      s.type(`${USER}\r`);
      await s.expect('Password:');
      s.type(`${PASSWORD}\r`);
      await s.expect('toy#');
      assert.doesNotMatch(s.all(), /wrong|toy-secret/);
      assert.equal(d.log.length, 0, 'the dialog is not logged as commands');
      s.end();
    } finally {
      await d.close();
    }
  });
});

describe('switch emulator core: an emulator in a child process', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hil-emu-proc-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('dies at dieAfterCommands with the commands before it in its state file; a restart carries on with the same host key', async () => {
    const stateFile = join(dir, 'die.json');
    const hostKey = generateHostKey();
    const o = { ports: TOY_PORTS, username: USER, password: PASSWORD, stateFile, hostKey, fixtureModule: TOY_MODULE };
    const p = await startEmulatorProcess('toy', { ...o, faults: { dieAfterCommands: 2 } });
    let seen = '';
    const s = await connect(p.port, { fingerprint: (f) => (seen = f) });
    assert.equal(seen, p.hostKeyFingerprint);
    await s.expect('toy#');
    await s.run('conf t');
    await s.run('vlan 10');
    await s.run('vlan 20');
    s.type('vlan 30\r');
    const exit = await p.exited;
    assert.equal(exit.signal, 'SIGKILL');
    await s.closed;
    assert.deepEqual(JSON.parse(readFileSync(stateFile, 'utf8')).running.vlans, [1, 10, 20]);

    const q = await startEmulatorProcess('toy', o);
    try {
      assert.equal(q.hostKeyFingerprint, p.hostKeyFingerprint);
      const t = await connect(q.port);
      await t.expect('toy#');
      assert.match(await t.run('show vlan'), /VLAN\r\n1\r\n10\r\n20\r\ntoy#$/);
      t.end();
    } finally {
      await q.stop();
    }
    assert.notEqual((await q.exited).code, null, 'stopped by SIGTERM: it exits by itself');
  });

  it('never puts the password in its arguments or environment', async () => {
    const p = await startEmulatorProcess('toy', { ports: TOY_PORTS, username: USER, password: PASSWORD, stateFile: join(dir, 'argv.json'), fixtureModule: TOY_MODULE });
    try {
      const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
      const environ = readFileSync(`/proc/${p.pid}/environ`, 'utf8');
      assert.doesNotMatch(cmdline, new RegExp(PASSWORD));
      assert.doesNotMatch(environ, new RegExp(PASSWORD));
    } finally {
      await p.stop();
    }
  });
});

describe('switch emulator core: the HTTP server', () => {
  it('wants HTTP Basic credentials, logs each request, runs changes through the device state, and answers a locked configuration', async () => {
    const state = newToyState({ ports: TOY_PORTS, username: USER, password: PASSWORD });
    const h = await startHttpEmulator({
      vendor: 'toy-rest',
      state,
      options: { ports: TOY_PORTS, username: USER, password: PASSWORD },
      configLocked: () => ({ status: 409, body: '<error>locked</error>', contentType: 'application/xml' }),
      async handler(req) {
        const m = /^\/vlans\/(\d+)$/.exec(req.path);
        if (req.method === 'PUT' && m) {
          await state.change(() => void state.vlans.add(Number(m[1])));
          return { status: 204 };
        }
        if (req.method === 'GET' && req.path === '/vlans') return { status: 200, contentType: 'application/json', body: JSON.stringify([...state.vlans]) };
        return { status: 404, body: req.body };
      },
    });
    const url = `http://127.0.0.1:${h.port}`;
    const auth = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });
    try {
      const none = await fetch(`${url}/vlans`);
      assert.equal(none.status, 401);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      assert.equal((await fetch(`${url}/vlans/7`, { method: 'PUT', headers: auth(USER, 'wrong') })).status, 401);
      assert.equal(state.vlans.has(7), false);

      assert.equal((await fetch(`${url}/vlans/7`, { method: 'PUT', headers: auth(USER, PASSWORD) })).status, 204);
      const got = await fetch(`${url}/vlans?x=1`, { headers: auth(USER, PASSWORD) });
      assert.equal(got.headers.get('content-type'), 'application/json');
      assert.deepEqual(await got.json(), [1, 7]);
      const echo = await fetch(`${url}/nowhere`, { method: 'POST', body: '<a>b</a>', headers: auth(USER, PASSWORD) });
      assert.equal(echo.status, 404);
      assert.equal(await echo.text(), '<a>b</a>');

      h.faults.configLocked = true;
      const locked = await fetch(`${url}/vlans/8`, { method: 'PUT', headers: auth(USER, PASSWORD) });
      assert.equal(locked.status, 409);
      assert.equal(await locked.text(), '<error>locked</error>');
      assert.equal(state.vlans.has(8), false);

      assert.deepEqual(h.log, ['GET /vlans', 'PUT /vlans/7', 'PUT /vlans/7', 'GET /vlans?x=1', 'POST /nowhere', 'PUT /vlans/8']);
      assert.equal(JSON.stringify(h.log).includes(PASSWORD), false);
    } finally {
      await h.close();
    }
  });

  it('answers nothing once a change hung (hangAfterCommands), not even a read', async () => {
    const state = newToyState({ ports: TOY_PORTS, username: USER, password: PASSWORD, faults: { hangAfterCommands: 0 } });
    const h = await startHttpEmulator({
      vendor: 'toy-rest',
      state,
      options: { ports: TOY_PORTS, username: USER, password: PASSWORD },
      async handler(req) {
        if (req.method === 'PUT') await state.change(() => void state.vlans.add(9));
        return { status: 200, body: JSON.stringify([...state.vlans]) };
      },
    });
    const headers = { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
    const url = `http://127.0.0.1:${h.port}/vlans`;
    try {
      assert.equal((await fetch(url, { headers })).status, 200);
      await assert.rejects(fetch(url, { method: 'PUT', headers, signal: AbortSignal.timeout(300) }), /TimeoutError|aborted/);
      await assert.rejects(fetch(url, { headers, signal: AbortSignal.timeout(300) }), /TimeoutError|aborted/);
      assert.equal(state.vlans.has(9), false);
    } finally {
      await h.close();
    }
  });
});
