/** hil node …: nodes, their nics, networks, OBM, power, metadata and console. */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { HilClient } from '../../client/index.ts';
import type { JsonOption } from '../context.ts';
import { define, defineChange, group } from '../define.ts';
import { printJson, printList, printTable } from '../output.ts';
import { waitAndReport } from '../wait.ts';
import { provisioningCommands } from './provisioning.ts';
import { bootDiskCommands } from './boot-disk.ts';

export function nodeCommands(program: Command, client: () => HilClient): void {
  const node = group(program, 'node', 'Nodes: list, show, register, networks, power, console', 'hil node show node1');
  nodeBasicCommands(node, client);
  nodeNicCommands(node, client);
  nodeNetworkCommands(node, client);
  nodeObmCommands(node, client);
  nodePowerCommands(node, client);
  nodeMetadataCommands(node, client);
  nodeConsoleCommands(node, client);
  bootDiskCommands(node, client);
}

function nodeBasicCommands(node: Command, client: () => HilClient): void {
  define(node, 'list <free|all>', 'List free nodes, or all nodes', 'hil node list free', async (which: string, o: JsonOption) => {
    const nodes = await client().node.list(which === 'free' ? 'free' : 'all');
    o.json ? printJson(nodes) : printList(nodes);
  }).option('--json', 'print JSON');

  define(node, 'show <node>', 'Show a node, its nics and their networks', 'hil node show node1', async (name: string, o: JsonOption) => {
    const n = await client().node.show(name);
    if (o.json) return printJson(n);
    process.stdout.write(`node: ${n.name}\nproject: ${n.project ?? '(free)'}\n`);
    const rows = n.nics.map((nic) => [nic.label, nic.macaddr, Object.entries(nic.networks).map(([ch, net]) => `${net} (${ch})`).join(', '), nic.switch ? `${nic.switch} ${nic.port}` : '']);
    printTable(['nic', 'macaddr', 'networks', 'switch port'], rows);
    const meta = Object.entries(n.metadata);
    if (meta.length) printTable(['metadata', 'value'], meta.map(([k, v]) => [k, stripQuotes(v)]));
  }).option('--json', 'print JSON');

  defineChange(
    node,
    'register <node> [obmd_uri] [obmd_admin_token]',
    'Register a node whose BMC is managed by obmd (upstream style), or by a built-in driver (--obm)',
    'hil node register node1 --obm mock   |   hil node register node1 https://obmd.example/node/node1 <token>',
    (name: string) => `Registered node ${name}.`,
    async (name: string, uri: string | undefined, token: string | undefined, o: { obm?: string; obmField: string[] }) => {
      if (!o.obm && (!uri || !token)) throw new Error('give OBMD_URI and OBMD_ADMIN_TOKEN, or --obm TYPE');
      const fields = Object.fromEntries(o.obmField.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const c = client();
      await c.node.register(name, o.obm ? { obm: { ...fields, type: o.obm } } : { obmd: { uri: uri!, admin_token: token! } });
      return c.node.show(name);
    },
  )
    .addOption(new Option('--obm <type>', 'a built-in OBM driver (e.g. mock) instead of obmd'))
    .option('--obm-field <key=value>', 'a field of the --obm driver (repeatable)', (v: string, all: string[]) => [...all, v], []);

  defineChange(node, 'delete <node>', 'Delete a free node that has no nics', 'hil node delete node1', (name: string) => `Deleted node ${name}.`, (name: string) => client().node.delete(name));
  define(node, 'bootdev <node> <bootdev>', 'Set the boot device (pxe, disk, none), for every boot unless --once', 'hil node bootdev node1 pxe --once', (name: string, dev: string, o: { once?: boolean }) =>
    client().node.setBootdev(name, dev, o.once ? false : undefined),
  ).option('--once', 'the next boot only (built-in BMC drivers)');
}

function nodeNicCommands(node: Command, client: () => HilClient): void {
  const nic = group(node, 'nic', "A node's network interfaces", 'hil node nic register node1 eth0 52:54:00:12:34:56');
  defineChange(
    nic,
    'register <node> <nic> <macaddr>',
    'Add a nic to a node',
    'hil node nic register node1 eth0 52:54:00:12:34:56',
    (n: string, i: string) => `Registered nic ${i} of node ${n}.`,
    (n: string, i: string, m: string) => client().node.addNic(n, i, m),
  );
  defineChange(nic, 'delete <node> <nic>', 'Remove a nic from a free node', 'hil node nic delete node1 eth0', (n: string, i: string) => `Deleted nic ${i} of node ${n}.`, (n: string, i: string) =>
    client().node.removeNic(n, i),
  );
}

function nodeNetworkCommands(node: Command, client: () => HilClient): void {
  const network = group(node, 'network', 'Connect nics to networks (asynchronous: see --wait)', 'hil node network connect node1 eth0 runway-net --wait');
  define(
    network,
    'connect <node> <nic> <network> [channel]',
    'Connect a nic to a network (default channel: the native VLAN)',
    'hil node network connect node1 eth0 runway-net --wait',
    async (n: string, i: string, net: string, channel: string | undefined, o: JsonOption & { wait?: boolean }) => {
      const c = client();
      const { status_id } = await c.node.connectNetwork(n, i, net, channel);
      if (o.wait) await waitAndReport(c, status_id, `connect ${n}/${i} to ${net}`);
      o.json ? printJson({ status_id }) : process.stdout.write(`${status_id}\n`);
    },
  )
    .option('--wait', 'wait until the switch is configured, showing progress')
    .option('--json', 'print JSON');
  define(
    network,
    'detach <node> <nic> <network>',
    'Detach a nic from a network',
    'hil node network detach node1 eth0 runway-net --wait',
    async (n: string, i: string, net: string, o: JsonOption & { wait?: boolean }) => {
      const c = client();
      const { status_id } = await c.node.detachNetwork(n, i, net);
      if (o.wait) await waitAndReport(c, status_id, `detach ${n}/${i} from ${net}`);
      o.json ? printJson({ status_id }) : process.stdout.write(`${status_id}\n`);
    },
  )
    .option('--wait', 'wait until the switch is configured, showing progress')
    .option('--json', 'print JSON');
}

function nodeObmCommands(node: Command, client: () => HilClient): void {
  const obm = group(node, 'obm', "Enable or disable the node's out-of-band management", 'hil node obm enable node1');
  define(obm, 'enable <node>', 'Enable the OBM (needed for power and console)', 'hil node obm enable node1', (n: string) => client().node.enableObm(n));
  define(obm, 'disable <node>', 'Disable the OBM (needed before the node leaves the project)', 'hil node obm disable node1', (n: string) =>
    client().node.disableObm(n),
  );
}

function nodePowerCommands(node: Command, client: () => HilClient): void {
  const power = group(node, 'power', 'Power on, off, cycle, status', 'hil node power cycle node1');
  define(power, 'on <node>', 'Power the node on', 'hil node power on node1', (n: string) => client().node.powerOn(n));
  define(power, 'off <node>', 'Power the node off', 'hil node power off node1', (n: string) => client().node.powerOff(n));
  define(power, 'cycle <node>', 'Power-cycle the node', 'hil node power cycle node1 --force', (n: string, o: { force?: boolean }) =>
    client().node.powerCycle(n, o.force ?? false),
  ).option('--force', 'hard reset instead of an orderly cycle');
  define(power, 'status <node>', 'Show the power state', 'hil node power status node1', async (n: string) => {
    const s = await client().node.powerStatus(n);
    process.stdout.write(`${s.power_status}\n`);
  });
}

function nodeMetadataCommands(node: Command, client: () => HilClient): void {
  const metadata = group(node, 'metadata', 'Node metadata (any JSON value)', 'hil node metadata add node1 rack \'"r12"\'');
  defineChange(
    metadata,
    'add <node> <label> <value>',
    'Set a metadata entry (VALUE parsed as JSON when it is JSON)',
    'hil node metadata add node1 rack \'"r12"\'',
    (n: string, l: string) => `Set metadata ${l} of node ${n}.`,
    (n: string, l: string, v: string) => client().node.setMetadata(n, l, parseValue(v)),
  );
  defineChange(metadata, 'delete <node> <label>', 'Delete a metadata entry', 'hil node metadata delete node1 rack', (n: string, l: string) => `Deleted metadata ${l} of node ${n}.`, (n: string, l: string) =>
    client().node.deleteMetadata(n, l),
  );

  provisioningCommands(node, client);
}

function nodeConsoleCommands(node: Command, client: () => HilClient): void {
  const console = group(node, 'console', "The node's serial console", 'hil node console show node1');
  define(console, 'log <node>', "Print the node's rolling console log", 'hil node console log node1', async (n: string) => {
    process.stdout.write(await client().node.consoleLog(n));
  });
  define(console, 'show <node>', 'Stream the console until Ctrl-C', 'hil node console show node1', async (n: string) => {
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    try {
      for await (const chunk of await client().node.console(n, stop.signal)) process.stdout.write(chunk);
    } catch (err) {
      if (!stop.signal.aborted) throw err;
    }
  });
}

function parseValue(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Metadata comes back JSON-encoded ("\"r12\""); show strings without their quotes, as upstream's CLI. */
function stripQuotes(v: string): string {
  try {
    const parsed: unknown = JSON.parse(v);
    return typeof parsed === 'string' ? parsed : v;
  } catch {
    return v;
  }
}
