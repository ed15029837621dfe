/**
 * Two API servers on one database, as operators run them: exactly one holds
 * a node's console (its claim), a reader connected to the other gets the
 * live stream and the log relayed from the holder, and when the holder is
 * SIGKILLed the other takes the console over and the reader's stream goes on
 * without the reader doing anything.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../support/databases.ts';
import { serveHil, until, type Child } from '../support/processes.ts';
import { openStore, type Store } from '../../src/store/db.ts';

const CONFIG = '[server]\nworker = false\n[claims]\nttl_seconds = 2\nheartbeat_ms = 200\n';

const serve = (url: string, dir: string, o: { migrate: boolean }) => serveHil(url, dir, CONFIG, o);

async function call(base: string, method: string, path: string, body?: unknown): Promise<void> {
  const res = await fetch(base + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.text()}`);
}

/** Which process (by its advertised address) holds the node's console now. */
async function consoleHolder(store: Store): Promise<string | null> {
  const row = await store.db
    .selectFrom('claim')
    .innerJoin('hil_process', 'hil_process.id', 'claim.holder')
    .select('hil_process.address')
    .where('claim.resource', 'like', 'console:%')
    .where('claim.expires_at', '>', Date.now())
    .executeTakeFirst();
  return row?.address ?? null;
}

/** Reads a streaming body in the background; `received()` is everything so far. */
function reader(body: ReadableStream<Uint8Array>) {
  let got = '';
  let ended = false;
  void (async () => {
    try {
      for await (const chunk of body) got += Buffer.from(chunk).toString();
    } catch {
      // cut off: `ended` says so
    }
    ended = true;
  })();
  return { received: () => got, ended: () => ended };
}

for (const database of testDatabases()) {
  describe(`console held by one of two API servers on ${database.name}`, { skip: database.skip }, () => {
    it('a reader on the other server follows it, and keeps reading when the holder is SIGKILLed', async () => {
      const db = await database.create();
      const dir = mkdtempSync(join(tmpdir(), 'hil-console-'));
      const store = openStore(db.url);
      const children: Child[] = [];
      const gone = new AbortController();
      try {
        const a = await serve(db.url, dir, { migrate: true });
        children.push(a.child);
        await call(a.base, 'PUT', '/v0/project/p');
        await call(a.base, 'PUT', '/v0/node/n1', { obm: { type: 'mock' } });
        await call(a.base, 'POST', '/v0/project/p/connect_node', { node: 'n1' });
        await call(a.base, 'PUT', '/v0/node/n1/obm', { enabled: true });
        assert.equal(await consoleHolder(store), a.base, 'the server that enabled the OBM holds the console');

        const b = await serve(db.url, dir, { migrate: false });
        children.push(b.child);
        const res = await fetch(`${b.base}/v0/node/n1/console`, { signal: gone.signal });
        assert.equal(res.status, 200);
        const stream = reader(res.body!);
        await until('bytes relayed from the holder', async () => stream.received().length > 20);
        assert.equal(await consoleHolder(store), a.base, 'reading through the other server did not move the console');
        const log = await fetch(`${b.base}/v0/node/n1/console_log`);
        assert.ok((await log.arrayBuffer()).byteLength > 0, "the holder's rolling log, through the other server");

        await a.child.kill('SIGKILL');
        const killedAt = Date.now();
        const before = stream.received().length;
        await until('the other server holds the console', async () => (await consoleHolder(store)) === b.base, 10000);
        await until('the same stream carries on', async () => stream.received().length > before + 20, 10000);
        const takeoverMs = Date.now() - killedAt;
        assert.equal(stream.ended(), false, 'the reader never had to reconnect');
        // The liveness check frees a dead holder's claims within a heartbeat or two, well inside the TTL.
        assert.ok(takeoverMs < 3000, `console taken over ${takeoverMs} ms after the kill`);
        console.log(`console takeover on ${database.name}: ${takeoverMs} ms after SIGKILL`);
      } finally {
        gone.abort();
        for (const c of children) await c.kill('SIGKILL');
        await store.close();
        await db.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
