/**
 * The Brocade VDX driver (src/drivers/switch/brocade.ts) against the VDX
 * emulator (test/support/switch-emulators/brocade.ts): what each change
 * leaves on the emulated switch (its port records and what they forward),
 * the order in which it gets there (a recording data plane sees every
 * intermediate state, so a port that passes through VLAN 1 shows),
 * Network OS's quirks (default native VLAN 1, #970; native tagging; VLANs
 * that must exist), the switch's refusals in its own words, save, a hung
 * switch, credentials, and the shared switch contract over the emulator.
 */
import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';
import { brocadeSwitchDriver, type BrocadeParams } from '../../../src/drivers/switch/brocade.ts';
import type { SwitchSession } from '../../../src/drivers/switch/interface.ts';
import type { PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import { BadArgumentError, SwitchError } from '../../../src/errors.ts';
import { parseXml, textAt, XmlError } from '../../../src/drivers/switch/xml.ts';
import { brocadeFixture, startBrocadeEmulator, VDX_PORTS, type VdxEmulator, type VdxPort } from '../../support/switch-emulators/brocade.ts';
import { recordingBacking } from '../../support/switch-emulators/recording-backing.ts';

const USER = 'admin';
const PASSWORD = 'Vdx-s3cret!pw';
const NATIVE = 'vlan/native';

const driver = brocadeSwitchDriver({ requestTimeoutMs: 2000, savePollMs: 10 });

function paramsFor(e: VdxEmulator, extra: Record<string, unknown> = {}): BrocadeParams {
  return driver.params.parse({ ...brocadeFixture.fields(e, { username: USER, password: PASSWORD }), ...extra });
}
const open = (e: VdxEmulator, extra: Record<string, unknown> = {}) => driver.openSession({ id: 1, label: 'vdx', params: paramsFor(e, extra) });

const noVlans: PortVlans = { native: null, tagged: [] };

describe('brocade VDX driver against the emulator', () => {
  let e: VdxEmulator;
  let rec: ReturnType<typeof recordingBacking>;
  let s: SwitchSession;
  const port = (name: string): VdxPort => e.state.port(name)!;

  beforeEach(async () => {
    await e?.close();
    rec = recordingBacking();
    e = await startBrocadeEmulator({ ports: VDX_PORTS, username: USER, password: PASSWORD, backing: rec });
    rec.history.length = 0; // the start's push of every port (nothing), not a change
    s = await open(e);
  });
  after(() => e?.close());

  it('accepts upstream\'s registration body unchanged, and refuses URLs it cannot use', () => {
    const { type: _type, ...fields } = brocadeFixture.upstreamBody;
    const p = driver.params.parse(structuredClone(fields));
    assert.equal(p.hostname, 'http://vdx.example.com');
    assert.deepEqual(driver.params.secretFields, ['password']);
    for (const hostname of ['vdx.example.com', 'ftp://vdx.example.com', 'http://admin:pw@vdx.example.com', 'http://vdx/?x=1']) {
      assert.throws(() => driver.params.parse({ ...fields, hostname }), (err: unknown) => err instanceof BadArgumentError && err.message.includes('"hostname"'), hostname);
    }
    assert.throws(() => driver.params.parse({ ...fields, interface_type: 'Ten Gig/1' }), BadArgumentError);
    assert.deepEqual(driver.capabilities(), []);
  });

  it('a fresh port (VCS default: no shutdown, not a switchport) forwards and reads as nothing', async () => {
    assert.deepEqual(e.effective('1/0/1'), noVlans);
    assert.deepEqual((await s.getPortNetworks(['1/0/1'])).get('1/0/1'), []);
  });

  it('native: creates the VLAN, makes the port an untagged-native trunk, and never lets it carry VLAN 1 on the way', async () => {
    await s.modifyPort('1/0/2', NATIVE, '101');
    assert.ok(e.state.vlans.has(101), 'VLAN 101 was created');
    assert.deepEqual(port('1/0/2'), { shutdown: false, switchport: true, mode: 'trunk', accessVlan: null, nativeVlan: 101, tagNative: false, allowed: [], allowedAll: false });
    assert.deepEqual(e.effective('1/0/2'), { native: 101, tagged: [] });
    // Every state the port went through: nothing, then native 101 — never VLAN 1 (access VLAN or default native).
    assert.deepEqual(rec.of('1/0/2'), [{ native: 101, tagged: [] }]);
    assert.deepEqual((await s.getPortNetworks(['1/0/2'])).get('1/0/2'), [{ channel: NATIVE, networkId: '101' }]);
    // The native VLAN replaced directly, without passing through VLAN 1 either.
    await s.modifyPort('1/0/2', NATIVE, '103');
    assert.deepEqual(rec.of('1/0/2').at(-1), { native: 103, tagged: [] });
    assert.ok(rec.of('1/0/2').every((v) => v.native !== 1 && !v.tagged.includes(1)), JSON.stringify(rec.of('1/0/2')));
  });

  it('tagged: well-formed allowed-VLAN bodies (not upstream\'s <vlan><add>V</vlan></vlan>), read back from the switch', async () => {
    await s.modifyPort('1/0/3', NATIVE, '101');
    await s.modifyPort('1/0/3', 'vlan/102', '102');
    await s.modifyPort('1/0/3', 'vlan/103', '103');
    assert.deepEqual(port('1/0/3').allowed, [102, 103]);
    assert.deepEqual(e.effective('1/0/3'), { native: 101, tagged: [102, 103] });
    assert.ok(e.log.includes('  <vlan><add>102</add></vlan>'), e.log.join('\n'));
    await s.modifyPort('1/0/3', 'vlan/102', null);
    assert.ok(e.log.includes('  <vlan><remove>102</remove></vlan>'));
    assert.deepEqual(e.effective('1/0/3'), { native: 101, tagged: [103] });
  });

  it('the emulator refuses upstream\'s malformed payload as the switch would', async () => {
    await s.modifyPort('1/0/4', NATIVE, '101');
    const res = await fetch(`http://127.0.0.1:${e.port}/rest/config/running/interface/TenGigabitEthernet/%221/0/4%22/switchport/trunk/allowed/vlan`, {
      method: 'PUT',
      headers: { authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` },
      body: '<vlan><add>102</vlan></vlan>',
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /<error-tag>malformed-message<\/error-tag>[\s\S]*does not close &lt;add&gt;/);
    assert.deepEqual(port('1/0/4').allowed, []);
  });

  it('revert (#970): shuts the port down before clearing it, so it forwards nothing — not the default native VLAN 1', async () => {
    await s.modifyPort('1/0/5', NATIVE, '101');
    await s.modifyPort('1/0/5', 'vlan/102', '102');
    await s.revertPort('1/0/5');
    assert.deepEqual(e.effective('1/0/5'), noVlans);
    assert.deepEqual(port('1/0/5'), { shutdown: true, switchport: true, mode: 'trunk', accessVlan: null, nativeVlan: null, tagNative: false, allowed: [], allowedAll: false });
    assert.ok(rec.of('1/0/5').every((v) => v.native !== 1 && !v.tagged.includes(1)), `passed through VLAN 1: ${JSON.stringify(rec.of('1/0/5'))}`);
    // What upstream's revert left: the same trunk without native VLAN, not shut down, forwards VLAN 1.
    e.state.port('1/0/5')!.shutdown = false;
    await e.state.change(() => {});
    assert.deepEqual(e.effective('1/0/5'), { native: 1, tagged: [] });
    assert.deepEqual((await s.getPortNetworks(['1/0/5'])).get('1/0/5'), [{ channel: NATIVE, networkId: '1' }], 'the driver reads VLAN 1 where the switch forwards it');
    await s.revertPort('1/0/5');
    assert.deepEqual(e.effective('1/0/5'), noVlans);
    // A second revert writes nothing to the port (it only saves again).
    const before = e.log.length;
    await s.revertPort('1/0/5');
    assert.deepEqual(e.log.slice(before).filter((l) => /^(PUT|POST|DELETE) /.test(l) && !l.includes('bna-config-cmd')), []);
  });

  it('removing the native VLAN of a port with no tagged ones shuts it down; a port back on is turned on last', async () => {
    await s.modifyPort('1/0/6', NATIVE, '101');
    await s.modifyPort('1/0/6', NATIVE, null);
    assert.deepEqual(e.effective('1/0/6'), noVlans);
    assert.equal(port('1/0/6').shutdown, true);
    const before = e.log.length;
    await s.modifyPort('1/0/6', NATIVE, '102');
    const writes = e.log.slice(before).filter((l) => /^(PUT|POST|DELETE) .*%22/.test(l));
    assert.match(writes.at(-1)!, /^DELETE .*\/shutdown$/, `turned on last: ${writes.join(' | ')}`);
    assert.deepEqual(e.effective('1/0/6'), { native: 102, tagged: [] });
  });

  it('tagged networks without a native one are refused (a VDX trunk would carry VLAN 1), changing nothing', async () => {
    await assert.rejects(s.modifyPort('1/0/7', 'vlan/102', '102'), (err: unknown) => err instanceof SwitchError && /port 1\/0\/7.*without a native one/.test(err.message));
    assert.deepEqual(port('1/0/7').switchport, false);
    await s.modifyPort('1/0/7', NATIVE, '101');
    await s.modifyPort('1/0/7', 'vlan/102', '102');
    await assert.rejects(s.modifyPort('1/0/7', NATIVE, null), /without a native one/);
    assert.deepEqual(e.effective('1/0/7'), { native: 101, tagged: [102] });
  });

  it('reads what the switch forwards, not what HIL wrote: native tagging, access ports, "allowed vlan all"', async () => {
    await s.modifyPort('1/0/8', NATIVE, '101');
    await e.state.change(() => {
      port('1/0/8').tagNative = true; // someone typed `switchport trunk tag native-vlan`
      Object.assign(port('1/0/9'), { switchport: true, mode: 'access', accessVlan: null });
      e.state.vlans.add(200);
      Object.assign(port('1/0/10'), { switchport: true, mode: 'trunk', nativeVlan: 101, allowedAll: true });
    });
    const got = await s.getPortNetworks(['1/0/8', '1/0/9', '1/0/10']);
    assert.deepEqual(got.get('1/0/8'), [{ channel: 'vlan/101', networkId: '101' }]);
    assert.deepEqual(got.get('1/0/9'), [{ channel: NATIVE, networkId: '1' }]);
    assert.deepEqual(got.get('1/0/10'), [{ channel: NATIVE, networkId: '101' }, { channel: 'vlan/all', networkId: 'all' }]);
    // Setting the native VLAN again puts it back untagged; a revert clears "all".
    await s.modifyPort('1/0/8', NATIVE, '101');
    assert.deepEqual(e.effective('1/0/8'), { native: 101, tagged: [] });
    await s.revertPort('1/0/10');
    assert.deepEqual(e.effective('1/0/10'), noVlans);
    assert.equal(port('1/0/10').allowedAll, false);
  });

  it('an invalid (reserved) VLAN fails with the switch\'s words before any port changes', async () => {
    await s.modifyPort('1/0/11', NATIVE, '101');
    const { vlan, message } = brocadeFixture.invalidVlan;
    await assert.rejects(s.modifyPort('1/0/11', `vlan/${vlan}`, String(vlan)), (err: unknown) => err instanceof SwitchError && message.test(err.message) && err.message.includes('VLAN 4090'));
    assert.deepEqual(e.effective('1/0/11'), { native: 101, tagged: [] });
    assert.ok(!e.state.vlans.has(vlan));
  });

  it('a port the switch lacks fails with its words, naming the port; the session stays usable', async () => {
    for (const p of brocadeFixture.missingPorts) {
      await assert.rejects(s.modifyPort(p, NATIVE, '101'), (err: unknown) => err instanceof SwitchError && brocadeFixture.missingPortMessage.test(err.message) && err.message.includes(p));
      await assert.rejects(s.getPortNetworks([p]), brocadeFixture.missingPortMessage);
    }
    await s.modifyPort('1/0/12', NATIVE, '101');
    assert.deepEqual(e.effective('1/0/12'), { native: 101, tagged: [] });
  });

  it('a locked configuration fails with the switch\'s words, and is never taken for "already there"', async () => {
    await s.modifyPort('1/0/13', NATIVE, '101');
    e.faults.configLocked = true;
    await assert.rejects(s.modifyPort('1/0/13', NATIVE, '102'), brocadeFixture.configLockedMessage);
    // Revert starts with POST <shutdown>, whose 409 "exists" the driver accepts: a lock must still fail it.
    await assert.rejects(s.revertPort('1/0/13'), brocadeFixture.configLockedMessage);
    assert.deepEqual(e.effective('1/0/13'), { native: 101, tagged: [] });
    e.faults.configLocked = false;
    await s.revertPort('1/0/13');
    assert.deepEqual(e.effective('1/0/13'), noVlans);
  });

  it('a batch reads every port first: one the switch lacks changes nothing', async () => {
    assert.ok(s.applyBatch);
    await assert.rejects(
      s.applyBatch!([
        { op: 'modify', port: '1/0/14', channel: NATIVE, networkId: '101' },
        { op: 'modify', port: '1/0/99', channel: NATIVE, networkId: '101' },
      ]),
      /1\/0\/99/,
    );
    assert.deepEqual(port('1/0/14').switchport, false);
    await s.applyBatch!([
      { op: 'modify', port: '1/0/14', channel: NATIVE, networkId: '101' },
      { op: 'modify', port: '1/0/14', channel: 'vlan/102', networkId: '102' },
      { op: 'modify', port: '1/0/15', channel: NATIVE, networkId: '103' },
      { op: 'revert', port: '1/0/15' },
    ]);
    assert.deepEqual([e.effective('1/0/14'), e.effective('1/0/15')], [{ native: 101, tagged: [102] }, noVlans]);
    // 1/0/15 ends as it began (fresh, forwarding nothing): it was never touched.
    assert.deepEqual(rec.of('1/0/15'), []);
  });

  it('saves after a change by default (bna-config-cmd, polled to completion); save: false leaves it unsaved', async () => {
    await s.modifyPort('1/0/1', NATIVE, '101');
    assert.equal(e.unsaved, false);
    assert.ok(e.log.some((l) => l === 'POST /rest/operations/bna-config-cmd') && e.log.some((l) => l === 'POST /rest/operations/bna-config-cmd-status'));
    const unsavedSession = await open(e, { save: false });
    await unsavedSession.modifyPort('1/0/1', NATIVE, '102');
    assert.equal(e.unsaved, true);
  });

  it('saves even when the port already is as asked (a failed batch may have written it unsaved); save: false does not', async () => {
    // What a failed batch leaves: port A written, the running configuration not saved.
    const unsavedSession = await open(e, { save: false });
    await unsavedSession.modifyPort('1/0/2', NATIVE, '101');
    assert.equal(e.unsaved, true);
    let mark = e.log.length;
    await unsavedSession.modifyPort('1/0/2', NATIVE, '101');
    assert.equal(e.unsaved, true, 'save: false never saves');
    assert.ok(!e.log.slice(mark).some((l) => l.includes('bna-config-cmd')));
    // The worker's retry, on a new session, finds A already as asked: it still saves.
    const retry = await open(e);
    mark = e.log.length;
    await retry.modifyPort('1/0/2', NATIVE, '101');
    assert.equal(e.unsaved, false, 'the startup configuration has the change');
    assert.deepEqual(e.log.slice(mark).filter((l) => /^(PUT|POST|DELETE) /.test(l) && !l.includes('bna-config-cmd')), [], 'nothing written to the port');
    assert.deepEqual(e.effective('1/0/2'), { native: 101, tagged: [] });
    // A revert of a port that already forwards nothing saves too.
    await e.state.change(() => void e.state.vlans.add(300));
    assert.equal(e.unsaved, true);
    await retry.revertPort('1/0/3');
    assert.equal(e.unsaved, false);
  });

  it('close() mid-batch aborts the request in flight and sends nothing more; the batch fails', async () => {
    await s.modifyPort('1/0/4', NATIVE, '101');
    const slow = rec.hold(); // the switch takes its time over the next change that reaches the data plane
    const batch = s.modifyPort('1/0/4', NATIVE, '102');
    batch.catch(() => {});
    await slow.reached(); // PUT …/switchport/trunk (native VLAN 102) is in flight
    const t0 = Date.now();
    await s.close(); // what the worker does when its timeout abandons the batch
    await assert.rejects(batch, (err: unknown) => err instanceof SwitchError && /session was closed/.test(err.message) && !err.message.includes(PASSWORD));
    assert.ok(Date.now() - t0 < 1000, 'the batch ends at close(), not at the request timeout');
    const mark = e.log.length;
    slow.release(); // the switch finishes the request nobody awaits any more
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(e.log.slice(mark), [], 'no request after close(): no read-back, no save, nothing for a later batch to race');
    await assert.rejects(s.getPortNetworks(['1/0/4']), (err: unknown) => err instanceof SwitchError && /closed/.test(err.message));
    assert.deepEqual(e.log.slice(mark), [], 'a closed session sends nothing');
    // The request that was in flight did land (unsaved); the worker's retry on a new session finds it done and saves it.
    assert.equal(e.unsaved, true);
    const retry = await open(e);
    await retry.modifyPort('1/0/4', NATIVE, '102');
    assert.deepEqual(e.effective('1/0/4'), { native: 102, tagged: [] });
    assert.equal(e.unsaved, false);
  });

  it('close() between the polls of a save stops polling', async () => {
    const slowSave = brocadeSwitchDriver({ requestTimeoutMs: 2000, savePollMs: 5000 });
    const ss = await slowSave.openSession({ id: 1, label: 'vdx', params: paramsFor(e) });
    const batch = ss.modifyPort('1/0/5', NATIVE, '101');
    batch.catch(() => {});
    while (!e.log.includes('POST /rest/operations/bna-config-cmd')) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50)); // its answer is back: the driver now waits before polling
    const t0 = Date.now();
    await ss.close();
    await assert.rejects(batch, (err: unknown) => err instanceof SwitchError && /closed/.test(err.message));
    assert.ok(Date.now() - t0 < 1000, 'not after the poll interval');
    assert.ok(!e.log.includes('POST /rest/operations/bna-config-cmd-status'), 'no poll after close()');
  });

  it('a hung switch times out the request, and the session is not used again', async () => {
    const quick = brocadeSwitchDriver({ requestTimeoutMs: 300 });
    const hs = await quick.openSession({ id: 1, label: 'vdx', params: paramsFor(e) });
    e.faults.hangAfterCommands = 0;
    const t0 = Date.now();
    await assert.rejects(hs.modifyPort('1/0/16', NATIVE, '101'), (err: unknown) => err instanceof SwitchError && /no answer within 300 ms/.test(err.message));
    assert.ok(Date.now() - t0 < 3000);
    await assert.rejects(hs.getPortNetworks(['1/0/16']), /broke earlier/);
    e.faults.hangAfterCommands = undefined; // the switch answers again (as after a restart of its management plane)
    // The short timeout was only for the hang: the full change and save run with the default ones (a loaded machine is slow).
    const fresh = await brocadeSwitchDriver({ savePollMs: 10 }).openSession({ id: 1, label: 'vdx', params: paramsFor(e) });
    await fresh.modifyPort('1/0/16', NATIVE, '101');
    assert.deepEqual(e.effective('1/0/16'), { native: 101, tagged: [] });
  });

  it('the password travels only in the Basic header: never in the log, the URL or an error', async () => {
    const wrong = driver.params.parse({ ...brocadeFixture.fields(e, { username: USER, password: 'not-the-password' }) });
    const ws = await driver.openSession({ id: 1, label: 'vdx', params: wrong });
    await assert.rejects(ws.getPortNetworks(['1/0/1']), (err: unknown) => err instanceof SwitchError && /HTTP 401/.test(err.message) && !err.message.includes('not-the-password'));
    await s.modifyPort('1/0/1', NATIVE, '101');
    const b64 = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    assert.ok(!e.log.some((l) => l.includes(PASSWORD) || l.includes(b64)));
  });
});

describe('the XML reader shared by the driver and the emulator', () => {
  it('reads namespaced documents with attributes, entities and comments', () => {
    const doc = parseXml('<?xml version="1.0"?>\n<!-- c --><trunk xmlns="urn:x" xmlns:y="http://brocade.com/ns/rest" y:self="/a%22b"><allowed><vlan y:self=\'v\'><add>1,4001-4003</add></vlan></allowed><x>&lt;&amp;&#65;</x><e/></trunk>');
    assert.equal(doc.name, 'trunk');
    assert.equal(doc.attrs.self, '/a%22b');
    assert.equal(textAt(doc, 'allowed', 'vlan', 'add'), '1,4001-4003');
    assert.equal(textAt(doc, 'x'), '<&A');
    assert.equal(textAt(doc, 'e'), '');
  });
  it('refuses what is not well-formed', () => {
    for (const bad of ['<vlan><add>102</vlan></vlan>', '<a>', '<a></a><b/>', 'text', '<a b=1/>', '<a>&nope;</a>', '<!DOCTYPE a><a/>', '']) {
      assert.throws(() => parseXml(bad), XmlError, JSON.stringify(bad));
    }
  });
});
