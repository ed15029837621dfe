/**
 * Disks served to nodes for real, on each storage backend (local qcow2 and a
 * real Ceph) and both databases: two API+worker processes on one database,
 * two "nodes" in network namespaces that reach the export address over
 * their own links, and qemu-io in each namespace as the node's NBD client
 * (TLS-PSK with the node's key) or iSCSI initiator (CHAP). Each disk sees only its own writes, a
 * node's key opens only its own disk, the export is bound to its address
 * only, a snapshot clones into a third disk, killing the process serving an
 * export moves it to the other process, and a restart brings every export
 * back.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { testDatabases } from '../support/databases.ts';
import { serveHil, until, type Child } from '../support/processes.ts';
import { openStore, type Store } from '../../src/store/db.ts';
import { NetnsLab, netnsSkipReason } from '../support/netns.ts';
import { diskSkipReason, freePorts } from '../support/disks.ts';
import { makeGolden } from '../support/storage-contract.ts';
import { ioIscsi, ioNbd } from '../support/qemu-io.ts';
import { skipUnless } from '../support/require.ts';

interface Backend {
  name: 'local' | 'rbd';
  skip?: string;
  toml(dir: string): string;
}

const BACKENDS: Backend[] = [
  { name: 'local', toml: (dir) => `backend = "local"\ndisks_dir = "${join(dir, 'disks')}"\n` },
  {
    name: 'rbd',
    skip: process.env.HIL_TEST_CEPH_CONF ? undefined : (process.env.HIL_TEST_CEPH_SKIP ?? 'no Ceph cluster (run through npm test)'),
    toml: () => `backend = "rbd"\n[images.rbd]\npool = "${process.env.HIL_TEST_CEPH_POOL}"\nconf = "${process.env.HIL_TEST_CEPH_CONF}"\nid = "${process.env.HIL_TEST_CEPH_ID}"\n`,
  },
];

const skip = skipUnless(diskSkipReason() ?? netnsSkipReason());

interface Server {
  child: Child;
  base: string;
}

const serve = (url: string, dir: string, config: string, o: { migrate: boolean }): Promise<Server> => serveHil(url, dir, config, { ...o, timeoutMs: 60_000 });

async function call(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const raw = Buffer.isBuffer(body);
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': raw ? 'application/octet-stream' : 'application/json' },
    body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function serving(base: string, disk: string, timeoutMs = 60_000) {
  return until(
    `export of ${disk} serving`,
    async () => {
      const d = await call(base, 'GET', `/v0/disk/${disk}`);
      return d.export?.state === 'serving' ? d.export : undefined;
    },
    timeoutMs,
  );
}

/** The pid of the process holding the disk's claim now. */
async function holderPid(store: Store, disk: string): Promise<number | undefined> {
  const d = await store.db.selectFrom('disk').select('id').where('label', '=', disk).executeTakeFirstOrThrow();
  const row = await store.db
    .selectFrom('claim')
    .innerJoin('hil_process', 'hil_process.id', 'claim.holder')
    .select('hil_process.pid')
    .where('claim.resource', '=', `disk:${d.id}`)
    .where('claim.expires_at', '>', Date.now())
    .executeTakeFirst();
  return row ? Number(row.pid) : undefined;
}

