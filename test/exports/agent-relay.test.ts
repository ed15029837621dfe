/**
 * The boot server's relay to the provisioning agent endpoint
 * (src/exports/agent-relay.ts): a real boot HTTP server (boot-http.ts) on
 * loopback in front of a stand-in endpoint on a unix socket, as HIL runs
 * them. What a returning diskless OS needs goes through, with its token and
 * its address; nothing else of the endpoint does.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBootHttp } from '../../src/exports/boot-http.ts';
import { isRelayed } from '../../src/exports/agent-relay.ts';

interface Seen {
  method: string;
  url: string;
  authorization?: string;
  forwardedFor?: string;
  body: string;
}

function call(port: number, method: string, path: string, o: { body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: o.headers }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

describe('the boot server relays a returning node to the agent endpoint', () => {
  let dir: string;
  let endpoint: Server;
  let boot: Server;
  let port = 0;
  const seen: Seen[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hil-relay-'));
    const socket = join(dir, 'fpbl.sock');
    endpoint = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, forwardedFor: req.headers['x-forwarded-for'] as string | undefined, body });
        if (req.url === '/fpbl/v1/fpbl/vmlinuz') return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end('FPBL KERNEL');
        res.writeHead(req.headers.authorization === 'Bearer good' ? 200 : 401, { 'content-type': 'text/plain' }).end(req.headers.authorization === 'Bearer good' ? 'command=return\n' : 'unknown token\n');
      });
    });
    await new Promise<void>((r) => endpoint.listen(socket, r));
    boot = await startBootHttp({
      address: '127.0.0.1',
      port: 0,
      filesOf: async () => undefined,
      deployed: async () => undefined,
      open: async () => {
        throw new Error('no blobs here');
      },
      onError: () => {},
      agentEndpoint: `unix:${socket}`,
    });
    port = (boot.address() as AddressInfo).port;
  });

  after(async () => {
    boot?.closeAllConnections();
    await new Promise((r) => boot?.close(r));
    await new Promise((r) => endpoint?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes a report on with its token and body, says who sent it, and brings the endpoint's answer back", async () => {
    const r = await call(port, 'POST', '/fpbl/v1/agent', { body: 'agent=return\nstate=running\n', headers: { authorization: 'Bearer good', 'content-type': 'text/plain' } });
    assert.deepEqual(r, { status: 200, body: 'command=return\n' });
    assert.deepEqual(seen.at(-1), { method: 'POST', url: '/fpbl/v1/agent', authorization: 'Bearer good', forwardedFor: '127.0.0.1', body: 'agent=return\nstate=running\n' });
    // The endpoint decides about tokens; its refusal comes back as it is.
    assert.equal((await call(port, 'POST', '/fpbl/v1/agent', { body: 'x=1\n', headers: { authorization: 'Bearer bad' } })).status, 401);
  });

  it('serves the FPBL through the endpoint, and relays nothing else of it', async () => {
    assert.deepEqual(await call(port, 'GET', '/fpbl/v1/fpbl/vmlinuz'), { status: 200, body: 'FPBL KERNEL' });
    const before = seen.length;
    for (const [method, path] of [
      ['GET', '/fpbl/v1/boot.ipxe?mac=52:54:00:00:00:01'],
      ['GET', '/fpbl/v1/payload/kernel'],
      ['GET', `/fpbl/v1/blob/${'a'.repeat(64)}`],
      ['GET', '/fpbl/v1/agent'],
      ['POST', '/fpbl/v1/fpbl/vmlinuz'],
    ] as const) {
      assert.equal(isRelayed(method, new URL(path, 'http://x').pathname), false, path);
      assert.notEqual((await call(port, method, path)).status, 200, path);
    }
    assert.equal(seen.length, before, 'none of them reached the endpoint');
  });

  it('answers 502 when the endpoint is not there', async () => {
    const lone = await startBootHttp({ address: '127.0.0.1', port: 0, filesOf: async () => undefined, deployed: async () => undefined, open: async () => { throw new Error('x'); }, onError: () => {}, agentEndpoint: `unix:${join(dir, 'nobody.sock')}` });
    try {
      const r = await call((lone.address() as AddressInfo).port, 'POST', '/fpbl/v1/agent', { body: 'a=1\n' });
      assert.equal(r.status, 502);
    } finally {
      await new Promise((r) => lone.close(r));
    }
  });
});
