/** The provisioning network's HTTP boot server, over real HTTP on loopback. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
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

describe('boot server: /fpbl/ forwarded to a unix socket (hil-lab up --fpbl-socket)', () => {
  let dir: string;
  let server: Server;
  let upstream: Server;
  let port: number;
  const seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];

  const listenUpstream = () =>
    new Promise<void>((resolve) => {
      upstream = createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d: string) => (body += d));
        req.on('end', () => {
          seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
          if (req.url!.startsWith('/fpbl/v1/slow')) return setTimeout(() => res.end('late\n'), 300);
          if (req.url!.startsWith('/fpbl/v1/big')) {
            res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked: no length
            for (let i = 0; i < 64; i++) res.write(Buffer.alloc(16384, i));
            return res.end();
          }
          const status = req.headers.authorization === 'Bearer good' ? 200 : 401;
          res.writeHead(status, { 'content-type': 'text/plain', 'x-upstream': 'yes' }).end(status === 200 ? 'command=none\n' : 'bad token\n');
        });
      });
      upstream.listen(join(dir, 'fpbl.sock'), resolve);
    });

  /** A raw request, as a node's wget makes it (fetch cannot set every header). */
  const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(body);
    });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hil-boot-fpbl-'));
    writeFileSync(join(dir, 'boot.ipxe'), '#!ipxe\nchain x\n');
    await listenUpstream();
    server = serveBoot(dir, join(dir, 'reports.jsonl'), '127.0.0.1', 0, join(dir, 'fpbl.sock'));
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    server.close();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('forwards method, path with query, headers and body, adds x-forwarded-for, and passes the answer back', async () => {
    const body = 'agent=fpbl\nstate=fresh\nmac=52:54:00:00:00:01\n';
    const r = await send('POST', '/fpbl/v1/agent?x=1', { authorization: 'Bearer good', 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length), connection: 'close' }, body);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'command=none\n');
    assert.equal(r.headers['x-upstream'], 'yes');
    const s = seen.at(-1)!;
    assert.equal(s.method, 'POST');
    assert.equal(s.url, '/fpbl/v1/agent?x=1');
    assert.equal(s.body, body);
    assert.equal(s.headers.authorization, 'Bearer good');
    assert.equal(s.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(s.headers['x-forwarded-for'], '127.0.0.1');

    const bad = await send('GET', '/fpbl/v1/boot.ipxe?mac=52%3A54%3A00%3A00%3A00%3A01', {});
    assert.equal(bad.status, 401, 'statuses pass through');
    assert.equal(bad.body.toString(), 'bad token\n');
    assert.equal(seen.at(-1)!.url, '/fpbl/v1/boot.ipxe?mac=52%3A54%3A00%3A00%3A00%3A01');
  });

  it('streams a long answer through, and waits for a slow one', async () => {
    const big = await send('GET', '/fpbl/v1/big', {});
    assert.equal(big.status, 200);
    assert.equal(big.body.length, 64 * 16384);
    for (let i = 0; i < 64; i++) assert.equal(big.body[i * 16384 + 100], i);
    const slow = await send('GET', '/fpbl/v1/slow', {});
    assert.equal(slow.body.toString(), 'late\n');
  });

  it('serves everything else itself: boot.ipxe from its root, /fpblx not forwarded', async () => {
    const before = seen.length;
    const r = await send('GET', '/boot.ipxe', {});
    assert.equal(r.body.toString(), '#!ipxe\nchain x\n');
    assert.equal((await send('GET', '/fpblx', {})).status, 404);
    assert.equal((await send('POST', '/boot.ipxe', {})).status, 405);
    assert.equal(seen.length, before);
  });

  it('answers 502 while nothing listens on the socket, and forwards again once something does', async () => {
    await new Promise((r) => upstream.close(r));
    const r = await send('POST', '/fpbl/v1/agent', { authorization: 'Bearer good' }, 'agent=fpbl\n');
    assert.equal(r.status, 502);
    assert.match(r.body.toString(), /does not answer/);
    await listenUpstream();
    assert.equal((await send('POST', '/fpbl/v1/agent', { authorization: 'Bearer good' }, 'agent=fpbl\n')).status, 200);
  });
});
