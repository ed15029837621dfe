/**
 * The CLI session (cli-session.ts) and driver (cli-driver.ts) over a toy
 * dialect against the scripted toy switch: reads first, commands in order,
 * read-back, save with its confirmation, one login per session, failures
 * that name the port or carry the switch's words.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from 'typebox';
import { BadArgumentError, SwitchError } from '../../../../src/errors.ts';
import { cliSwitchDriver, type CliDriverContext } from '../../../../src/drivers/switch/cli/cli-driver.ts';
import type { CliFields } from '../../../../src/drivers/switch/cli/cli-params.ts';
import type { CliDialect } from '../../../../src/drivers/switch/cli/dialect.ts';
import { memoryHostKeyStore } from '../../../../src/drivers/switch/cli/host-keys.ts';
import { TYPE_PREFIX, type PortChange } from '../../../../src/drivers/switch/interface.ts';
import { parseVlanList, type PortVlans } from '../../../../src/drivers/switch/port-vlans.ts';
import { startScripted, type ScriptedOptions, type ScriptedSwitch, type ToyPort } from './scripted-server.ts';

const USER = 'hil';
const PASSWORD = 'toy-session-pw';

/** The toy CLI of scripted-server.ts as a dialect. */
function toyDialect(dummyVlan: number): CliDialect {
  return {
    device: 'Toy',
    errorPatterns: [/^% /],
    sessionSetup: ['terminal length 0'],
    configure: 'configure terminal',
    end: 'end',
    prepare: (vlans) => [`vlan ${[dummyVlan, ...vlans].join(',')}`],
    portCommands(port, from, to) {
      const out = [`interface ${port}`];
      for (const v of from.tagged) if (!to.tagged.includes(v)) out.push(`tagged remove ${v}`);
      if (to.native === null && from.native !== null) out.push('no native');
      if (to.native !== null && to.native !== from.native) out.push(`native ${to.native}`);
      for (const v of to.tagged) if (!from.tagged.includes(v)) out.push(`tagged add ${v}`);
      out.push('exit');
      return out;
    },
    async readPort(run, port): Promise<PortVlans> {
      const text = await run(`show port ${port}`);
      const native = /^Native VLAN: (\S+)$/m.exec(text)?.[1];
      const tagged = /^Tagged VLANs: (\S+)$/m.exec(text)?.[1];
      if (native === undefined || tagged === undefined) throw new SwitchError(`cannot read port ${port}: ${text}`);
      return { native: native === 'none' ? null : Number(native), tagged: parseVlanList(tagged) };
    },
    save: { command: 'copy running-config startup-config', confirm: { prompt: /\?\[Yes\/press any key for no\]/, answer: 'Y' }, success: /Copy succeeded/ },
  };
}

interface ToyFields extends CliFields {
  dummy_vlan: number;
}

function toyDriver(ctx: Partial<CliDriverContext> = {}, dialect = toyDialect) {
  return cliSwitchDriver<ToyFields>(
    {
      type: `${TYPE_PREFIX}toy`,
      extensionName: 'hil.ext.switches.toy',
      what: 'toy switch',
      portName: /^gi\d+\/\d+\/\d+$/,
      portNameHint: 'gi<unit>/<slot>/<port>',
      extraFields: { dummy_vlan: Type.Integer({ minimum: 1, maximum: 4094 }) },
      refine: (p, fail) => (p.dummy_vlan === 1 ? fail('dummy_vlan', 'not VLAN 1') : p),
      capabilities: ['nativeless-trunk-mode'],
      dialect: (p) => dialect(p.dummy_vlan),
    },
    { hostKeys: memoryHostKeyStore(), log: { info() {}, warn() {} }, timeouts: { loginMs: 5000, commandMs: 3000, saveMs: 3000 }, ...ctx },
  );
}

