/** hil node boot-disk …: a node that boots from a disk of its project, over the project's boot network (docs/images.md). */
import type { Command } from 'commander';
import type { BootDisk, HilClient } from '../../client/index.ts';
import type { JsonOption } from '../context.ts';
import { define, defineChange, group } from '../define.ts';
import { printJson, printTable, progress } from '../output.ts';
import { waitAndReport } from '../wait.ts';
import { waitServing } from './disk.ts';

export function bootDiskCommands(node: Command, client: () => HilClient): void {
  const boot = group(node, 'boot-disk', 'Boot a node from a disk of its project (iSCSI on its boot network); then: hil node bootdev NODE pxe, hil node power cycle NODE', 'hil node boot-disk set node1 web1-root --wait');

  define(
    boot,
    'set <node> <disk>',
    "The node boots from the disk: it is exported to the node on the project's boot network, the NIC (--nic, default its first) goes there natively, and its DHCP answer and iPXE script are ready",
    'hil node boot-disk set node1 web1-root --nic eth0 --wait',
    async (name: string, disk: string, o: JsonOption & { nic?: string; wait?: boolean }) => {
      const c = client();
      const b = await c.node.bootDiskSet(name, disk, o.nic === undefined ? {} : { nic: o.nic });
      if (o.wait) {
        if (b.status_id) await waitAndReport(c, b.status_id, `move ${name}/${b.nic} to ${b.network}`);
        // The NIC there is half of it: a node that boots before its export serves finds no root.
        await waitServing(c, disk);
      }
      const shown = o.wait ? await c.node.bootDiskShow(name) : b;
      if (o.json) return printJson(shown);
      printBootDisk(shown);
      if (!o.wait) progress(`the NIC's move is action ${b.status_id ?? '(none: it is there)'}; the node can boot once it is DONE`);
    },
  )
    .option('--nic <nic>', 'the NIC the node boots through (default: its first)')
    .option('--wait', 'wait until the NIC is on the boot network and the export serves')
    .option('--json', 'print JSON');

  define(boot, 'show <node>', 'The disk the node boots from, its boot network, address and export', 'hil node boot-disk show node1', async (name: string, o: JsonOption) => {
    const b = await client().node.bootDiskShow(name);
    o.json ? printJson(b) : printBootDisk(b);
  }).option('--json', 'print JSON');

  defineChange(
    boot,
    'clear <node>',
    'The node boots from no disk: its export stops and the NIC leaves the boot network (the disk stays)',
    'hil node boot-disk clear node1',
    (name: string) => `Node ${name} boots from no disk.`,
    (name: string) => client().node.bootDiskClear(name),
  );
}

function printBootDisk(b: BootDisk): void {
  process.stdout.write(`node: ${b.node}\ndisk: ${b.disk}\nnic: ${b.nic} (${b.mac})\nnetwork: ${b.network}\naddress: ${b.address}\nserver: ${b.server}\n`);
  if (b.export) printTable(['protocol', 'state', 'host', 'port', 'target', 'initiator'], [[b.export.protocol, b.export.state, b.export.host, b.export.port, b.export.name, b.export.initiator ?? '']]);
}
