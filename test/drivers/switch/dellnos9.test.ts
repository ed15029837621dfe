/**
 * The dellnos9 driver (src/drivers/switch/dellnos9.ts) against the
 * emulated OS9 switch (test/support/switch-emulators/dellnos9.ts): what
 * each change leaves on the device (its effective VLANs, its port records,
 * its own `show interfaces switchport`), OS9's quirks (default VLAN 1,
 * hybrid ports, shut-down ports carry nothing), the switch's own words for
 * refusals, save, a hung switch, secrets, and how many requests a batch
 * costs. The shared switch contract runs over the same emulator at the end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dellNos9SwitchDriver, type Nos9Params, type Nos9Session } from '../../../src/drivers/switch/dellnos9.ts';
import { parseSwitchport } from '../../../src/drivers/switch/dellnos9-port.ts';
import { Os9Api } from '../../../src/drivers/switch/dellnos9-api.ts';
import type { PortChange } from '../../../src/drivers/switch/interface.ts';
import { BadArgumentError, SwitchError } from '../../../src/errors.ts';
import { dellnos9Fixture, startDellNos9Emulator } from '../../support/switch-emulators/dellnos9.ts';
import { showSwitchport, type Os9Port } from '../../support/switch-emulators/dellnos9-model.ts';
import type { HttpEmulator } from '../../support/switch-emulators/http-server.ts';
import { recordingBacking } from '../../support/switch-emulators/recording-backing.ts';

const USER = 'hil-admin';
const PASSWORD = 'S3cr3t-Pässwörd/+=';
const NATIVE = 'vlan/native';

describe('dellnos9 driver against the emulated OS9 switch', () => {
  let e: HttpEmulator<Os9Port>;
  let backing: ReturnType<typeof recordingBacking>;
  const driver = dellNos9SwitchDriver({ requestTimeoutMs: 1500 });
  const params = (extra: Record<string, unknown> = {}): Nos9Params => driver.params.parse({ ...dellnos9Fixture.fields(e, { username: USER, password: PASSWORD }), ...extra });
  const session = async (extra: Record<string, unknown> = {}) => (await driver.openSession({ id: 1, label: 'os9', params: params(extra) })) as Nos9Session;
  const port = (p: string) => e.state.port(p)!;
  const show = (p: string) => showSwitchport(port(p), p);
  const requestsSince = (mark: number) => e.log.slice(mark).filter((l) => /^(GET|PUT|POST) /.test(l));
  const cliCommands = (mark: number) => e.log.slice(mark).filter((l) => !/^(GET|PUT|POST) /.test(l));

  before(async () => {
    backing = recordingBacking();
    e = await startDellNos9Emulator({ ports: dellnos9Fixture.ports, username: USER, password: PASSWORD, backing });
  });
  after(() => e.close());

  describe('registration', () => {
    it("accepts upstream's registration body unchanged, and save as an extension", () => {
      const { type, ...fields } = dellnos9Fixture.upstreamBody;
      assert.equal(type, driver.type);
      assert.equal(driver.extensionName, 'hil.ext.switches.dellnos9');
      assert.deepEqual(driver.params.parse(structuredClone(fields)), fields);
      assert.equal(driver.params.parse({ ...fields, save: false }).save, false);
      assert.deepEqual(driver.params.secretFields, ['password']);
      assert.deepEqual(driver.capabilities(), []);
    });

    it('refuses an unknown interface_type at registration, naming the types it knows', () => {
      const { type: _t, ...fields } = dellnos9Fixture.upstreamBody;
      assert.throws(() => driver.params.parse({ ...fields, interface_type: 'TenGigE' }), (err: unknown) => {
        assert.ok(err instanceof BadArgumentError);
        assert.match(err.message, /"interface_type" must be one of GigabitEthernet, TenGigabitEthernet, .*HundredGigabitEthernet/);
        return true;
      });
      assert.throws(() => driver.params.parse({ ...fields, hostname: 's3048.example.com' }), /"hostname" must be an http or https URL/);
    });

    it('refuses credentials in the URL (messages carry the URL), naming the field', () => {
      const { type: _t, ...fields } = dellnos9Fixture.upstreamBody;
      for (const hostname of ['http://admin:hunter2@s3048.example.com:8008', 'https://admin@s3048.example.com:8888', 'http://:hunter2@s3048.example.com:8008/']) {
        assert.throws(() => driver.params.parse({ ...fields, hostname }), (err: unknown) => {
          assert.ok(err instanceof BadArgumentError, hostname);
          assert.match(err.message, /dellnos9 switch field "hostname" must be an http or https URL with the port and without credentials/);
          assert.ok(!err.message.includes('hunter2'));
          return true;
        });
      }
    });

    it('checks port names as upstream ("1/3", "1/1/3")', () => {
      for (const p of ['1/3', '1/1/3', '2/48']) driver.validatePortName(p);
      for (const p of dellnos9Fixture.badPortNames) assert.throws(() => driver.validatePortName(p), BadArgumentError);
    });
  });

  describe('command sequences and what the switch is left with', () => {
    it('native on a fresh port: made hybrid Layer 2 while shut down, given its VLAN, then brought up', async () => {
      assert.deepEqual(port('1/1'), { shutdown: true, switchport: false, hybrid: false, untagged: null, tagged: [] }, 'an OS9 port ships shut down in Layer 3 mode');
      const s = await session();
      const mark = e.log.length;
      await s.modifyPort('1/1', NATIVE, '100');
      assert.deepEqual(e.effective('1/1'), { native: 100, tagged: [] });
      assert.deepEqual(port('1/1'), { shutdown: false, switchport: true, hybrid: true, untagged: 100, tagged: [] });
      assert.match(show('1/1'), /802\.1QTagged: Hybrid\nVlan membership:\nQ {7}Vlans\nU {7}100\n/);
      assert.ok(e.state.vlans.has(100), '"interface vlan 100" created the VLAN');
      const puts = e.log.slice(mark).filter((l) => l.startsWith('PUT '));
      assert.equal(puts.length, 2, 'one PUT to prepare the port (shut), one to bring it up');
      assert.deepEqual(cliCommands(mark), ['interface vlan 100', 'untagged TenGigabitEthernet 1/1', 'interfaces switchport TenGigabitEthernet 1/1', 'write']);
      // It never carried the default VLAN on the way (#883).
      assert.deepEqual(backing.of('1/1').filter((v) => v.native !== null || v.tagged.length), [{ native: 100, tagged: [] }]);
    });

    it('tagged VLANs beside the native one; a second native replaces the first; the old native is read from the switch', async () => {
      const s = await session();
      await s.modifyPort('1/2', NATIVE, '100');
      await s.modifyPort('1/2', 'vlan/200', '200');
      await s.modifyPort('1/2', 'vlan/201', '201');
      assert.deepEqual(e.effective('1/2'), { native: 100, tagged: [200, 201] });
      assert.match(show('1/2'), /U {7}100\nT {7}200-201\n/);
      // Someone moves the native VLAN behind HIL's back: the driver works from what the switch says.
      await e.state.change(() => void (port('1/2').untagged = 150, e.state.vlans.add(150)));
      const mark = e.log.length;
      await s.modifyPort('1/2', NATIVE, '300');
      assert.deepEqual(cliCommands(mark).slice(1, 5), ['interface vlan 150', 'no untagged TenGigabitEthernet 1/2', 'interface vlan 300', 'untagged TenGigabitEthernet 1/2']);
      assert.deepEqual(e.effective('1/2'), { native: 300, tagged: [200, 201] });
      await s.modifyPort('1/2', 'vlan/200', null);
      assert.deepEqual(e.effective('1/2'), { native: 300, tagged: [201] });
      assert.deepEqual(await s.getPortNetworks(['1/2']), new Map([['1/2', [{ channel: NATIVE, networkId: '300' }, { channel: 'vlan/201', networkId: '201' }]]]));
    });

    it('a batch for a port is one CLI request (removals, then additions)', async () => {
      const s = await session();
      const mark = e.log.length;
      await s.applyBatch([
        { op: 'modify', port: '1/3', channel: NATIVE, networkId: '100' },
        { op: 'modify', port: '1/3', channel: 'vlan/200', networkId: '200' },
        { op: 'modify', port: '1/3', channel: 'vlan/201', networkId: '201' },
        { op: 'modify', port: '1/3', channel: 'vlan/202', networkId: '202' },
      ]);
      assert.deepEqual(e.effective('1/3'), { native: 100, tagged: [200, 201, 202] });
      const configPosts = e.log.slice(mark).filter((l, i, all) => l.startsWith('POST ') && all[i + 1]?.startsWith('interface vlan'));
      assert.equal(configPosts.length, 1, 'one config-commands request for the port');
      assert.deepEqual(s.requests, { GET: 1, PUT: 2, POST: 3 }, 'read (GET), prepare (PUT), CLI, bring up (PUT), read back (show), write');
    });

    it('"no networks" really carries nothing: revert shuts the port down and empties it, even of the default VLAN 1', async () => {
      const s = await session();
      await s.modifyPort('1/4', NATIVE, '100');
      await s.modifyPort('1/4', 'vlan/200', '200');
      const mark = e.log.length;
      await s.revertPort('1/4');
      assert.deepEqual(e.effective('1/4'), { native: null, tagged: [] });
      assert.equal(port('1/4').shutdown, true);
      assert.deepEqual([port('1/4').untagged, port('1/4').tagged], [null, []], 'its memberships are gone too');
      // The configuration alone would put it on VLAN 1 (OS9: a Layer 2 port is always untagged somewhere); shut down, it carries nothing.
      assert.match(show('1/4'), /U {7}1\n/);
      assert.ok(requestsSince(mark)[2]?.startsWith('PUT '), 'shut down first, before its VLANs go');
      assert.deepEqual(await s.getPortNetworks(['1/4']), new Map([['1/4', []]]));
      assert.ok(!backing.of('1/4').some((v) => v.native === 1), 'never carried the default VLAN');
    });

    it('removing the native VLAN (the last channel) shuts the port rather than leaving it on VLAN 1', async () => {
      const s = await session();
      await s.modifyPort('1/5', NATIVE, '100');
      await s.modifyPort('1/5', NATIVE, null);
      assert.deepEqual(e.effective('1/5'), { native: null, tagged: [] });
      assert.equal(port('1/5').shutdown, true);
      assert.ok(!backing.of('1/5').some((v) => v.native === 1));
      // Removing what is not there again writes nothing to the port (it only saves again).
      const mark = e.log.length;
      await s.modifyPort('1/5', NATIVE, null);
      assert.deepEqual(requestsSince(mark).map((l) => l.split(' ')[0]), ['GET', 'POST'], 'one read, then the save');
      assert.deepEqual(cliCommands(mark), ['write']);
    });

    it('tagged VLANs without a native one are refused by the driver (OS9 would put the port on VLAN 1)', async () => {
      const s = await session();
      await assert.rejects(s.modifyPort('1/6', 'vlan/200', '200'), (err: unknown) => err instanceof SwitchError && /without a native VLAN/.test(err.message));
      assert.deepEqual(e.effective('1/6'), { native: null, tagged: [] });
    });

    it('a port an administrator left up in plain (non-hybrid) Layer 2 mode is emptied and made hybrid while shut down', async () => {
      await e.state.change(() => Object.assign(port('1/7'), { shutdown: false, switchport: true, hybrid: false, untagged: 50, tagged: [] }, e.state.vlans.add(50) && {}));
      const s = await session();
      assert.deepEqual(await s.getPortNetworks(['1/7']), new Map([['1/7', [{ channel: NATIVE, networkId: '50' }]]]));
      await s.applyBatch([
        { op: 'modify', port: '1/7', channel: NATIVE, networkId: '100' },
        { op: 'modify', port: '1/7', channel: 'vlan/200', networkId: '200' },
      ]);
      assert.deepEqual(port('1/7'), { shutdown: false, switchport: true, hybrid: true, untagged: 100, tagged: [200] });
    });
  });

  describe("refusals fail with the switch's own words", () => {
    it('an invalid VLAN (tagged in the default VLAN): the error carries the switch\'s words and the port is put back as it was', async () => {
      const s = await session();
      await s.modifyPort('1/8', NATIVE, '100');
      await s.modifyPort('1/8', 'vlan/200', '200');
      const bad: PortChange[] = [
        { op: 'modify', port: '1/8', channel: NATIVE, networkId: '300' },
        { op: 'modify', port: '1/8', channel: `vlan/${dellnos9Fixture.invalidVlan.vlan}`, networkId: String(dellnos9Fixture.invalidVlan.vlan) },
      ];
      await assert.rejects(s.applyBatch(bad), (err: unknown) => err instanceof SwitchError && dellnos9Fixture.invalidVlan.message.test(err.message) && err.message.includes('1/8'));
      assert.deepEqual(e.effective('1/8'), { native: 100, tagged: [200] }, 'undone to what it carried before');
    });

    it('a refusal on a port being turned on leaves it off, never on VLAN 1 (#883)', async () => {
      const s = await session();
      await assert.rejects(
        s.applyBatch([
          { op: 'modify', port: '1/9', channel: NATIVE, networkId: '100' },
          { op: 'modify', port: '1/9', channel: 'vlan/1', networkId: '1' },
        ]),
        dellnos9Fixture.invalidVlan.message,
      );
      assert.deepEqual(e.effective('1/9'), { native: null, tagged: [] });
      assert.ok(!backing.of('1/9').some((v) => v.native !== null || v.tagged.length), 'it never carried anything');
    });

    it('a port the switch does not have fails before anything is written', async () => {
      const s = await session();
      const mark = e.log.length;
      for (const missing of dellnos9Fixture.missingPorts) {
        await assert.rejects(s.applyBatch([{ op: 'modify', port: '1/10', channel: NATIVE, networkId: '100' }, { op: 'revert', port: missing }]), (err: unknown) => {
          assert.ok(err instanceof SwitchError);
          assert.match(err.message, dellnos9Fixture.missingPortMessage);
          assert.ok(err.message.includes(missing), err.message);
          return true;
        });
      }
      assert.deepEqual(new Set(requestsSince(mark).map((l) => l.split(' ')[0])), new Set(['GET']), 'only reads');
      assert.deepEqual(e.effective('1/10'), { native: null, tagged: [] });
    });

    it('a locked configuration: the switch\'s message, nothing changed; unlocked, the same change works', async () => {
      const s = await session();
      await s.modifyPort('1/11', NATIVE, '100');
      e.faults.configLocked = true;
      try {
        await assert.rejects(s.modifyPort('1/11', 'vlan/200', '200'), (err: unknown) => err instanceof SwitchError && dellnos9Fixture.configLockedMessage.test(err.message));
        // A PUT meets the lock too (turning a fresh port on), in the same words.
        await assert.rejects(s.modifyPort('1/12', NATIVE, '100'), dellnos9Fixture.configLockedMessage);
      } finally {
        e.faults.configLocked = false;
      }
      assert.deepEqual(e.effective('1/11'), { native: 100, tagged: [] });
      assert.deepEqual(e.effective('1/12'), { native: null, tagged: [] });
      await s.modifyPort('1/11', 'vlan/200', '200');
      assert.deepEqual(e.effective('1/11'), { native: 100, tagged: [200] });
    });

    it('wrong credentials: the REST server\'s 401, and no password in the message', async () => {
      const s = (await driver.openSession({ id: 1, label: 'os9', params: { ...params(), password: 'not-it-but-secret' } })) as Nos9Session;
      await assert.rejects(s.getPortNetworks(['1/1']), (err: unknown) => {
        assert.ok(err instanceof SwitchError);
        assert.match(err.message, /answered 401/);
        assert.ok(!err.message.includes('not-it-but-secret'));
        return true;
      });
    });
  });

  describe('save', () => {
    it('writes the running configuration after a batch that changed something', async () => {
      e.state.save();
      const s = await session();
      await s.modifyPort('1/13', NATIVE, '100');
      assert.equal(e.unsaved, false);
      assert.equal(e.log.at(-1), 'write');
    });

    it('writes even when the port already is as asked (a failed batch may have changed it unsaved); save: false does not', async () => {
      e.state.save();
      // What a failed batch leaves: port A changed, the running configuration not saved.
      const unsaved = await session({ save: false });
      await unsaved.modifyPort('1/12', NATIVE, '100');
      assert.equal(e.unsaved, true);
      let mark = e.log.length;
      await unsaved.modifyPort('1/12', NATIVE, '100');
      assert.equal(e.unsaved, true, 'save: false never writes');
      assert.ok(!cliCommands(mark).includes('write'));
      // The worker's retry, on a new session, finds A already as asked: it still writes.
      const retry = await session();
      mark = e.log.length;
      await retry.modifyPort('1/12', NATIVE, '100');
      assert.equal(e.unsaved, false, 'the startup configuration has the change');
      assert.deepEqual(cliCommands(mark), ['interfaces switchport TenGigabitEthernet 1/12', 'write'], 'a read, nothing written to the port, the save');
      assert.ok(!requestsSince(mark).some((l) => l.startsWith('PUT ')));
      await retry.revertPort('1/12');
    });

    it('with save: false, leaves the running configuration unsaved', async () => {
      e.state.save();
      const s = await session({ save: false });
      const mark = e.log.length;
      await s.modifyPort('1/13', 'vlan/200', '200');
      assert.equal(e.unsaved, true);
      assert.ok(!cliCommands(mark).includes('write'));
      e.state.save();
    });
  });

  describe('a hung switch', () => {
    it('ends the action at the request timeout; the session is not reused; a new one works once the switch answers', async () => {
      const s = await session();
      e.faults.hangAfterCommands = 0;
      const started = Date.now();
      try {
        await assert.rejects(s.modifyPort('1/14', NATIVE, '100'), (err: unknown) => {
          assert.ok(err instanceof SwitchError);
          assert.match(err.message, /no answer within 1500 ms/);
          assert.ok(!err.message.includes(PASSWORD) && !err.message.includes(Buffer.from(`${USER}:${PASSWORD}`).toString('base64')));
          return true;
        });
      } finally {
        e.faults.hangAfterCommands = undefined;
      }
      assert.ok(Date.now() - started < 5000, 'bounded by the timeout');
      const mark = e.log.length;
      await assert.rejects(s.getPortNetworks(['1/14']), /this session already failed/);
      assert.equal(requestsSince(mark).length, 0, 'nothing more sent on the broken session');
      const fresh = await session();
      await fresh.revertPort('1/14');
      assert.deepEqual(e.effective('1/14'), { native: null, tagged: [] });
    });
  });

  describe('close()', () => {
    it('mid-batch aborts the request in flight and sends nothing more; the batch fails', async () => {
      const s = await session();
      const slow = backing.hold(); // the switch takes its time over the next change that reaches the data plane
      const batch = s.modifyPort('1/10', NATIVE, '100');
      batch.catch(() => {});
      let mark = 0;
      try {
        await slow.reached(); // the PUT that brings the port up is in flight
        const t0 = Date.now();
        await s.close(); // what the worker does when its timeout abandons the batch
        await assert.rejects(batch, (err: unknown) => err instanceof SwitchError && /session was closed/.test(err.message) && !err.message.includes(PASSWORD));
        assert.ok(Date.now() - t0 < 1000, 'the batch ends at close(), not at the request timeout');
        mark = e.log.length;
      } finally {
        slow.release(); // the switch finishes the request nobody awaits any more
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(e.log.slice(mark), [], 'no request after close(): no read-back, no undo, no write, nothing for a later batch to race');
      await assert.rejects(s.getPortNetworks(['1/10']), /closed/);
      assert.deepEqual(e.log.slice(mark), []);
      // The request in flight did land, unsaved; the worker's retry on a new session finds it done and writes it.
      assert.equal(e.unsaved, true);
      const retry = await session();
      await retry.modifyPort('1/10', NATIVE, '100');
      assert.deepEqual(e.effective('1/10'), { native: 100, tagged: [] });
      assert.equal(e.unsaved, false);
      await retry.revertPort('1/10');
    });
  });

  describe('cost', () => {
    it('reports the requests of single changes and of a 100-change batch', async (t) => {
      const s = await session({ save: false });
      const ports = ['1/15', '1/16'];
      const changes: PortChange[] = [];
      for (let i = 0; i < 50; i++) for (const p of ports) changes.push(i === 0 ? { op: 'modify', port: p, channel: NATIVE, networkId: '100' } : { op: 'modify', port: p, channel: `vlan/${1000 + i}`, networkId: String(1000 + i) });
      await s.applyBatch(changes);
      assert.deepEqual(e.effective('1/15').tagged.length, 49);
      const batch = { ...s.requests };
      t.diagnostic(`100 changes on 2 fresh ports, one batch: ${JSON.stringify(batch)} (${batch.GET + batch.PUT + batch.POST} requests)`);
      // Per port: read, prepare, CLI in 1000-character requests (3 for 50 VLANs), bring up, read back; then no write (save: false).
      assert.ok(batch.GET + batch.PUT + batch.POST <= 2 * 8, 'a handful of requests per port, not per change');
      const one = await session({ save: false });
      await one.modifyPort('1/15', 'vlan/2000', '2000');
      t.diagnostic(`one tagged VLAN added to an up port: ${JSON.stringify(one.requests)}`);
      assert.deepEqual(one.requests, { GET: 1, PUT: 0, POST: 3 }, 'read (GET + show), CLI, read back (show)');
      await s.revertPort('1/15');
      await s.revertPort('1/16');
    });
  });
});

describe('dellnos9 emulator: the OS9 REST API as documented', () => {
  let e: HttpEmulator<Os9Port>;
  const auth = { authorization: 'Basic ' + Buffer.from('admin:pw').toString('base64') };
  const base = () => `http://127.0.0.1:${e.port}`;
  const cli = async (kind: string, commands: string) => {
    const res = await fetch(`${base()}/api/running/dell/_operations/cli`, { method: 'POST', headers: auth, body: `<input><${kind}>${commands}</${kind}></input>` });
    return { status: res.status, body: await res.text() };
  };
  before(async () => {
    e = await startDellNos9Emulator({ ports: ['1/1', '1/2'], username: 'admin', password: 'pw' });
  });
  after(() => e.close());

  it('wants Basic auth', async () => {
    const res = await fetch(`${base()}/api/running/dell/interfaces/interface/tengig-1-1`);
    assert.equal(res.status, 401);
    await res.body?.cancel();
  });

  it('shows default-valued leaves only with ?with-defaults', async () => {
    const plain = await (await fetch(`${base()}/api/running/dell/interfaces/interface/tengig-1-1`, { headers: auth })).text();
    assert.doesNotMatch(plain, /<shutdown>/);
    const full = await (await fetch(`${base()}/api/running/dell/interfaces/interface/tengig-1-1?with-defaults`, { headers: auth })).text();
    assert.match(full, /<shutdown>true<\/shutdown>/);
    const missing = await fetch(`${base()}/api/running/dell/interfaces/interface/tengig-3-1?with-defaults`, { headers: auth });
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /<error-message>uri keypath not found<\/error-message>/);
  });

  it('accepts abbreviated keywords, prints the transcript with prompts, and refuses bad input with a caret', async () => {
    await fetch(`${base()}/api/running/dell/interfaces/interface/tengig-1-1`, { method: 'PUT', headers: auth, body: '<interface><name>tengig-1-1</name><portmode><hybrid>true</hybrid></portmode><switchport/><shutdown>false</shutdown></interface>' });
    const ok = await cli('config-commands', 'int vl 100\\r\\nunt te 1/1');
    assert.equal(ok.status, 200);
    assert.match(ok.body, /<command>conf\nDell\(conf\)#int vl 100\nDell\(conf-if-vl-100\)#unt te 1\/1\nDell\(conf-if-vl-100\)#end\nDell#<\/command>/);
    assert.deepEqual(e.effective('1/1'), { native: 100, tagged: [] });
    const bad = await cli('config-commands', 'interface vlan 4095');
    assert.match(bad.body, /Dell\(conf\)#interface vlan 4095\n {26}\^\n% Error: Invalid input at &quot;\^&quot; marker\./);
    const layer3 = await cli('config-commands', 'interface vlan 100\r\ntagged TenGigabitEthernet 1/2');
    assert.match(layer3.body, /% Error: Port is not in Layer-2 mode Te 1\/2\./);
  });

  it('refuses to change a busy Layer 2 port\'s portmode, as the CLI does', async () => {
    const res = await fetch(`${base()}/api/running/dell/interfaces/interface/tengig-1-1`, { method: 'PUT', headers: auth, body: '<interface><name>tengig-1-1</name><portmode><hybrid>false</hybrid></portmode><switchport/><shutdown>false</shutdown></interface>' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /% Error: Port is in Layer-2 mode Te 1\/1\./);
  });

  it('keeps the guide\'s limits: one command tag, 1000 characters', async () => {
    assert.equal((await cli('config-commands', 'x'.repeat(1001))).status, 400);
    const two = await fetch(`${base()}/api/running/dell/_operations/cli`, { method: 'POST', headers: auth, body: '<input><show-command>vlan</show-command><exec-command>write</exec-command></input>' });
    assert.equal(two.status, 400);
    await two.body?.cancel();
  });

  it("prints show interfaces switchport as OS9 does, long lists wrapped, and the driver's parser reads it back", () => {
    const p: Os9Port = { shutdown: false, switchport: true, hybrid: true, untagged: 10, tagged: Array.from({ length: 40 }, (_, i) => 100 + 3 * i) };
    const text = showSwitchport(p, '1/1');
    assert.match(text, /Name: TenGigabitEthernet 1\/1\n802\.1QTagged: Hybrid\nVlan membership:\nQ {7}Vlans\nU {7}10\nT {7}100,103,/);
    assert.ok(text.split('\n').some((l) => /^ {8}\d/.test(l)), 'a continuation line');
    assert.match(text, /Native VlanId: {10}10\.\n/);
    const fail = (m: string): never => assert.fail(m);
    assert.deepEqual(parseSwitchport(text, '1/1', fail), { untagged: 10, tagged: p.tagged });
  });
});

describe('dellnos9 REST client', () => {
  it("fails with the switch's words whether a refusal comes as a 4xx <errors> body or as a '% Error' line in a 200 transcript", async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/api/running/dell/_operations/cli') {
          res.writeHead(400, { 'content-type': 'application/vnd.yang.errors+xml' });
          res.end('<errors xmlns="http://tail-f.com/ns/tailf-rest-error"><error><error-tag>operation-failed</error-tag><error-message>% Error: Configuration is being changed by another session.</error-message></error></errors>');
        } else {
          res.writeHead(200, { 'content-type': 'application/vnd.yang.data+xml' });
          res.end('<output xmlns="http://www.dell.com/ns/dell:0.1/root"><command>conf\nDell(conf)#interface vlan 5000\n                          ^\n% Error: Invalid input at &quot;^&quot; marker.\nDell(conf)#end\nDell#</command></output>');
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const api = new Os9Api({ base, username: 'u', password: 'hunter2', params: { password: 'hunter2' } }, 2000);
      await assert.rejects(api.cli('config-commands', ['interface vlan 5']), /HTTP 400\): % Error: Configuration is being changed by another session\./);
      // Under another base path the fake server answers 200 with a transcript that holds the refusal.
      const other = new Os9Api({ base: `${base}/x`, username: 'u', password: 'hunter2', params: { password: 'hunter2' } }, 2000);
      await assert.rejects(other.cli('config-commands', ['interface vlan 5000']), /% Error: Invalid input at "\^" marker\. \(after Dell\(conf\)#interface vlan 5000\)/);
      assert.deepEqual(api.counts, { GET: 0, PUT: 0, POST: 1 });
    } finally {
      server.close();
    }
  });
});
