/** hil project …: projects and the nodes in them. */
import type { Command } from 'commander';
import type { HilClient } from '../../client/index.ts';
import { CliError, type JsonOption } from '../context.ts';
import { define, defineChange, group } from '../define.ts';
import { printJson, printList, progress } from '../output.ts';
import { waitAndReport } from '../wait.ts';

export function projectCommands(program: Command, client: () => HilClient): void {
  const project = group(program, 'project', 'Projects and their nodes', 'hil project node list runway');

  defineChange(project, 'create <project>', 'Create a project (admin)', 'hil project create runway', (p: string) => `Created project ${p}.`, (p: string) => client().project.create(p));
  defineChange(project, 'delete <project>', 'Delete a project with no nodes or networks (admin)', 'hil project delete runway', (p: string) => `Deleted project ${p}.`, (p: string) =>
    client().project.delete(p),
  );
  define(project, 'list', 'List projects (admin)', 'hil project list', async (o: JsonOption) => {
    const all = await client().project.list();
    o.json ? printJson(all) : printList(all);
  }).option('--json', 'print JSON');
  define(project, 'list-networks <project>', 'Networks the project can use', 'hil project list-networks runway', async (p: string, o: JsonOption) => {
    const nets = await client().project.networks(p);
    o.json ? printJson(nets) : printList(nets);
  }).option('--json', 'print JSON');

  const node = group(project, 'node', "A project's nodes", 'hil project node add runway node1');
  define(node, 'list <project>', "List the project's nodes", 'hil project node list runway', async (p: string, o: JsonOption) => {
    const nodes = await client().project.nodes(p);
    o.json ? printJson(nodes) : printList(nodes);
  }).option('--json', 'print JSON');
  defineChange(
    node,
    'add <project> [node]',
    'Take a free node into the project; --ready and no NODE: any node ready in its FPBL (named in the confirmation)',
    'hil project node add runway node1   |   hil project node add runway --ready',
    // With --ready, the node the server chose is in its answer ({"node": …}, also what --json prints).
    (p: string, n: string | undefined, ready: { node: string } | undefined) => `Added node ${ready?.node ?? n} to project ${p}.`,
    async (p: string, n: string | undefined, o: { ready?: boolean }) => {
      if (n && o.ready) throw new CliError('give NODE or --ready, not both');
      if (!n && !o.ready) throw new CliError('give NODE, or --ready for any node ready in its FPBL');
      return n ? client().project.connectNode(p, n) : client().project.connectReadyNode(p);
    },
  ).option('--ready', 'any free node that waits ready in its FPBL (fast provisioning)');
  defineChange(
    node,
    'remove <project> <node>',
    'Return a node to the free pool. --force first disables its OBM and takes it off every network (admin: reverts its switch ports)',
    'hil project node remove runway node1 --force',
    (p: string, n: string) => `Removed node ${n} from project ${p}.`,
    async (p: string, n: string, o: { force?: boolean }) => {
      const c = client();
      if (o.force) await forceClear(c, n);
      await c.project.detachNode(p, n);
    },
  ).option('--force', 'disable the OBM and revert the switch ports first, waiting for each');
}

/** Upstream's --force sequence: disable the OBM, revert every cabled nic's port, wait for each. */
async function forceClear(c: HilClient, node: string): Promise<void> {
  progress(`${node}: disabling OBM`);
  await c.node.disableObm(node);
  const shown = await c.node.show(node);
  for (const nic of shown.nics) {
    if (!nic.switch || !nic.port) continue;
    progress(`${node}: reverting ${nic.switch} port ${nic.port} (nic ${nic.label})`);
    const { status_id } = await c.port.revert(nic.switch, nic.port);
    await waitAndReport(c, status_id, `revert ${nic.switch} ${nic.port}`);
  }
}
