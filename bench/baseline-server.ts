/**
 * The bare baseline of the API benchmark: the least a Node.js server on this
 * machine has to do to answer the two read calls — Fastify routing, the same
 * SQL on the same SQLite file through node:sqlite, JSON out. No auth, no
 * validation, no response schema, no logging, statements prepared once.
 * Whatever hil spends beyond this is its own overhead; this is the practical
 * limit of the machine.
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

const freeNodes = db.prepare('select label from node where project_id is null order by label');
const nodeByLabel = db.prepare(
  'select node.id, node.project_id, project.label as project from node left join project on project.id = node.project_id where node.label = ?',
);
const nicsOfNode = db.prepare(
  'select nic.id, nic.label, nic.macaddr, port.label as port, switch.label as switch from nic ' +
    'left join port on port.id = nic.port_id left join switch on switch.id = port.switch_id where nic.node_id = ? order by nic.id',
);
const attachmentsOfNode = db.prepare(
  'select network_attachment.nic_id, network_attachment.channel, network.label from network_attachment ' +
    'inner join nic on nic.id = network_attachment.nic_id inner join network on network.id = network_attachment.network_id where nic.node_id = ?',
);
const metadataOfNode = db.prepare('select label, value from node_metadata where node_id = ? order by label');

interface NicRow {
  id: number;
  label: string;
  macaddr: string | null;
  port: string | null;
  switch: string | null;
}

const app = Fastify({ logger: false });

app.get('/v0/nodes/free', async () => (freeNodes.all() as Array<{ label: string }>).map((r) => r.label));

app.get<{ Params: { node: string } }>('/v0/node/:node', async (req, reply) => {
  const label = req.params.node;
  const node = nodeByLabel.get(label) as { id: number; project_id: number | null; project: string | null } | undefined;
  if (!node) return reply.code(404).send({ type: 'NotFoundError', msg: `Node "${label}" does not exist.` });
  const nics = nicsOfNode.all(node.id) as unknown as NicRow[];
  const attachments = attachmentsOfNode.all(node.id) as Array<{ nic_id: number; channel: string; label: string }>;
  const metadata = metadataOfNode.all(node.id) as Array<{ label: string; value: string }>;
  // Keys in sorted order, as hil (and upstream) write them.
  return {
    metadata: Object.fromEntries(metadata.map((m) => [m.label, m.value])),
    name: label,
    nics: nics.map((n) => {
      const networks: Record<string, string> = {};
      for (const a of attachments) if (a.nic_id === n.id) networks[a.channel] = a.label;
      return { label: n.label, macaddr: n.macaddr, networks, port: n.port, switch: n.switch };
    }),
    project: node.project,
  };
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
