/** hil headnode …: a project's own VMs on its networks (upstream's commands, with its broken ones working; docs/headnodes.md). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { HilClient } from '../../client/index.ts';
import type { JsonOption } from '../context.ts';
import { define, defineChange, group } from '../define.ts';
import { printJson, printTable } from '../output.ts';

/** Each file's lines that look like OpenSSH public keys (an authorized_keys file or one .pub). */
function keysFrom(files: string[]): string[] {
  return files.flatMap((f) => readFileSync(f, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
}

export function headnodeCommands(program: Command, client: () => HilClient): void {
  const hn = group(program, 'headnode', "Headnodes: a project's own VMs on its networks", 'hil headnode create hn1 runway base-headnode --ssh-key ~/.ssh/id_ed25519.pub');
  defineChange(
    hn,
    'create <headnode> <project> <base_img>',
    'Create a headnode (stopped) from a base image',
    'hil headnode create hn1 runway base-headnode --ssh-key ~/.ssh/id_ed25519.pub',
    (h: string) => `Created headnode ${h}.`,
    async (h: string, project: string, img: string, o: { sshKey?: string[] }) => {
      const c = client();
      await c.headnode.create(h, project, img, { sshKeys: o.sshKey && keysFrom(o.sshKey) });
      return c.headnode.show(h);
    },
  ).option('--ssh-key <file...>', "public key files root on the headnode accepts (its only way in besides the console)");
  defineChange(hn, 'delete <headnode>', 'Delete a headnode, its hnics, its VM and its disk', 'hil headnode delete hn1', (h: string) => `Deleted headnode ${h}.`, (h: string) => client().headnode.delete(h));
  defineChange(hn, 'start <headnode>', 'Start the VM', 'hil headnode start hn1', (h: string) => `Starting headnode ${h}.`, (h: string) => client().headnode.start(h));
  defineChange(hn, 'stop <headnode>', 'Stop the VM (it may be changed and started again)', 'hil headnode stop hn1', (h: string) => `Stopping headnode ${h}.`, (h: string) => client().headnode.stop(h));
  defineChange(hn, 'power-cycle <headnode>', 'Reset the VM (or start it)', 'hil headnode power-cycle hn1', (h: string) => `Reset headnode ${h}.`, (h: string) => client().headnode.powerCycle(h));
  define(hn, 'power-status <headnode>', 'On or Off', 'hil headnode power-status hn1', async (h: string) => {
    process.stdout.write(`${(await client().headnode.powerStatus(h)).power_status}\n`);
  });
  define(hn, 'list <project>', "The project's headnodes", 'hil headnode list runway', async (p: string, o: JsonOption) => {
    const names = await client().project.headnodes(p);
    if (o.json) return printJson(names);
    for (const n of names) process.stdout.write(`${n}\n`);
  }).option('--json', 'print JSON');
  define(hn, 'list-images', 'The base images headnodes may be made from', 'hil headnode list-images', async (o: JsonOption) => {
    const images = await client().headnode.images();
    if (o.json) return printJson(images);
    for (const i of images) process.stdout.write(`${i}\n`);
  }).option('--json', 'print JSON');
  define(hn, 'show <headnode>', 'Show a headnode', 'hil headnode show hn1', async (h: string, o: JsonOption) => {
    const v = await client().headnode.show(h);
    if (o.json) return printJson(v);
    process.stdout.write(`headnode: ${v.name}\nproject: ${v.project}\nbase image: ${v.base_img}\npower: ${v.power}\nstate: ${v.state}${v.error ? ` (${v.error})` : ''}\nuuid: ${v.uuid}\n`);
    printTable(['hnic', 'network', 'mac', 'address'], Object.entries(v.nics).map(([n, d]) => [n, d.network ?? '-', d.mac, d.address ?? 'DHCP']));
  }).option('--json', 'print JSON');
  define(hn, 'console <headnode>', "Print the headnode's console log", 'hil headnode console hn1', async (h: string) => {
    process.stdout.write(await client().headnode.consoleLog(h));
  });
  headnodeNicCommands(hn, client);
}

function headnodeNicCommands(hn: Command, client: () => HilClient): void {
  const nic = group(hn, 'nic', "A headnode's network interfaces", 'hil headnode nic create hn1 eth0 --address 10.50.0.1/24');
  defineChange(nic, 'create <headnode> <hnic>', 'Add an hnic (while stopped)', 'hil headnode nic create hn1 eth0 --address 10.50.0.1/24', (h: string, n: string) => `Added hnic ${n} to ${h}.`, (h: string, n: string, o: { address?: string }) =>
    client().headnode.createNic(h, n, { address: o.address }),
  ).option('--address <cidr>', 'the address the headnode gives itself on it (default: DHCP)');
  defineChange(nic, 'delete <headnode> <hnic>', 'Remove an hnic (while stopped)', 'hil headnode nic delete hn1 eth0', (h: string, n: string) => `Removed hnic ${n} from ${h}.`, (h: string, n: string) => client().headnode.deleteNic(h, n));
  const network = group(hn, 'network', "An hnic's network", 'hil headnode network connect hn1 eth0 runway-net');
  defineChange(network, 'connect <headnode> <hnic> <network>', 'Put an hnic on a network', 'hil headnode network connect hn1 eth0 runway-net', (h: string, n: string, net: string) => `Connected ${h}/${n} to ${net}.`, (h: string, n: string, net: string) =>
    client().headnode.connectNetwork(h, n, net),
  );
  // Upstream's takes the network too (and its handler was broken); it is accepted and not needed.
  defineChange(network, 'detach <headnode> <hnic> [network]', 'Take an hnic off its network', 'hil headnode network detach hn1 eth0', (h: string, n: string) => `Detached ${h}/${n}.`, (h: string, n: string) =>
    client().headnode.detachNetwork(h, n),
  );
}
