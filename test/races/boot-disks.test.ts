/**
 * Races on nodes' boot disks: the first boot disks of a project made at once
 * make one boot network, and the nodes get different addresses; first boot
 * disks of many projects at once get different /24s; one disk for two nodes
 * at once goes to one of them. Each on both databases, several rounds.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { rmSync } from 'node:fs';
import { bootConfig, diskConfig, diskDirs, freePorts } from '../support/disks.ts';
import { must } from '../support/hil.ts';
import { BLOCKED, post, raceSuite, times, type RaceServer, type Scenario } from './harness.ts';
import { cabledNodes, type Fresh } from './worlds.ts';

const dirs = diskDirs();
const ports = await freePorts(400);
after(() => rmSync(dirs.root, { recursive: true, force: true }));

/** A public raw image of 64 KiB and `count` disks of it in `project`. */
async function disks(s: RaceServer, fresh: Fresh, project: string, count: number): Promise<string[]> {
  const image = fresh('img');
  await must(s.api('PUT', `/v0/image/${image}`, { project: 'admin', format: 'raw', public: true }), `image ${image}`);
  await must(s.api('PUT', `/v0/image/${image}/disk`, undefined, { rawBody: 'B'.repeat(64 * 1024), headers: { 'content-type': 'application/octet-stream' } }), `upload ${image}`);
  const out = times(count, (i) => fresh(`d${i + 1}`));
  for (const d of out) await must(s.api('PUT', `/v0/disk/${d}`, { image, project }), `disk ${d}`);
  return out;
}

async function projectBoots(s: RaceServer, project: string) {
  const p = await s.db.selectFrom('project').select('id').where('label', '=', project).executeTakeFirstOrThrow();
  const nets = await s.db.selectFrom('boot_network').select(['id', 'subnet', 'network_id']).where('project_id', '=', p.id).execute();
  const hosts = await s.db.selectFrom('node_boot').innerJoin('node', 'node.id', 'node_boot.node_id').select(['node_boot.host', 'node_boot.boot_network_id']).where('node.project_id', '=', p.id).execute();
  return { nets, hosts };
}

const scenarios: Scenario<any>[] = [
  {
    name: "two nodes of a project without a boot network set boot disks at once: both win, one boot network, two addresses",
    setup: async (s, fresh) => {
      const nodes = await cabledNodes(s, fresh, 2);
      return { nodes, disks: await disks(s, fresh, nodes[0].project, 2) };
    },
    contenders: (w) => ({ set: { requests: w.nodes.map((n: any, i: number) => post(`/v0/node/${n.node}/boot_disk`, { disk: w.disks[i] })), wins: 2, losers: [] } }),
    check: async (s, w) => {
      const { nets, hosts } = await projectBoots(s, w.nodes[0].project);
      assert.equal(nets.length, 1, 'one boot network');
      assert.equal(hosts.length, 2);
      assert.notEqual(hosts[0].host, hosts[1].host, 'two addresses');
      assert.ok(hosts.every((h) => h.boot_network_id === nets[0].id));
      const access = await s.db.selectFrom('network_access').select('project_id').where('network_id', '=', nets[0].network_id).execute();
      assert.equal(access.length, 1, 'the boot network is for its project alone');
    },
  },
  {
    name: "eight projects' first boot disks at once: eight boot networks on eight different /24s",
    rounds: 3,
    setup: async (s, fresh) => {
      const worlds = [];
      for (let i = 0; i < 8; i++) {
        const [n] = await cabledNodes(s, (b) => fresh(`${b}x${i}`), 1);
        worlds.push({ ...n, disk: (await disks(s, (b) => fresh(`${b}x${i}`), n.project, 1))[0] });
      }
      return { worlds };
    },
    contenders: (w) => ({ set: { requests: w.worlds.map((n: any) => post(`/v0/node/${n.node}/boot_disk`, { disk: n.disk })), wins: 8, losers: [] } }),
    check: async (s, w) => {
      const subnets = [];
      for (const n of w.worlds) {
        const { nets } = await projectBoots(s, n.project);
        assert.equal(nets.length, 1, `project ${n.project} has one boot network`);
        subnets.push(Number(nets[0].subnet));
      }
      assert.equal(new Set(subnets).size, 8, `eight different subnets: ${subnets.join(', ')}`);
    },
  },
  {
    name: 'two nodes set one disk at once: one wins, the other is told it is in use',
    setup: async (s, fresh) => {
      const nodes = await cabledNodes(s, fresh, 2);
      return { nodes, disk: (await disks(s, fresh, nodes[0].project, 1))[0] };
    },
    contenders: (w) => ({ set: { requests: w.nodes.map((n: any) => post(`/v0/node/${n.node}/boot_disk`, { disk: w.disk })), wins: 1, losers: [BLOCKED] } }),
    check: async (s, w) => {
      const { hosts } = await projectBoots(s, w.nodes[0].project);
      assert.equal(hosts.length, 1, 'one node boots from the disk');
      const d = await s.db.selectFrom('disk').select(['node_id', 'export_address']).where('label', '=', w.disk).executeTakeFirstOrThrow();
      assert.ok(d.node_id !== null && d.export_address !== null, 'the disk is exported to the winner');
    },
  },
];

raceSuite('races on boot disks', scenarios, { config: diskConfig(dirs, ports, bootConfig()) });
