/**
 * The typed client library against a real server on a socket: errors carry
 * the server's type and msg, redirects to obmd are followed without leaking
 * HIL credentials, requests time out, the console streams, and actions can
 * be waited for.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil } from '../support/hil.ts';
import { HilApiError, HilClient } from '../../src/client/index.ts';

async function httpServer(handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('client transport', () => {
  it('a non-JSON error body becomes type "unknown" with the raw text', async () => {
    const s = await httpServer((_req, res) => res.writeHead(500, { 'content-type': 'text/html' }).end('<h1>Internal Server Error</h1>'));
    try {
      const err = await new HilClient({ endpoint: s.url }).project.list().catch((e: unknown) => e);
      assert.ok(err instanceof HilApiError);
      assert.deepEqual([err.type, err.status, err.message], ['unknown', 500, '<h1>Internal Server Error</h1>']);
    } finally {
      await s.close();
    }
  });

  it('a server that never answers fails within the timeout', async () => {
    const s = await httpServer(() => {}); // accepts, never responds
    try {
      const started = Date.now();
      const err = await new HilClient({ endpoint: s.url, timeoutMs: 300 }).node.list('free').catch((e: unknown) => e);
      assert.ok(err instanceof HilApiError);
      assert.equal(err.type, 'ConnectionError');
      assert.match(err.message, /no answer within 300 ms/);
      assert.ok(Date.now() - started < 2000);
    } finally {
      await s.close();
    }
  });
});

for (const database of testDatabases()) {
  describe(`client against a server on ${database.name}`, { skip: database.skip }, () => {
    it('surfaces API errors with the server type and msg, and calls typed routes', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        await addUser(t, 'root', 'root-pw', true);
        const endpoint = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
        const c = new HilClient({ endpoint, username: 'root', password: 'root-pw' });
        await c.project.create('runway');
        assert.deepEqual(await c.project.list(), ['runway']);
        const dup = await c.project.create('runway').catch((e: unknown) => e);
        assert.ok(dup instanceof HilApiError);
        assert.deepEqual([dup.type, dup.status, dup.message], ['DuplicateError', 409, 'Project "runway" already exists.']);
        const anon = await new HilClient({ endpoint }).project.list().catch((e: unknown) => e);
        assert.ok(anon instanceof HilApiError && anon.type === 'AuthorizationError' && anon.status === 401);
        // Port names with slashes travel intact.
        await c.switch.register('sw0', 'mock', { hostname: 'h', username: 'u', password: 'p' });
        await c.port.register('sw0', 'gi1/0/3');
        assert.deepEqual((await c.switch.show('sw0')).ports, [{ label: 'gi1/0/3' }]);
        assert.deepEqual(await c.port.show('sw0', 'gi1/0/3'), {});
      }));

    it('follows obmd redirects, without sending HIL credentials to obmd', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        await addUser(t, 'root', 'root-pw', true);
        const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];
        const obmd = await httpServer(async (req, res) => {
          let body = '';
          for await (const chunk of req) body += chunk;
          seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
          if (req.url === '/node/n1/token') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"token": "0123456789abcdef0123456789abcdef"}');
          if (req.url?.startsWith('/node/n1/power_status')) return res.writeHead(200).end('{"power_status": "Mock Status"}');
          res.writeHead(200).end();
        });
        try {
          const endpoint = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
          const c = new HilClient({ endpoint, username: 'root', password: 'root-pw' });
          await c.node.register('n1', { obmd: { uri: `${obmd.url}/node/n1`, admin_token: 'admin-token' } });
          await c.node.enableObm('n1');
          await c.node.powerCycle('n1', true);
          assert.deepEqual(await c.node.powerStatus('n1'), { power_status: 'Mock Status' });
          const cycle = seen.find((s) => s.url.startsWith('/node/n1/power_cycle'))!;
          assert.equal(cycle.method, 'POST');
          assert.equal(cycle.url, '/node/n1/power_cycle?token=0123456789abcdef0123456789abcdef');
          assert.deepEqual(JSON.parse(cycle.body), { force: true });
          assert.equal(cycle.headers.authorization, undefined, 'HIL credentials must not follow the redirect');
        } finally {
          await obmd.close();
        }
      }));

    it('streams the console and waits for networking actions', () =>
      withHil(database, {}, async (t) => {
        const endpoint = await t.hil.app!.listen({ port: 0, host: '127.0.0.1' });
        const c = new HilClient({ endpoint });
        await c.project.create('p');
        await c.switch.register('sw0', 'mock', { hostname: 'h', username: 'u', password: 'p' });
        await c.port.register('sw0', 'gi1/0/1');
        await c.node.register('n1', { obm: { type: 'mock' } });
        await c.node.addNic('n1', 'eth0', 'aa');
        await c.port.connectNic('sw0', 'gi1/0/1', 'n1', 'eth0');
        await c.project.connectNode('p', 'n1');
        await c.network.create('net', 'p', 'p', '');

        const { status_id } = await c.node.connectNetwork('n1', 'eth0', 'net');
        const done = await c.waitForAction(status_id);
        assert.equal(done.status, 'DONE');
        assert.deepEqual((await c.node.show('n1')).nics[0].networks, { 'vlan/native': 'net' });

        await c.node.enableObm('n1');
        const stop = new AbortController();
        let text = '';
        try {
          for await (const chunk of await c.node.console('n1', stop.signal)) {
            text += Buffer.from(chunk).toString();
            if (text.split('\n').length > 3) stop.abort();
          }
        } catch (err) {
          if (!stop.signal.aborted) throw err;
        }
        assert.match(text, /^(\d+)\n(\d+)\n/); // live console lines from the mock BMC
        const [first, second] = text.split('\n').map(Number);
        assert.equal(second, first + 1);

        await t.hil.worker!.stop(); // nothing applies actions now
        const pending = await c.node.detachNetwork('n1', 'eth0', 'net');
        const err = await c.waitForAction(pending.status_id, { timeoutMs: 200 }).catch((e: unknown) => e);
        assert.ok(err instanceof HilApiError && err.type === 'TimeoutError');
      }));
  });
}
