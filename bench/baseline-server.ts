/**
 * The bare baseline of the API benchmark: the least a Node.js server on this
 * machine has to do to answer the two read calls — Fastify routing, hil's own
 * SQL (one statement for the free list, two for the node view) on the same
 * SQLite file through node:sqlite, JSON out. No auth, no validation, no
 * response schema, no logging, statements prepared once. Whatever hil spends
 * beyond this is its own overhead; this is the practical limit of the machine.
 *
 *   BASELINE_DB=/path/hil.db BASELINE_LISTEN=127.0.0.1:5001 node bench/baseline-server.ts
 *
 * The answers have exactly the JSON shape of hil's (for an admin, as with
 * null auth): api.bench.ts checks that before it measures anything.
 */
import { DatabaseSync } from 'node:sqlite';
import Fastify from 'fastify';

const dbPath = process.env.BASELINE_DB;
const listen = process.env.BASELINE_LISTEN ?? '127.0.0.1:5001';
if (!dbPath) {
  console.error('baseline-server: set BASELINE_DB to the SQLite file');
  process.exit(2);
}

const db = new DatabaseSync(dbPath, { readOnly: true, timeout: 5000 });

// The fewest statements the answers need, and hil's own: the SQL text that
// Kysely compiles src/core/node.service.ts's queries to ("nodes.free",
// "node.show", "node.metadata"), byte for byte. The node view is one join for
// the node, its nics, their ports and switches and their networks (one row
// per nic and network), then the node's metadata.
const freeNodes = db.prepare('select "label" from "node" where "project_id" is null order by "label"');
const nodeView = db.prepare(
  'select "node"."id" as "node_id", "node"."project_id", "project"."label" as "project", "nic"."id" as "nic_id", "nic"."label" as "nic", ' +
    '"nic"."macaddr", "port"."label" as "port", "switch"."label" as "switch", "network_attachment"."channel", "network"."label" as "network" ' +
    'from "node" left join "project" on "project"."id" = "node"."project_id" left join "nic" on "nic"."node_id" = "node"."id" ' +
    'left join "port" on "port"."id" = "nic"."port_id" left join "switch" on "switch"."id" = "port"."switch_id" ' +
    'left join "network_attachment" on "network_attachment"."nic_id" = "nic"."id" ' +
    'left join "network" on "network"."id" = "network_attachment"."network_id" ' +
    'where "node"."label" = ? order by "nic"."id", "network_attachment"."id"',
);
const metadataOfNode = db.prepare('select "label", "value" from "node_metadata" where "node_id" = ? order by "label"');

interface ViewRow {
  node_id: number;
  project: string | null;
  nic_id: number | null;
  nic: string | null;
  macaddr: string | null;
  port: string | null;
  switch: string | null;
  channel: string | null;
  network: string | null;
}

interface Nic {
  label: string;
  macaddr: string | null;
  networks: Record<string, string>;
  port: string | null;
  switch: string | null;
}

const app = Fastify({ logger: false });

app.get('/v0/nodes/free', async () => (freeNodes.all() as Array<{ label: string }>).map((r) => r.label));

app.get<{ Params: { node: string } }>('/v0/node/:node', async (req, reply) => {
  const label = req.params.node;
  const rows = nodeView.all(label) as unknown as ViewRow[];
  if (rows.length === 0) return reply.code(404).send({ type: 'NotFoundError', msg: `Node "${label}" does not exist.` });
  const metadata = metadataOfNode.all(rows[0].node_id) as Array<{ label: string; value: string }>;
  // One row per nic and network, ordered by nic: a new nic_id starts a nic.
  const nics: Nic[] = [];
  let current: Nic | undefined;
  let currentId: number | null = null;
  for (const r of rows) {
    if (r.nic_id === null) continue; // a node without nics: one row, all nulls
    if (r.nic_id !== currentId) {
      currentId = r.nic_id;
      nics.push((current = { label: r.nic!, macaddr: r.macaddr, networks: {}, port: r.port, switch: r.switch }));
    }
    if (r.channel !== null) current!.networks[r.channel] = r.network!;
  }
  // Keys in sorted order, as hil (and upstream) write them.
  return { metadata: Object.fromEntries(metadata.map((m) => [m.label, m.value])), name: label, nics, project: rows[0].project };
});

const i = listen.lastIndexOf(':');
await app.listen({ host: listen.slice(0, i), port: Number(listen.slice(i + 1)) });

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app.close().finally(() => {
      db.close();
      process.exit(0);
    });
  });
}
