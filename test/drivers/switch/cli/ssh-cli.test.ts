/**
 * The SSH conversation (src/drivers/switch/cli/ssh-cli.ts) against the
 * scripted toy switch: login paths, prompt learning, paging, error output,
 * timeouts, credentials kept out of messages.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SwitchError } from '../../../../src/errors.ts';
import { SshCli, type SshCliOptions } from '../../../../src/drivers/switch/cli/ssh-cli.ts';
import { memoryHostKeyStore } from '../../../../src/drivers/switch/cli/host-keys.ts';
import { newKeyPair, startScripted, type ScriptedOptions, type ScriptedSwitch } from './scripted-server.ts';

const USER = 'hil';
const PASSWORD = 'pa55-w0rd-SECRET';
const silentLog = { info() {}, warn() {} };

const servers: ScriptedSwitch[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function server(o: Partial<ScriptedOptions> = {}): Promise<ScriptedSwitch> {
  const s = await startScripted({ auth: { username: USER, password: PASSWORD }, ...o });
  servers.push(s);
  return s;
}

function options(s: ScriptedSwitch, o: Partial<SshCliOptions> = {}): SshCliOptions {
  return {
    host: '127.0.0.1',
    port: s.port,
    username: USER,
    password: PASSWORD,
    label: 'toy switch "sw1"',
    hostKey: { switchId: 1, switchLabel: 'sw1', pinned: s.fingerprint, store: memoryHostKeyStore(), log: silentLog },
    errorPatterns: [/^% /],
    loginTimeoutMs: 5000,
    commandTimeoutMs: 3000,
    ...o,
  };
}

describe('ssh cli', () => {
  it('learns the hostname from the first prompt and finishes commands at the prompt in every mode', async () => {
    const s = await server({ hostname: 'lab-core.7', ports: { 'gi1/0/4': { native: 12, tagged: [30, 31] } } });
    const cli = await SshCli.connect(options(s));
    try {
      assert.equal(cli.hostname, 'lab-core.7');
      assert.equal(await cli.run('show port gi1/0/4'), 'Port gi1/0/4\nNative VLAN: 12\nTagged VLANs: 30,31');
      // Config prompts "<host>(config…)#" also end a command.
      assert.equal(await cli.run('configure terminal'), '');
      assert.equal(await cli.run('interface gi1/0/4'), '');
      assert.equal(await cli.run('native 40'), '');
      assert.equal(await cli.run('end'), '');
      assert.deepEqual(s.running.get('gi1/0/4'), { native: 40, tagged: [30, 31] });
      assert.deepEqual(s.typed.slice(-5), ['show port gi1/0/4', 'configure terminal', 'interface gi1/0/4', 'native 40', 'end']);
    } finally {
      await cli.close();
    }
  });

  it('does not end a command at a prompt the switch reprinted before echoing it (a log message at the prompt)', async () => {
    const s = await server({ ports: { 'gi1/0/4': { native: 12, tagged: [] }, 'gi1/0/5': { native: 13, tagged: [] } } });
    const cli = await SshCli.connect(options(s));
    try {
      s.faults.strayPrompt = true;
      assert.match(await cli.run('show port gi1/0/4'), /Native VLAN: 12/, 'the output of this command, not an empty one');
      assert.match(await cli.run('show port gi1/0/5'), /Native VLAN: 13/, 'and the next output is the next command\'s');
    } finally {
      await cli.close();
    }
  });

  it('types enable at a ">" prompt and runs the session setup at "#"', async () => {
    const s = await server({ userExec: true });
    const cli = await SshCli.connect(options(s, { sessionSetup: ['terminal length 0'] }));
    try {
      assert.deepEqual(s.typed.slice(0, 3), ['enable', '', 'terminal length 0']);
      // Privileged: the toy answers "show" only at "#".
      assert.match(await cli.run('show port gi1/0/1'), /Native VLAN: none/);
    } finally {
      await cli.close();
    }
  });

  it('answers the in-shell "User Name:" / "Password:" dialog', async () => {
    const s = await server({ auth: 'any', shellLogin: { username: USER, password: PASSWORD }, userExec: true });
    const cli = await SshCli.connect(options(s));
    try {
      assert.deepEqual(s.shellCredentials, [{ username: USER, password: PASSWORD }]);
      assert.equal(s.typed[0], 'enable');
      assert.match(await cli.run('show port gi1/0/1'), /Port gi1\/0\/1/);
    } finally {
      await cli.close();
    }
  });

  it('fails a wrong password at the in-shell dialog without saying the password', async () => {
    const s = await server({ auth: 'any', shellLogin: { username: USER, password: 'the-right-one' } });
    await assert.rejects(SshCli.connect(options(s)), (err: Error) => {
      assert.ok(err instanceof SwitchError);
      assert.match(err.message, /refused the login of user "hil"/);
      assert.ok(!err.message.includes(PASSWORD), err.message);
      return true;
    });
    assert.equal(s.shellCredentials.length, 1, 'one attempt, not a loop');
  });

  it('fails a wrong SSH password without saying the password', async () => {
    const s = await server({ auth: { username: USER, password: 'the-right-one' } });
    await assert.rejects(SshCli.connect(options(s)), (err: Error) => {
      assert.ok(err instanceof SwitchError);
      assert.match(err.message, /toy switch "sw1": the switch refused the login of user "hil"/);
      assert.ok(!err.message.includes(PASSWORD), err.message);
      return true;
    });
    assert.ok(s.authAttempts.includes(PASSWORD), 'the password was tried');
  });

  it('logs in with a private key before trying the password', async () => {
    const pair = newKeyPair();
    const s = await server({ auth: { username: USER, password: 'not-this-one', publicKey: pair.public } });
    const cli = await SshCli.connect(options(s, { privateKey: pair.private }));
    try {
      assert.ok(s.keyLogins > 0);
      assert.deepEqual(s.authAttempts, [], 'no password sent');
      assert.match(await cli.run('show port gi1/0/1'), /Native VLAN/);
    } finally {
      await cli.close();
    }
  });

  it('pages through a "--More--" pager and strips it and its backspaces', async () => {
    const s = await server({ pageLines: 10 });
    const cli = await SshCli.connect(options(s));
    try {
      const out = await cli.run('show lines 35');
      assert.deepEqual(out.split('\n'), Array.from({ length: 35 }, (_, i) => `line ${i + 1}`));
    } finally {
      await cli.close();
    }
  });

  it('copes with a PowerConnect-style pager erased with ANSI and carriage returns', async () => {
    const pager = { text: '\x1b[7mMore: <space>,  Quit: q or CTRL+Z, One line: <return> \x1b[0m', erase: '\r' + ' '.repeat(60) + '\r\x1b[K' };
    const s = await server({ pageLines: 7, pager });
    const cli = await SshCli.connect(options(s));
    try {
      const out = await cli.run('show lines 20');
      assert.deepEqual(out.split('\n'), Array.from({ length: 20 }, (_, i) => `line ${i + 1}`));
    } finally {
      await cli.close();
    }
  });

  it('copes with the N-series "--More-- or (q)uit" pager', async () => {
    const s = await server({ pageLines: 4, pager: { text: '--More-- or (q)uit', erase: '\r' + ' '.repeat(18) + '\r' } });
    const cli = await SshCli.connect(options(s));
    try {
      const out = await cli.run('show lines 13');
      assert.deepEqual(out.split('\n'), Array.from({ length: 13 }, (_, i) => `line ${i + 1}`));
    } finally {
      await cli.close();
    }
  });

  it('turns paging off with the session setup (no pager answered)', async () => {
    const s = await server({ pageLines: 10 });
    const cli = await SshCli.connect(options(s, { sessionSetup: ['terminal length 0'] }));
    try {
      const typedBefore = s.typed.length;
      assert.equal((await cli.run('show lines 25')).split('\n').length, 25);
      assert.deepEqual(s.typed.slice(typedBefore), ['show lines 25']);
    } finally {
      await cli.close();
    }
  });

  it('fails a command whose output matches an error pattern, with the switch\'s words, and stays usable', async () => {
    const s = await server();
    const cli = await SshCli.connect(options(s));
    try {
      await assert.rejects(cli.run('frobnicate the vlans'), (err: Error) => {
        assert.ok(err instanceof SwitchError);
        assert.equal(err.message, 'toy switch "sw1" refused "frobnicate the vlans": % Invalid input detected at \'^\' marker.');
        return true;
      });
      assert.equal(cli.broken, false);
      assert.match(await cli.run('show port gi1/0/1'), /Native VLAN: none/);
    } finally {
      await cli.close();
    }
  });

  it('cuts off a switch that stops answering, and refuses every later call at once', async () => {
    const s = await server();
    const cli = await SshCli.connect(options(s, { commandTimeoutMs: 400 }));
    const started = Date.now();
    await assert.rejects(cli.run('hang'), (err: Error) => {
      assert.ok(err instanceof SwitchError);
      assert.match(err.message, /no answer to "hang" within 400 ms; the session is closed and will not be reused/);
      return true;
    });
    assert.ok(Date.now() - started < 3000);
    assert.equal(cli.broken, true);
    const again = Date.now();
    await assert.rejects(cli.run('show port gi1/0/1'), /cannot be used any more \(no answer to "hang"/);
    assert.ok(Date.now() - again < 350, 'fails at once, without waiting for the 400 ms command timeout');
    assert.ok(!s.typed.slice(s.typed.indexOf('hang')).includes('show port gi1/0/1'), 'nothing typed after the hang');
    for (let i = 0; i < 50 && s.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.connections, 0, 'the connection was cut');
    await cli.close();
  });

  it('times out a login that never reaches a confirmed prompt', async () => {
    const s = await server();
    // The toy shows its first prompt, then answers nothing: the empty line that confirms the prompt gets no answer.
    s.faults.silent = true;
    await assert.rejects(SshCli.connect(options(s, { loginTimeoutMs: 600 })), (err: Error) => {
      assert.ok(err instanceof SwitchError);
      assert.match(err.message, /^toy switch "sw1": .*600 ms/);
      return true;
    });
  });
});
