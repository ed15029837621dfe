/** The interactive console over a WebSocket: output in, typed input out, refusals before the upgrade. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../support/databases.ts';
import { addUser, withHil, type Credentials } from '../support/hil.ts';

function open(url: string, creds: Credentials): Promise<{ ws: WebSocket; text: () => string } | { refused: true }> {
  const authorization = 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
  // undici's WebSocket (Node's global) takes request headers in its init object.
  const ws = new WebSocket(url, { headers: { authorization } } as unknown as string[]);
  ws.binaryType = 'arraybuffer';
  let received = '';
  ws.addEventListener('message', (e) => (received += Buffer.from(e.data as ArrayBuffer).toString()));
  return new Promise((resolve) => {
    ws.addEventListener('open', () => resolve({ ws, text: () => received }));
    ws.addEventListener('error', () => resolve({ refused: true }));
  });
}

async function until(what: string, probe: () => boolean, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const database of testDatabases()) {
  describe(`console WebSocket on ${database.name}`, { skip: database.skip }, () => {
    it('streams the console, carries typed input to the node, and refuses outsiders', () =>
      withHil(database, { auth: 'database' }, async (t) => {
        const root = t.as(await addUser(t, 'root', 'root-pw', true));
        await root('PUT', '/v0/project/alpha');
        await root('PUT', '/v0/project/beta');
        const alice = await addUser(t, 'alice', 'alice-pw', false, ['alpha']);
        const bob = await addUser(t, 'bob', 'bob-pw', false, ['beta']);
        await root('PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        await root('POST', '/v0/project/alpha/connect_node', { node: 'n1' });
        const base = (await t.hil.app!.listen({ port: 0, host: '127.0.0.1' })).replace('http', 'ws');
        const url = `${base}/v0/node/n1/console/ws`;

        assert.deepEqual(await open(url, alice), { refused: true }, 'OBM not enabled');
        await t.as(alice)('PUT', '/v0/node/n1/obm', { enabled: true });
        assert.deepEqual(await open(url, bob), { refused: true }, 'another project');
        assert.deepEqual(await open(url, { username: 'alice', password: 'wrong' }), { refused: true }, 'bad password');

        // A plain GET (no upgrade) is told what the URL takes, in {type, msg}.
        const plain = await t.as(alice)('GET', '/v0/node/n1/console/ws');
        assert.equal(plain.status, 400, plain.text);
        assert.equal(plain.body.type, 'ValidationError');
        assert.match(plain.body.msg, /WebSocket/);

        const session = await open(url, alice);
        assert.ok('ws' in session);
        await until('console output', () => /\d+\n\d+\n/.test(session.text()));
        session.ws.send('echo hello\n');
        await until('the typed line echoed back', () => session.text().includes('> echo hello\n'));

        // Disabling the OBM closes the socket.
        const closed = new Promise((r) => session.ws.addEventListener('close', r));
        await t.as(alice)('PUT', '/v0/node/n1/obm', { enabled: false });
        await closed;
      }));
  });
}
