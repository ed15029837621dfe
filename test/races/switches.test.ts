/**
 * Races on switches, their ports and the cabling of nics to ports: one
 * switch per name, one port per name on a switch, one nic per port and one
 * port per nic; a switch or port is not deleted under what is being added to it.
 */
import assert from 'node:assert/strict';
import { cable, mkNic, mkProject, mkSwitch } from '../support/fixtures.ts';
import { BLOCKED, del, DUP, GONE, post, put, raceSuite, times, winners, type Scenario } from './harness.ts';
import { exists, freeNode, listed, projectOf, switchWithPorts } from './worlds.ts';

const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;

const switches: Scenario<any>[] = [
  {
    name: 'twenty registrations of one switch name: one 200, the rest 409',
    setup: async (_s, fresh) => ({ sw: fresh('sw') }),
    contenders: (w) => ({
      register: {
        requests: times(20, () => put(`/v0/switch/${w.sw}`, { type: 'http://schema.massopencloud.org/haas/v0/switches/mock', hostname: 'h', username: 'u', password: 'p' })),
        wins: 1,
        losers: [DUP],
      },
    }),
    check: async (s, w) => assert.equal(count(await listed(s, '/v0/switches'), w.sw), 1),
  },
  {
    name: 'twenty deletions of one switch: one 200, the rest 404',
    setup: async (s, fresh) => {
      const sw = fresh('sw');
      await mkSwitch(s.api, sw);
      return { sw };
    },
    contenders: (w) => ({ delete: { requests: times(20, () => del(`/v0/switch/${w.sw}`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.equal(await exists(s, `/v0/switch/${w.sw}`), false),
  },
  {
    name: 'deleting a switch while a port is registered on it: exactly one succeeds',
    rounds: 10,
    setup: async (s, fresh) => {
      const sw = fresh('sw');
      await mkSwitch(s.api, sw);
      return { sw };
    },
    contenders: (w) => ({ either: { requests: [del(`/v0/switch/${w.sw}`), put(`/v0/switch/${w.sw}/port/gi1/0/1`)], wins: 1, losers: [GONE, BLOCKED] } }),
    check: async (s, w, a) => {
      const deleted = winners(a.either).some((x) => x.request.method === 'DELETE');
      assert.equal(await exists(s, `/v0/switch/${w.sw}`), !deleted);
      if (!deleted) assert.deepEqual((await s.api('GET', `/v0/switch/${w.sw}`)).body.ports, [{ label: 'gi1/0/1' }]);
    },
  },
  {
    name: 'twenty registrations of one port: one 200, the rest 409',
    setup: async (s, fresh) => ({ sw: (await switchWithPorts(s, fresh, 0)).sw }),
    contenders: (w) => ({ register: { requests: times(20, () => put(`/v0/switch/${w.sw}/port/gi1/0/1`)), wins: 1, losers: [DUP] } }),
    check: async (s, w) => assert.deepEqual((await s.api('GET', `/v0/switch/${w.sw}`)).body.ports, [{ label: 'gi1/0/1' }]),
  },
  {
    name: 'twenty deletions of one port: one 200, the rest 404',
    setup: async (s, fresh) => ({ sw: (await switchWithPorts(s, fresh, 1)).sw }),
    contenders: (w) => ({ delete: { requests: times(20, () => del(`/v0/switch/${w.sw}/port/gi1/0/1`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.deepEqual((await s.api('GET', `/v0/switch/${w.sw}`)).body.ports, []),
  },
  {
    name: 'deleting a port while a nic is cabled to it: exactly one succeeds',
    rounds: 10,
    setup: async (s, fresh) => {
      const { sw } = await switchWithPorts(s, fresh, 1);
      const node = await freeNode(s, fresh);
      await mkNic(s.api, node, 'eth0');
      return { sw, node };
    },
    contenders: (w) => ({
      either: { requests: [del(`/v0/switch/${w.sw}/port/gi1/0/1`), post(`/v0/switch/${w.sw}/port/gi1/0/1/connect_nic`, { node: w.node, nic: 'eth0' })], wins: 1, losers: [GONE, BLOCKED] },
    }),
    check: async (s, w, a) => {
      const deleted = winners(a.either).some((x) => x.request.method === 'DELETE');
      assert.equal(await exists(s, `/v0/switch/${w.sw}/port/gi1/0/1`), !deleted);
      const nic = (await s.api('GET', `/v0/node/${w.node}`)).body.nics[0];
      assert.equal(nic.port, deleted ? null : 'gi1/0/1');
    },
  },
];

const cabling: Scenario<any>[] = [
  {
    name: 'twenty cablings of one nic to one port: one 200, the rest 409',
    setup: async (s, fresh) => {
      const { sw } = await switchWithPorts(s, fresh, 1);
      const node = await freeNode(s, fresh);
      await mkNic(s.api, node, 'eth0');
      return { sw, node };
    },
    contenders: (w) => ({ cable: { requests: times(20, () => post(`/v0/switch/${w.sw}/port/gi1/0/1/connect_nic`, { node: w.node, nic: 'eth0' })), wins: 1, losers: [DUP] } }),
    check: async (s, w) => assert.deepEqual((await s.api('GET', `/v0/switch/${w.sw}/port/gi1/0/1`)).body, { node: w.node, nic: 'eth0', networks: {} }),
  },
  {
    name: 'one nic cabled to ten ports at once: one 200, the rest 409',
    setup: async (s, fresh) => {
      const { sw, ports } = await switchWithPorts(s, fresh, 10);
      const node = await freeNode(s, fresh);
      await mkNic(s.api, node, 'eth0');
      return { sw, ports, node };
    },
    contenders: (w) => ({ cable: { requests: w.ports.map((p: string) => post(`/v0/switch/${w.sw}/port/${p}/connect_nic`, { node: w.node, nic: 'eth0' })), wins: 1, losers: [DUP] } }),
    check: async (s, w, a) => {
      const won = winners(a.cable)[0]?.request.path;
      for (const p of w.ports) {
        const port = (await s.api('GET', `/v0/switch/${w.sw}/port/${p}`)).body;
        assert.deepEqual(port, won?.includes(`/port/${p}/`) ? { node: w.node, nic: 'eth0', networks: {} } : {}, `port ${p}`);
      }
    },
  },
  {
    name: 'ten nics cabled to one port at once: one 200, the rest 409',
    setup: async (s, fresh) => {
      const { sw } = await switchWithPorts(s, fresh, 1);
      const node = await freeNode(s, fresh);
      for (let i = 0; i < 10; i++) await mkNic(s.api, node, `eth${i}`);
      return { sw, node };
    },
    contenders: (w) => ({ cable: { requests: times(10, (i) => post(`/v0/switch/${w.sw}/port/gi1/0/1/connect_nic`, { node: w.node, nic: `eth${i}` })), wins: 1, losers: [DUP] } }),
    check: async (s, w, a) => {
      const nic = winners(a.cable)[0]?.request.body.nic;
      assert.deepEqual((await s.api('GET', `/v0/switch/${w.sw}/port/gi1/0/1`)).body, { node: w.node, nic, networks: {} });
      const cabled = (await s.api('GET', `/v0/node/${w.node}`)).body.nics.filter((n: { port: string | null }) => n.port !== null);
      assert.deepEqual(cabled.map((n: { label: string }) => n.label), [nic]);
    },
  },
  {
    name: 'twenty detachments of one cabled nic: one 200, the rest 404',
    setup: async (s, fresh) => {
      const { sw } = await switchWithPorts(s, fresh, 1);
      const node = await freeNode(s, fresh);
      await mkNic(s.api, node, 'eth0');
      await cable(s.api, sw, 'gi1/0/1', node, 'eth0');
      return { sw, node };
    },
    contenders: (w) => ({ detach: { requests: times(20, () => post(`/v0/switch/${w.sw}/port/gi1/0/1/detach_nic`)), wins: 1, losers: [GONE] } }),
    check: async (s, w) => assert.deepEqual((await s.api('GET', `/v0/switch/${w.sw}/port/gi1/0/1`)).body, {}),
  },
  {
    name: 'cabling a free node’s nic while a project takes the node: both may succeed, the cabling stays',
    rounds: 10,
    setup: async (s, fresh) => {
      const { sw } = await switchWithPorts(s, fresh, 1);
      const project = fresh('p');
      await mkProject(s.api, project);
      const node = await freeNode(s, fresh);
      await mkNic(s.api, node, 'eth0');
      return { sw, node, project };
    },
    contenders: (w) => ({
      cable: { requests: [post(`/v0/switch/${w.sw}/port/gi1/0/1/connect_nic`, { node: w.node, nic: 'eth0' })], wins: 1, losers: [] },
      take: { requests: [post(`/v0/project/${w.project}/connect_node`, { node: w.node })], wins: 1, losers: [] },
    }),
    check: async (s, w) => {
      assert.equal(await projectOf(s, w.node), w.project);
      assert.deepEqual((await s.api('GET', `/v0/switch/${w.sw}/port/gi1/0/1`)).body, { node: w.node, nic: 'eth0', networks: {} });
    },
  },
];

raceSuite('switch and cabling races', [...switches, ...cabling]);
