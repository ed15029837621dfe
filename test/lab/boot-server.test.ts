/** The provisioning network's HTTP boot server, over real HTTP on loopback. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveBoot } from '../../src/lab/boot-server.ts';

describe('boot server', () => {
  let dir: string;
  let server: Server;
  let base: string;
  const reports = () => join(dir, 'reports.jsonl');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hil-boot-'));
    writeFileSync(join(dir, 'boot.ipxe'), '#!ipxe\nboot\n');
    writeFileSync(join(dir, '.hidden'), 'no');
    server = serveBoot(dir, reports(), '127.0.0.1', 0);
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the boot files, and nothing outside them', async () => {
    const r = await fetch(`${base}/boot.ipxe`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '#!ipxe\nboot\n');
    for (const path of ['/missing', '/.hidden', '/../etc/passwd', '/%2e%2e/etc/passwd', '/sub/boot.ipxe']) {
      assert.equal((await fetch(`${base}${path}`)).status, 404, path);
    }
    assert.equal((await fetch(`${base}/boot.ipxe`, { method: 'POST' })).status, 405);
  });

  it('records a report per booted guest, and refuses one without a MAC', async () => {
    const ok = await fetch(`${base}/report?mac=52:54:AB:CD:01:00&ip=10.128.0.150&uptime=2.5`);
    assert.equal(ok.status, 200);
    const bad = await fetch(`${base}/report?mac=nope`);
    assert.equal(bad.status, 400);
    const lines = readFileSync(reports(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 1);
    assert.equal(lines[0].mac, '52:54:ab:cd:01:00');
    assert.equal(lines[0].ip, '10.128.0.150');
    assert.equal(lines[0].uptime, 2.5);
    assert.equal(lines[0].from, '127.0.0.1');
    assert.ok(Date.now() - Date.parse(lines[0].at) < 10_000);
  });
});
