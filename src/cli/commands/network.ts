/** hil network …: networks, their access lists and attachments. */
import type { Command } from 'commander';
import type { HilClient } from '../../client/index.ts';
import type { JsonOption } from '../context.ts';
import { define, defineChange, group } from '../define.ts';
import { printJson, printTable } from '../output.ts';

export function networkCommands(program: Command, client: () => HilClient): void {
  const network = group(program, 'network', 'Networks (VLANs) and who may use them', 'hil network create runway-net runway');
  vpnCommands(network, client);

  defineChange(
    network,
    'create <network> <owner>',
    'Create a network. OWNER is a project, or "admin". Without --access a project network is its owner\'s and an admin network is public',
    'hil network create runway-net runway   |   hil network create provisioning admin --access runway --net-id 1001',
    (net: string) => `Created network ${net}.`,
    async (net: string, owner: string, o: { access?: string; netId?: string }) => {
      const c = client();
      // Upstream's CLI sent access=OWNER even for "admin", looking up a project called admin.
      await c.network.create(net, owner, o.access ?? (owner === 'admin' ? '' : owner), o.netId ?? '');
      return c.network.show(net);
    },
  )
    .option('--access <project>', 'the project that may use it ("" for public)')
    .option('--net-id <id>', 'a specific VLAN (admin networks only)');
  defineChange(network, 'delete <network>', 'Delete a network no node is on', 'hil network delete runway-net', (n: string) => `Deleted network ${n}.`, (n: string) => client().network.delete(n));
  define(network, 'show <network>', 'Show a network', 'hil network show runway-net', async (n: string, o: JsonOption) => {
    const net = await client().network.show(n);
    if (o.json) return printJson(net);
    process.stdout.write(`network: ${net.name}\nowner: ${net.owner}\naccess: ${net.access === null ? '(public)' : net.access.join(', ')}\nchannels: ${net.channels.join(', ')}\n`);
    printTable(['node', 'nics'], Object.entries(net['connected-nodes']).map(([node, nics]) => [node, nics.join(', ')]));
  }).option('--json', 'print JSON');
  define(network, 'list', 'List networks (all for admins, public ones for others)', 'hil network list', async (o: JsonOption) => {
    const nets = await client().network.list();
    if (o.json) return printJson(nets);
    printTable(['network', 'network id', 'projects'], Object.entries(nets).map(([name, n]) => [name, n.network_id, n.projects === null ? '(public)' : n.projects.join(', ')]));
  }).option('--json', 'print JSON');
  define(
    network,
    'list-attachments <network>',
    'Nodes attached to the network',
    'hil network list-attachments runway-net --project runway',
    async (n: string, o: JsonOption & { project?: string }) => {
      const att = await client().network.attachments(n, o.project);
      if (o.json) return printJson(att);
      printTable(['node', 'nic', 'channel', 'project'], Object.entries(att).map(([node, a]) => [node, a.nic, a.channel, a.project]));
    },
  )
    .option('--project <project>', 'only nodes of this project')
    .option('--json', 'print JSON');
  defineChange(
    network,
    'grant-access <network> <project>',
    'Let a project use the network',
    'hil network grant-access provisioning runway',
    (n: string, p: string) => `Project ${p} may use network ${n}.`,
    (n: string, p: string) => client().network.grantAccess(n, p),
  );
  defineChange(
    network,
    'revoke-access <network> <project>',
    "Revoke a project's access",
    'hil network revoke-access provisioning runway',
    (n: string, p: string) => `Project ${p} may no longer use network ${n}.`,
    (n: string, p: string) => client().network.revokeAccess(n, p),
  );
}

function vpnCommands(network: Command, client: () => HilClient): void {
  const vpn = group(network, 'vpn', "WireGuard access to a project network from the tenant's own machine", 'hil network vpn create laptop runway-net > laptop.conf');
  define(
    vpn,
    'create <vpn> <network>',
    'Create a VPN; prints its wg-quick configuration (with a private key made here unless --public-key is given: keep it safe, it is shown once)',
    'hil network vpn create laptop runway-net > laptop.conf && wg-quick up ./laptop.conf',
    async (v: string, net: string, o: JsonOption & { project?: string; publicKey?: string; address?: string }) => {
      const made = await client().vpn.create(v, net, { project: o.project, publicKey: o.publicKey, address: o.address });
      if (o.json) return printJson(made);
      process.stdout.write(made.config);
    },
  )
    .option('--project <project>', 'the project it is for (default: the network owner)')
    .option('--public-key <key>', 'your WireGuard public key (wg pubkey); your private key then never leaves your machine')
    .option('--address <cidr>', "the VPN endpoint's address on the network (the network's first VPN only)")
    .option('--json', 'print JSON');
  defineChange(vpn, 'delete <vpn>', 'Revoke a VPN', 'hil network vpn delete laptop', (v: string) => `Deleted VPN ${v}.`, (v: string) => client().vpn.delete(v));
  define(vpn, 'list <network>', "The network's VPNs you may see", 'hil network vpn list runway-net', async (net: string, o: JsonOption) => {
    const names = await client().vpn.list(net);
    if (o.json) return printJson(names);
    for (const n of names) process.stdout.write(`${n}\n`);
  }).option('--json', 'print JSON');
  define(vpn, 'show <vpn>', 'Show a VPN (its public key, address, endpoint)', 'hil network vpn show laptop', async (v: string, o: JsonOption) => {
    const s = await client().vpn.show(v);
    if (o.json) return printJson(s);
    process.stdout.write(`vpn: ${s.name}\nnetwork: ${s.network}\nproject: ${s.project}\naddress: ${s.address}\nendpoint: ${s.endpoint}\nreaches: ${s.allowed_ips.join(', ')}\npublic key: ${s.public_key}\n`);
  }).option('--json', 'print JSON');
}
