/**
 * Authorization of the fast-provisioning routes (not in upstream), every
 * route × every role: a node's provisioning belongs to its project (a free
 * node's to the admins), exactly like its power. Refused calls change nothing.
 */
import { describe } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testDatabases } from '../support/databases.ts';
import { NO_PROJECT, matrix, type Case, type Fixture } from '../support/authz.ts';

/** Whether the service holds `node` (a refused call must not make it). */
const held = (node: string) => (fx: Fixture) =>
  fx.t.hil.store.db.selectFrom('node_provisioning').innerJoin('node', 'node.id', 'node_provisioning.node_id').select('node_provisioning.node_id').where('node.label', '=', node).execute();

const cases: Case[] = [
  // Reclaiming enrolls a node: its project's members and the admins may.
  { method: 'POST', path: '/v0/node/runway_node2/reclaim', expect: { admin: 200, alice: 200, bob: 401 }, msg: NO_PROJECT, state: held('runway_node2') },
  { method: 'POST', path: '/v0/node/free_node3/reclaim', expect: { admin: 200, alice: 401, bob: 401 }, msg: NO_PROJECT, state: held('free_node3') },
  // Deploying needs a ready node: refused for outsiders before anything else; a 409 for the others here.
  { method: 'POST', path: '/v0/node/runway_obm/deploy', body: { image: 'none' }, expect: { admin: 409, alice: 409, bob: 401 }, msg: NO_PROJECT, state: held('runway_obm') },
  // A free node is in no project: the same answer for everyone, as connect_network's.
  { method: 'POST', path: '/v0/node/free_node2/deploy', body: { image: 'none' }, expect: { admin: 409, alice: 409, bob: 409 }, state: held('free_node2') },
  // Any ready node for a project: its members and the admins may ask (none is ready here).
  { method: 'POST', path: '/v0/project/runway/connect_node', body: { ready: true }, expect: { admin: 409, alice: 409, bob: 401 }, msg: NO_PROJECT },
  // Status: a node the service does not hold is a 404, once the caller may see the node at all.
  { method: 'GET', path: '/v0/node/runway_node/provisioning', expect: { admin: 404, alice: 404, bob: 401 }, msg: NO_PROJECT },
  { method: 'GET', path: '/v0/node/free_node/provisioning', expect: { admin: 404, alice: 401, bob: 401 }, msg: NO_PROJECT },
];

for (const database of testDatabases()) {
  describe(`authorization of fast provisioning (${database.name})`, { skip: database.skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'hil-authz-prov-'));
    matrix(database, cases, {
      hil: {
        config: (c) => {
          c.provisioning.enabled = true;
          c.provisioning.listen = `unix:${join(dir, `${Math.random().toString(16).slice(2)}.sock`)}`;
          c.provisioning.url = 'http://10.128.0.1';
          c.provisioning.network = 'prov_runway';
          c.provisioning.fpbl_dir = dir;
        },
      },
    });
  });
}