const servers: ScriptedSwitch[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

const PORTS = (): Record<string, ToyPort> => ({
  'gi1/0/1': { native: null, tagged: [] },
  'gi1/0/2': { native: 5, tagged: [6] },
  'gi1/0/3': { native: 7, tagged: [8, 9] },
});

async function toySwitch(o: Partial<ScriptedOptions> = {}): Promise<ScriptedSwitch> {
  const s = await startScripted({ auth: { username: USER, password: PASSWORD }, ports: PORTS(), pageLines: 2, ...o });
  servers.push(s);
  return s;
}

function record(s: ScriptedSwitch, extra: Partial<ToyFields> = {}) {
  const driver = toyDriver();
  const params = driver.params.parse({ hostname: '127.0.0.1', username: USER, password: PASSWORD, ssh_port: s.port, host_key: s.fingerprint, dummy_vlan: 999, ...extra });
  return { driver, sw: { id: 1, label: 'toy-1', params } };
}

async function session(s: ScriptedSwitch, extra: Partial<ToyFields> = {}) {
  const { driver, sw } = record(s, extra);
  return driver.openSession(sw);
}

const modify = (port: string, channel: string, networkId: string | null): PortChange => ({ op: 'modify', port, channel, networkId });

describe('cli session', () => {
  it('accepts upstream\'s registration fields and checks the extensions', () => {
    const d = toyDriver();
    assert.deepEqual(d.params.parse({ hostname: 'sw.example', username: 'admin', password: 'x', dummy_vlan: 2 }), { hostname: 'sw.example', username: 'admin', password: 'x', dummy_vlan: 2 });
    assert.deepEqual(d.params.secretFields.toSorted(), ['password', 'private_key']);
    assert.throws(() => d.params.parse({ hostname: 'sw', username: 'a', password: 'x', dummy_vlan: 2, host_key: 'MD5:aa:bb' }), (e: Error) => e instanceof BadArgumentError && /toy switch field "host_key" must be an SSH host key fingerprint "SHA256:<base64>"/.test(e.message));
    assert.throws(() => d.params.parse({ hostname: 'sw', username: 'a', password: 'x', dummy_vlan: 1 }), /toy switch field "dummy_vlan" must be not VLAN 1/);
    assert.throws(() => d.params.parse({ hostname: 'sw', username: 'a', password: 'x', dummy_vlan: 2, ssh_port: 0 }), /"ssh_port" must be an integer from 1 to 65535/);
    assert.throws(() => d.params.parse({ hostname: 'sw', username: 'a', password: 'x', dummy_vlan: 2, private_key: 'not a key' }), /"private_key" must be an OpenSSH or PEM private key/);
    assert.throws(() => d.validatePortName('eth0'), /Invalid port name "eth0" for a toy switch \(expected gi<unit>\/<slot>\/<port>\)/);
    d.validatePortName('gi1/0/1');
  });

  it('reads every port first, types the changes in order in configuration mode, reads back and saves', async () => {
    const s = await toySwitch();
    const ses = await session(s);
    try {
      const start = s.typed.length;
      await ses.applyBatch([modify('gi1/0/1', 'vlan/native', '100'), modify('gi1/0/1', 'vlan/200', '200'), modify('gi1/0/2', 'vlan/6', null), { op: 'revert', port: 'gi1/0/3' }, modify('gi1/0/2', 'vlan/native', '300')]);
      assert.deepEqual(Object.fromEntries(s.running), { 'gi1/0/1': { native: 100, tagged: [200] }, 'gi1/0/2': { native: 300, tagged: [] }, 'gi1/0/3': { native: null, tagged: [] } });
      assert.deepEqual(Object.fromEntries(s.saved), Object.fromEntries(s.running), 'saved');
      assert.deepEqual(s.keys, ['Y'], 'the save question answered once');
      assert.deepEqual(s.typed.slice(start), [
        'show port gi1/0/1',
        'show port gi1/0/2',
        'show port gi1/0/3',
        'configure terminal',
        'vlan 999,100,200,300',
        'interface gi1/0/1',
        'native 100',
        'tagged add 200',
        'exit',
        'interface gi1/0/2',
        'tagged remove 6',
        'native 300',
        'exit',
        'interface gi1/0/3',
        'tagged remove 8',
        'tagged remove 9',
        'no native',
        'exit',
        'end',
        'show port gi1/0/1',
        'show port gi1/0/2',
        'show port gi1/0/3',
        'copy running-config startup-config',
      ]);
      const read = await ses.getPortNetworks(['gi1/0/1', 'gi1/0/2', 'gi1/0/3']);
      assert.deepEqual(Object.fromEntries(read), {
        'gi1/0/1': [
          { channel: 'vlan/native', networkId: '100' },
          { channel: 'vlan/200', networkId: '200' },
        ],
        'gi1/0/2': [{ channel: 'vlan/native', networkId: '300' }],
        'gi1/0/3': [],
      });
    } finally {
      await ses.close();
    }
  });

  it('uses one login for a whole session of changes, prepares only new VLANs, and types nothing when nothing differs', async () => {
    const s = await toySwitch();
    const ses = await session(s);
    try {
      await ses.modifyPort('gi1/0/1', 'vlan/native', '10');
      await ses.modifyPort('gi1/0/1', 'vlan/11', '11');
      await ses.modifyPort('gi1/0/1', 'vlan/native', '10');
      await ses.revertPort('gi1/0/2');
      assert.equal(s.logins, 1);
      assert.deepEqual(s.typed.filter((l) => l.startsWith('vlan ')), ['vlan 999,10', 'vlan 999,11']);
      assert.equal(s.typed.filter((l) => l === 'configure terminal').length, 3, 'the repeated change typed nothing');
      assert.equal(s.keys.length, 3, 'saved after each call that changed something');
      assert.deepEqual(s.running.get('gi1/0/1'), { native: 10, tagged: [11] });
      assert.deepEqual(s.saved.get('gi1/0/2'), { native: null, tagged: [] });
    } finally {
      await ses.close();
    }
  });

  it('saves on a new session even when nothing differs: the retry of a batch that died before saving ends DONE saved', async () => {
    const s = await toySwitch();
    // A session wrote the port and died before its save (here: one that does not save).
    const died = await session(s, { save: false });
    await died.modifyPort('gi1/0/1', 'vlan/native', '10');
    await died.close();
    assert.deepEqual(s.saved.get('gi1/0/1') ?? { native: null, tagged: [] }, { native: null, tagged: [] }, 'not saved yet');
    const retry = await session(s);
    try {
      const typedBefore = s.typed.filter((l) => l === 'configure terminal').length;
      await retry.modifyPort('gi1/0/1', 'vlan/native', '10');
      assert.equal(s.typed.filter((l) => l === 'configure terminal').length, typedBefore, 'nothing to type');
      assert.deepEqual(s.saved.get('gi1/0/1'), { native: 10, tagged: [] }, 'the retry saved what the first session wrote');
      const saves = s.keys.length;
      await retry.modifyPort('gi1/0/1', 'vlan/native', '10');
      assert.equal(s.keys.length, saves, 'a session that saved and typed nothing since does not save again');
    } finally {
      await retry.close();
    }
  });

  it('fails the whole batch before typing anything when a port does not exist', async () => {
    const s = await toySwitch();
    const ses = await session(s);
    try {
      await assert.rejects(ses.applyBatch([modify('gi1/0/1', 'vlan/native', '100'), modify('gi1/0/9', 'vlan/native', '100')]), (err: Error) => {
        assert.ok(err instanceof SwitchError);
        assert.match(err.message, /refused "show port gi1\/0\/9": % No such port: gi1\/0\/9/);
        return true;
      });
      assert.ok(!s.typed.includes('configure terminal'));
      assert.deepEqual(s.running.get('gi1/0/1'), { native: null, tagged: [] });
    } finally {
      await ses.close();
    }
  });

  it('fails naming the port when it does not read back as wanted, and does not save', async () => {
    const s = await toySwitch();
    s.faults.ignore = (line, port) => port === 'gi1/0/2' && line.startsWith('native');
    const ses = await session(s);
    try {
      await assert.rejects(ses.applyBatch([modify('gi1/0/1', 'vlan/native', '100'), modify('gi1/0/2', 'vlan/native', '101')]), (err: Error) => {
        assert.ok(err instanceof SwitchError);
        assert.equal(err.message, 'toy switch "toy-1": the change did not take: port gi1/0/2 reads native 5, tagged 6, not native 101, tagged 6');
        return true;
      });
      assert.ok(!s.typed.includes('copy running-config startup-config'));
      assert.deepEqual(s.saved.get('gi1/0/1'), { native: null, tagged: [] });
    } finally {
      await ses.close();
    }
  });

  it('fails with the switch\'s words when it refuses a command, leaves configuration mode, and stays usable', async () => {
    const s = await toySwitch();
    s.faults.reservedVlans = [4000];
    const ses = await session(s);
    try {
      await assert.rejects(ses.modifyPort('gi1/0/1', 'vlan/4000', '4000'), (err: Error) => {
        assert.ok(err instanceof SwitchError);
        assert.equal(err.message, 'toy switch "toy-1" refused "vlan 999,4000": % VLAN 4000 is reserved');
        return true;
      });
      assert.equal(s.typed.at(-1), 'end', 'back to exec');
      assert.equal(ses.broken, false);
      await ses.modifyPort('gi1/0/1', 'vlan/native', '12');
      assert.deepEqual(s.saved.get('gi1/0/1'), { native: 12, tagged: [] });
    } finally {
      await ses.close();
    }
  });

  it('does not save when registered with save: false, and fails a save the switch reports failed', async () => {
    const s = await toySwitch();
    const noSave = await session(s, { save: false });
    try {
      await noSave.modifyPort('gi1/0/1', 'vlan/native', '20');
      assert.deepEqual(s.running.get('gi1/0/1'), { native: 20, tagged: [] });
      assert.deepEqual(s.saved.get('gi1/0/1'), { native: null, tagged: [] });
      assert.ok(!s.typed.includes('copy running-config startup-config'));
    } finally {
      await noSave.close();
    }
    s.faults.saveFails = true;
    const ses = await session(s);
    try {
      await assert.rejects(ses.modifyPort('gi1/0/1', 'vlan/native', '21'), (err: Error) => {
        assert.ok(err instanceof SwitchError);
        assert.match(err.message, /refused "copy running-config startup-config": % Copy failed: flash is full/);
        return true;
      });
    } finally {
      await ses.close();
    }
  });

  it('breaks the session on a hung switch and fails every later call at once', async () => {
    const s = await toySwitch();
    const warnings: unknown[] = [];
    const driver = toyDriver({ timeouts: { loginMs: 5000, commandMs: 400, saveMs: 400 }, log: { info() {}, warn: (o) => warnings.push(o) } });
    const { sw } = record(s);
    const ses = await driver.openSession(sw);
    s.faults.silent = true;
    await assert.rejects(ses.modifyPort('gi1/0/1', 'vlan/native', '30'), /no answer to "show port gi1\/0\/1" within 400 ms; the session is closed and will not be reused/);
    assert.equal(ses.broken, true);
    const t = Date.now();
    await assert.rejects(ses.getPortNetworks(['gi1/0/1']), (err: Error) => err instanceof SwitchError && /cannot be used any more/.test(err.message));
    assert.ok(Date.now() - t < 350, 'fails at once, without waiting for the 400 ms command timeout');
    assert.equal(warnings.length, 1);
    await ses.close();
  });

  it('closes at once while a call hangs, failing that call', async () => {
    const s = await toySwitch();
    const ses = await session(s);
    s.faults.silent = true;
    const inFlight = ses.modifyPort('gi1/0/1', 'vlan/native', '30');
    await new Promise((r) => setTimeout(r, 100));
    const t = Date.now();
    await ses.close();
    assert.ok(Date.now() - t < 1500, `close took ${Date.now() - t} ms`);
    await assert.rejects(inFlight, (err: Error) => err instanceof SwitchError && /the session was closed/.test(err.message));
    assert.equal(ses.broken, true);
  });

  it('turns a change the port cannot take into a SwitchError, typing nothing', async () => {
    const s = await toySwitch();
    const ses = await session(s);
    try {
      const before = s.typed.length;
      await assert.rejects(ses.modifyPort('gi1/0/1', 'vlan/7', '8'), (err: Error) => err instanceof SwitchError && /network 8 cannot go on channel vlan\/7/.test(err.message));
      await assert.rejects(ses.modifyPort('gi1/0/1', 'bogus', '8'), (err: Error) => err instanceof SwitchError && /channel "bogus"/.test(err.message));
      assert.deepEqual(s.typed.slice(before), ['show port gi1/0/1', 'show port gi1/0/1']);
    } finally {
      await ses.close();
    }
  });

  it('keeps the password out of every error that leaves the session', async () => {
    const s = await toySwitch();
    // A parser that quotes what it could not read, and a switch that (somehow) printed the password.
    const leaky = (dummy: number): CliDialect => ({ ...toyDialect(dummy), readPort: async () => { throw new Error(`cannot read "${PASSWORD}"`); } });
    const driver = toyDriver({}, leaky);
    const { sw } = record(s);
    const ses = await driver.openSession(sw);
    try {
      await assert.rejects(ses.getPortNetworks(['gi1/0/1']), (err: Error) => {
        assert.ok(err instanceof SwitchError);
        assert.equal(err.message, 'toy switch "toy-1": cannot read port gi1/0/1: cannot read "<<CENSORED>>"');
        return true;
      });
    } finally {
      await ses.close();
    }
  });
});
