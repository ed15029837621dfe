/**
 * Small worlds the race scenarios start from, built through the API as the
 * admin (each step asserted by the fixtures), with this round's fresh names.
 */
import assert from 'node:assert/strict';
import { attach, cable, connectNode, mkNetwork, mkNic, mkNode, mkPort, mkProject, mkSwitch } from '../support/fixtures.ts';
import type { RaceServer } from './harness.ts';

export type Fresh = (base: string) => string;

export interface CabledNode {
  project: string;
  node: string;
  nic: string;
  sw: string;
  port: string;
}

/** A new mock switch with ports gi1/0/1..count. */
export async function switchWithPorts(s: RaceServer, fresh: Fresh, count: number): Promise<{ sw: string; ports: string[] }> {
  const sw = fresh('sw');
  await mkSwitch(s.api, sw);
  const ports = Array.from({ length: count }, (_, i) => `gi1/0/${i + 1}`);
  for (const port of ports) await mkPort(s.api, sw, port);
  return { sw, ports };
}

/** Nodes with one nic eth0 each, cabled to gi1/0/1.. of a new switch, in `project` (created here) unless it is null. */
export async function cabledNodes(s: RaceServer, fresh: Fresh, count: number, project: string | null = fresh('p')): Promise<CabledNode[]> {
  if (project !== null) await mkProject(s.api, project);
  const { sw, ports } = await switchWithPorts(s, fresh, count);
  const out: CabledNode[] = [];
  for (const [i, port] of ports.entries()) {
    const node = fresh(`n${i + 1}`);
    await mkNode(s.api, node);
    await mkNic(s.api, node, 'eth0', `52:54:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`);
    await cable(s.api, sw, port, node, 'eth0');
    if (project !== null) await connectNode(s.api, project, node);
    out.push({ project: project ?? '', node, nic: 'eth0', sw, port });
  }
  return out;
}

/** One cabled node in a new project, and a network `net` that project owns. */
export async function cabledNodeAndNetwork(s: RaceServer, fresh: Fresh): Promise<CabledNode & { net: string }> {
  const [n] = await cabledNodes(s, fresh, 1);
  const net = fresh('net');
  await mkNetwork(s.api, net, n.project);
  return { ...n, net };
}

/** The nic joins the network, and the worker has applied it. */
export const attached = (s: RaceServer, n: { node: string; nic: string }, net: string) => attach(s.api, n.node, n.nic, net);

export async function freeNode(s: RaceServer, fresh: Fresh, base = 'n'): Promise<string> {
  const node = fresh(base);
  await mkNode(s.api, node);
  return node;
}

/** A new project and a free node, for races over the node joining it. */
export async function projectAndFreeNode(s: RaceServer, fresh: Fresh): Promise<{ project: string; node: string }> {
  const project = fresh('p');
  await mkProject(s.api, project);
  return { project, node: await freeNode(s, fresh) };
}

/** A network `net` owned by a new project, and another project `other` with no access to it yet. */
export async function networkAndOutsider(s: RaceServer, fresh: Fresh): Promise<{ net: string; other: string }> {
  const owner = fresh('owner');
  const other = fresh('q');
  await mkProject(s.api, owner);
  await mkProject(s.api, other);
  const net = fresh('net');
  await mkNetwork(s.api, net, owner);
  return { net, other };
}

/** The node's project as the API shows it. */
export async function projectOf(s: RaceServer, node: string): Promise<string | null> {
  const r = await s.api('GET', `/v0/node/${node}`);
  assert.equal(r.status, 200, r.text);
  return r.body.project;
}

/** Whether the object at `path` exists, as the API says (200 or 404). */
export async function exists(s: RaceServer, path: string): Promise<boolean> {
  const r = await s.api('GET', path);
  assert.ok(r.status === 200 || r.status === 404, `GET ${path}: ${r.status} ${r.text}`);
  return r.status === 200;
}

/** The labels a listing route answers. */
export async function listed(s: RaceServer, path: string): Promise<string[]> {
  const r = await s.api('GET', path);
  assert.equal(r.status, 200, r.text);
  return r.body;
}
