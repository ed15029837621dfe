import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { testDatabases } from '../support/databases.ts';
import { withHil, type TestHil, type TestHilOptions } from '../support/hil.ts';
import { assertError, mkNodeWithNic, mkProjects } from '../support/fixtures.ts';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A stand-in maintenance service on 127.0.0.1 that records what it is sent. */
async function maintenanceService(status = 200): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/wipe`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A URL nobody listens on: a port that was just freed. */
async function closedUrl(): Promise<string> {
  const s = await maintenanceService();
  await s.close();
  return s.url;
}

const maintenance = (url: string): TestHilOptions => ({
  config: (c) => {
    c.maintenance.project = 'maintenance';
    c.maintenance.url = url;
  },
});

async function projectOf(t: TestHil, node: string): Promise<string | null> {
  const row = await t.hil.store.db
    .selectFrom('node')
    .leftJoin('project', 'project.id', 'node.project_id')
    .select('project.label as project')
    .where('node.label', '=', node)
    .executeTakeFirstOrThrow();
  return row.project;
}

for (const database of testDatabases()) {
  describe(`maintenance pool on ${database.name}`, { skip: database.skip }, () => {
    it('moves a detached node into the maintenance project and POSTs {"node": label} as JSON', async () => {
      const svc = await maintenanceService();
      try {
        await withHil(database, maintenance(svc.url), async (t) => {
          const api = t.as();
          await mkProjects(api, 'runway', 'maintenance');
          await mkNodeWithNic(api, { node: 'n1', project: 'runway' });
          await mkNodeWithNic(api, { node: 'n2', project: 'runway' });
          assert.equal(svc.received.length, 0);
          const r = await api('POST', '/v0/project/runway/detach_node', { node: 'n1' });
          assert.equal(r.status, 200, r.text);
          assert.equal(r.text, '');
          assert.equal(await projectOf(t, 'n1'), 'maintenance');
          assert.equal(await projectOf(t, 'n2'), 'runway');
          assert.equal((await api('GET', '/v0/node/n1')).body.project, 'maintenance');
          assert.deepEqual((await api('GET', '/v0/project/runway/nodes')).body, ['n2']);
          assert.deepEqual((await api('GET', '/v0/project/maintenance/nodes')).body, ['n1']);
          assert.deepEqual((await api('GET', '/v0/nodes/free')).body, []);

          assert.equal(svc.received.length, 1);
          const [call] = svc.received;
          assert.equal(call.method, 'POST');
          assert.equal(call.url, '/wipe');
          assert.match(String(call.headers['content-type']), /^application\/json\b/);
          assert.deepEqual(JSON.parse(call.body), { node: 'n1' });
        });
      } finally {
        await svc.close();
      }
    });

    it('frees a node detached from the maintenance project itself, without a notification', async () => {
      const svc = await maintenanceService();
      try {
        await withHil(database, maintenance(svc.url), async (t) => {
          const api = t.as();
          await mkProjects(api, 'runway', 'maintenance');
          await mkNodeWithNic(api, { node: 'n1', project: 'runway' });
          assert.equal((await api('POST', '/v0/project/runway/detach_node', { node: 'n1' })).status, 200);
          assert.equal(svc.received.length, 1);
          const r = await api('POST', '/v0/project/maintenance/detach_node', { node: 'n1' });
          assert.equal(r.status, 200, r.text);
          assert.equal(await projectOf(t, 'n1'), null);
          assert.deepEqual((await api('GET', '/v0/nodes/free')).body, ['n1']);
          assert.deepEqual((await api('GET', '/v0/project/maintenance/nodes')).body, []);
          assert.equal(svc.received.length, 1, 'no POST for a node leaving the maintenance project');
          // a node detached from the maintenance project can be taken again
          assert.equal((await api('POST', '/v0/project/runway/connect_node', { node: 'n1' })).status, 200);
          assert.equal(await projectOf(t, 'n1'), 'runway');
        });
      } finally {
        await svc.close();
      }
    });

    it('commits the detach even when the maintenance service is unreachable, logging a warning', async () => {
      const url = await closedUrl();
      await withHil(database, maintenance(url), async (t) => {
        const api = t.as();
        await mkProjects(api, 'runway', 'maintenance');
        await mkNodeWithNic(api, { node: 'n1', project: 'runway' });
        const r = await api('POST', '/v0/project/runway/detach_node', { node: 'n1' });
        assert.equal(r.status, 200, r.text);
        assert.equal(await projectOf(t, 'n1'), 'maintenance');
        assert.deepEqual((await api('GET', '/v0/project/maintenance/nodes')).body, ['n1']);
        assert.ok(
          t.logs.some((l) => l.level === 40 && JSON.stringify(l).includes('n1')),
          `a WARN log line about n1 is expected; got ${JSON.stringify(t.logs.filter((l) => Number(l.level) >= 40))}`,
        );
      });
    });

    it('commits the detach when the maintenance service answers with an error status', async () => {
      const svc = await maintenanceService(500);
      try {
        await withHil(database, maintenance(svc.url), async (t) => {
          const api = t.as();
          await mkProjects(api, 'runway', 'maintenance');
          await mkNodeWithNic(api, { node: 'n1', project: 'runway' });
          assert.equal((await api('POST', '/v0/project/runway/detach_node', { node: 'n1' })).status, 200);
          assert.equal(await projectOf(t, 'n1'), 'maintenance');
          assert.equal(svc.received.length, 1);
        });
      } finally {
        await svc.close();
      }
    });

    it('answers 404 when the maintenance project does not exist, leaving the node in its project', async () => {
      const svc = await maintenanceService();
      try {
        await withHil(database, maintenance(svc.url), async (t) => {
          const api = t.as();
          await mkProjects(api, 'runway');
          await mkNodeWithNic(api, { node: 'n1', project: 'runway' });
          const r = await api('POST', '/v0/project/runway/detach_node', { node: 'n1' });
          assert.match(assertError(r, 404, 'NotFoundError'), /maintenance/i);
          assert.equal(await projectOf(t, 'n1'), 'runway');
          assert.deepEqual((await api('GET', '/v0/project/runway/nodes')).body, ['n1']);
          assert.equal(svc.received.length, 0);
          // once the project exists, the same detach goes through
          await mkProjects(api, 'maintenance');
          assert.equal((await api('POST', '/v0/project/runway/detach_node', { node: 'n1' })).status, 200);
          assert.equal(await projectOf(t, 'n1'), 'maintenance');
        });
      } finally {
        await svc.close();
      }
    });
  });
}
