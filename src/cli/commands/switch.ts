/** hil switch … and hil port …: switches, ports and cabling (admin). */
import type { Command } from 'commander';
import type { HilClient } from '../../client/index.ts';
import type { JsonOption } from '../context.ts';
import { define, defineChange, group } from '../define.ts';
import { printJson, printList, printTable } from '../output.ts';
import { firstLine } from '../prompt.ts';

/** Upstream's positional fields per switch subtype. */
const SUBTYPE_FIELDS: Record<string, string[]> = {
  mock: ['hostname', 'username', 'password'],
  powerconnect55xx: ['hostname', 'username', 'password'],
  dellos10: ['hostname', 'username', 'password'],
  nexus: ['hostname', 'username', 'password', 'dummy_vlan'],
  delln3000: ['hostname', 'username', 'password', 'dummy_vlan'],
  brocade: ['hostname', 'username', 'password', 'interface_type'],
  dellnos9: ['hostname', 'username', 'password', 'interface_type'],
  ovs: ['ovs_bridge'],
};

export function switchCommands(program: Command, client: () => HilClient): void {
  const sw = group(program, 'switch', 'Switches (admin)', 'hil switch register sw0 mock sw0.example admin secret');
  define(sw, 'list', 'List switches', 'hil switch list', async (o: JsonOption) => {
    const all = await client().switch.list();
    o.json ? printJson(all) : printList(all);
  }).option('--json', 'print JSON');
  define(sw, 'show <switch>', 'Show a switch and its ports', 'hil switch show sw0', async (s: string, o: JsonOption) => {
    const shown = await client().switch.show(s);
    if (o.json) return printJson(shown);
    process.stdout.write(`switch: ${shown.name}\ncapabilities: ${shown.capabilities.join(', ') || '(none)'}\n${shown.host_key ? `host key: ${shown.host_key}\n` : ''}`);
    printList(shown.ports.map((p) => p.label));
  }).option('--json', 'print JSON');
  defineChange(sw, 'delete <switch>', 'Delete a switch with no ports', 'hil switch delete sw0', (s: string) => `Deleted switch ${s}.`, (s: string) => client().switch.delete(s));
  defineChange(
    sw,
    'register <switch> <subtype> [args...]',
    `Register a switch. SUBTYPE and its ARGS: ${Object.entries(SUBTYPE_FIELDS).map(([t, f]) => `${t} ${f.join(' ')}`).join('; ')}; or a full type URL and one JSON object of fields. A password of "-" is read from stdin`,
    'hil switch register sw0 mock sw0.example admin secret',
    (s: string) => `Registered switch ${s}.`,
    async (s: string, subtype: string, args: string[]) => {
      const names = SUBTYPE_FIELDS[subtype];
      if (!names && args.length !== 1) throw new Error(`unknown subtype ${subtype}: give a full type URL and one JSON object of fields`);
      if (names && args.length !== names.length) throw new Error(`switch subtype ${subtype} takes ${names.join(' ')}`);
      const fields = names ? Object.fromEntries(names.map((n, i) => [n, args[i]])) : (JSON.parse(args[0]) as Record<string, unknown>);
      // "-" reads the password from stdin, keeping it off the command line (and out of `ps`).
      if (fields.password === '-') fields.password = await firstLine();
      const c = client();
      await c.switch.register(s, subtype, fields);
      return c.switch.show(s);
    },
  );

  const port = group(program, 'port', 'Switch ports and which nic is cabled to each (admin)', 'hil port nic add sw0 gi1/0/1 node1 eth0');
  defineChange(port, 'register <switch> <port>', 'Register a port', 'hil port register sw0 gi1/0/1', (s: string, p: string) => `Registered port ${p} of switch ${s}.`, (s: string, p: string) =>
    client().port.register(s, p),
  );
  defineChange(port, 'delete <switch> <port>', 'Delete a port no nic is cabled to', 'hil port delete sw0 gi1/0/1', (s: string, p: string) => `Deleted port ${p} of switch ${s}.`, (s: string, p: string) =>
    client().port.delete(s, p),
  );
  define(port, 'show <switch> <port>', 'Show what is cabled to a port', 'hil port show sw0 gi1/0/1', async (s: string, p: string, o: JsonOption) => {
    const shown = await client().port.show(s, p);
    if (o.json) return printJson(shown);
    if (!shown.node) return void process.stdout.write('(no nic)\n');
    process.stdout.write(`node: ${shown.node}\nnic: ${shown.nic}\n`);
    printTable(['channel', 'network'], Object.entries(shown.networks ?? {}));
  }).option('--json', 'print JSON');
  define(port, 'revert <switch> <port>', 'Take the port off every network', 'hil port revert sw0 gi1/0/1', async (s: string, p: string, o: JsonOption) => {
    const r = await client().port.revert(s, p);
    o.json ? printJson(r) : process.stdout.write(`${r.status_id}\n`);
  }).option('--json', 'print JSON');
  const nic = group(port, 'nic', 'Cabling', 'hil port nic add sw0 gi1/0/1 node1 eth0');
  defineChange(
    nic,
    'add <switch> <port> <node> <nic>',
    "Record that a node's nic is cabled to the port",
    'hil port nic add sw0 gi1/0/1 node1 eth0',
    (s: string, p: string, n: string, i: string) => `Cabled nic ${i} of node ${n} to port ${p} of switch ${s}.`,
    (s: string, p: string, n: string, i: string) => client().port.connectNic(s, p, n, i),
  );
  defineChange(nic, 'remove <switch> <port>', 'Forget the cabling of a free node', 'hil port nic remove sw0 gi1/0/1', (s: string, p: string) => `Port ${p} of switch ${s} has no nic now.`, (s: string, p: string) =>
    client().port.detachNic(s, p),
  );
}