for (const backend of BACKENDS) {
  for (const database of testDatabases()) {
    describe(`disk exports on ${backend.name} storage and ${database.name}`, { skip: database.skip ?? skip ?? skipUnless(backend.skip) }, () => {
      it('nodes in namespaces read and write only their own disks; snapshots clone; exports survive a killed process and a restart', { timeout: 240_000 }, async () => {
        const db = await database.create();
        const dir = mkdtempSync(join(tmpdir(), 'hil-disk-e2e-'));
        const store = openStore(db.url);
        const lab = new NetnsLab();
        const servers: Server[] = [];
        try {
          // Two node links to the storage host; the export address is on the first, the second node routes to it.
          const net = `10.${randomInt(100, 250)}`;
          const n1 = lab.addNode('n1', `${net}.1.2`);
          const n2 = lab.addNode('n2', `${net}.2.2`);
          execFileSync('ip', ['addr', 'add', `${net}.1.1/24`, 'dev', n1.hostIf]);
          execFileSync('ip', ['addr', 'add', `${net}.2.1/24`, 'dev', n2.hostIf]);
          execFileSync('ip', ['netns', 'exec', n1.ns, 'ip', 'route', 'add', 'default', 'via', `${net}.1.1`]);
          execFileSync('ip', ['netns', 'exec', n2.ns, 'ip', 'route', 'add', 'default', 'via', `${net}.2.1`]);
          const address = `${net}.1.1`;
          const ports = await freePorts(10);
          const config = [
            '[claims]\nttl_seconds = 2\nheartbeat_ms = 250\n',
            `[exports]\naddress = "${address}"\nports = "${ports}"\nrun_dir = "${join(dir, 'run')}"\n`,
            `[images]\ndir = "${join(dir, 'blobs')}"\n${backend.toml(dir)}`,
          ].join('');
          const a = await serve(db.url, dir, config, { migrate: true });
          servers.push(a);
          servers.push(await serve(db.url, dir, config, { migrate: false }));
          const api = a.base;

          await call(api, 'PUT', '/v0/project/p');
          for (const n of ['n1', 'n2']) {
            await call(api, 'PUT', `/v0/node/${n}`, { obm: { type: 'mock' } });
            await call(api, 'POST', '/v0/project/p/connect_node', { node: n });
          }
          await call(api, 'PUT', '/v0/image/golden', { project: 'p', format: 'qcow2' });
          await call(api, 'PUT', '/v0/image/golden/disk', readFileSync(makeGolden(dir)));
          await call(api, 'PUT', '/v0/disk/d1', { image: 'golden', project: 'p' });
          await call(api, 'PUT', '/v0/disk/d2', { image: 'golden', project: 'p' });
          const k1 = await call(api, 'POST', '/v0/disk/d1/attach', { node: 'n1' });
          const k2 = await call(api, 'POST', '/v0/disk/d2/attach', { node: 'n2' });
          const target = (e: any, k: any) => ({ host: e.host, port: e.port, export: e.name, identity: k.identity, key: k.key });
          const e1 = await serving(api, 'd1');
          const e2 = await serving(api, 'd2');
          assert.equal(e1.host, address);

          const io = (ns: string, t: ReturnType<typeof target>, cmds: string[]) => ioNbd(t, cmds, { netns: ns });
          let r = io(n1.ns, target(e1, k1), ['read -P 0x41 0 1M', 'write -P 0x11 0 1M', 'read -P 0x11 0 1M']);
          assert.ok(r.ok, r.output);
          r = io(n2.ns, target(e2, k2), ['read -P 0x41 0 1M', 'write -P 0x22 0 1M', 'read -P 0x22 0 1M']);
          assert.ok(r.ok, r.output);
          r = io(n1.ns, target(e1, k1), ['read -P 0x11 0 1M', 'read -P 0x42 1M 1M']);
          assert.ok(r.ok, `disk 1 kept its own write: ${r.output}`);
          // The golden image, through a fresh clone: unchanged.
          await call(api, 'PUT', '/v0/disk/probe', { image: 'golden', project: 'p' });
          const kp = await call(api, 'POST', '/v0/disk/probe/attach', { node: 'n1' });
          r = io(n1.ns, target(await serving(api, 'probe'), kp), ['read -P 0x41 0 1M']);
          assert.ok(r.ok, `the golden image is unchanged: ${r.output}`);
          await call(api, 'POST', '/v0/disk/probe/detach');

          // The golden image cannot go while disks sit on it.
          const refused = await fetch(`${api}/v0/image/golden`, { method: 'DELETE' });
          assert.equal(refused.status, 409);
          assert.match(await refused.text(), /disks d1, d2.*depend on it/);

          // Node 2's credentials do not open node 1's disk, and the export is bound to its address only.
          r = io(n2.ns, { ...target(e1, k1), identity: k2.identity, key: k2.key }, ['read 0 1M']);
          assert.ok(!r.ok && /TLS|handshake/i.test(r.output), `node 2 opened node 1's disk: ${r.output}`);
          r = ioNbd({ ...target(e1, k1), host: '127.0.0.1' }, ['read 0 1M']);
          assert.ok(!r.ok && /refused|connect/i.test(r.output), `the export answers on loopback: ${r.output}`);

          // A snapshot of disk 1 clones into disk 3, which node 2 reads over iSCSI (its initiator name, CHAP).
          await call(api, 'POST', '/v0/disk/d1/snapshot', { image: 'd1-saved' });
          await until('snapshot ready', async () => ((await call(api, 'GET', '/v0/image/d1-saved')).state === 'ready' ? true : undefined), 60_000);
          await call(api, 'PUT', '/v0/disk/d3', { image: 'd1-saved', project: 'p' });
          const initiator = 'iqn.2026-12.example:n2';
          const k3 = await call(api, 'POST', '/v0/disk/d3/attach', { node: 'n2', protocol: 'iscsi', initiator });
          const e3 = await serving(api, 'd3');
          const iscsi = { portal: `${e3.host}:${e3.port}`, iqn: e3.name, initiator, chap: { user: k3.identity, secret: k3.key } };
          r = ioIscsi(iscsi, ['read -P 0x11 0 1M', 'read -P 0x42 1M 1M'], { netns: n2.ns });
          assert.ok(r.ok, `disk 3 has disk 1's data: ${r.output}`);
          r = ioIscsi({ ...iscsi, initiator: 'iqn.2026-12.example:n1', chap: { user: k1.identity, secret: k1.key } }, ['read 0 1M'], { netns: n1.ns });
          assert.ok(!r.ok, `node 1 opened node 2's iSCSI disk: ${r.output}`);
          r = io(n1.ns, target(e1, k1), ['write -P 0x55 0 1M']);
          assert.ok(r.ok, `disk 1 is still writable after its snapshot: ${r.output}`);

          // Kill the process serving disk 1: the other takes the export over.
          const pid = await until('a holder of d1', () => holderPid(store, 'd1'));
          const victim = servers.find((s) => s.child.proc.pid !== undefined && isParentOf(s.child.proc.pid, pid))!;
          assert.ok(victim, `the holder ${pid} is one of the two servers`);
          const survivor = servers.find((s) => s !== victim)!;
          const killed = performance.now();
          await victim.child.kill('SIGKILL');
          servers.splice(servers.indexOf(victim), 1);
          await until('d1 served again', async () => (io(n1.ns, target(e1, k1), ['read -P 0x55 0 1M']).ok ? true : undefined), 60_000);
          const takeoverMs = Math.round(performance.now() - killed);
          console.log(`# ${backend.name}/${database.name}: export of d1 served again ${takeoverMs} ms after its process was SIGKILLed`);
          assert.notEqual(await holderPid(store, 'd1'), pid);
          r = io(n1.ns, target(e1, k1), ['write -P 0x66 0 1M', 'read -P 0x66 0 1M']);
          assert.ok(r.ok, r.output);

          // Stop everything, start one server again: every export comes back with its data.
          await survivor.child.kill('SIGTERM');
          servers.length = 0;
          servers.push(await serve(db.url, dir, config, { migrate: false }));
          const again = servers[0]!.base;
          for (const d of ['d1', 'd2', 'd3']) await serving(again, d);
          r = ioIscsi(iscsi, ['read -P 0x11 0 1M'], { netns: n2.ns });
          assert.ok(r.ok, `the iSCSI export came back too: ${r.output}`);
          r = io(n1.ns, target(e1, k1), ['read -P 0x66 0 1M']);
          assert.ok(r.ok, r.output);
          r = io(n2.ns, target(e2, k2), ['read -P 0x22 0 1M']);
          assert.ok(r.ok, r.output);
        } finally {
          for (const s of servers) await s.child.kill('SIGTERM');
          lab.cleanup();
          await store.close();
          await db.drop();
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  }
}

/** Whether `pid` is `parent` or a descendant of it (the hil-admin launcher may exec or fork node). */
function isParentOf(parent: number, pid: number): boolean {
  for (let p = pid; p > 1; ) {
    if (p === parent) return true;
    try {
      p = Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    } catch {
      return false;
    }
  }
  return false;
}
