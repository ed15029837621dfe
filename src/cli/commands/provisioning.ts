/** hil node deploy | reclaim | provision-status: fast provisioning (docs/fast-provisioning.md). */
import type { Command } from 'commander';
import type { HilClient, Provisioning } from '../../client/index.ts';
import { CliError, waitTimeoutMs, type JsonOption } from '../context.ts';
import { define } from '../define.ts';
import { printJson, printTable, progress } from '../output.ts';

function printStatus(p: Provisioning, o: JsonOption): void {
  if (o.json) return printJson(p);
  const rows = [
    ['state', `${p.state} (${p.phase})`],
    ['path', p.path ?? '-'],
    ['image', p.image ?? '-'],
    ['networks', Object.entries(p.networks).map(([nic, net]) => `${nic}=${net}`).join(', ') || '-'],
    ['since', p.since],
    ['deadline', p.deadline ?? '-'],
    ['last seen', p.last_seen ?? '-'],
    ...(p.error ? [['error', p.error]] : []),
  ];
  printTable([p.node, ''], rows);
}

/** With --wait: until the node is in one of `states`; an error state fails the command. */
async function waitFor(c: HilClient, node: string, states: string[], started: Provisioning): Promise<Provisioning> {
  const t0 = Date.now();
  let last = `${started.state}/${started.phase}`;
  const p = await c.node.waitProvisioning(node, states, {
    // Provisioning outlasts a switch action: at least 15 minutes unless HIL_TIMEOUT says more.
    timeoutMs: Math.max(waitTimeoutMs(), 900_000),
    onPoll: (now) => {
      const at = `${now.state}/${now.phase}`;
      if (at !== last) progress(`${node}: ${at} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      last = at;
    },
  });
  if (p.state === 'error') throw new CliError(`${node}: ${p.error ?? 'provisioning failed'}`);
  return p;
}

export function provisioningCommands(node: Command, client: () => HilClient): void {
  define(
    node,
    'deploy <node> <image>',
    'Boot IMAGE on a ready node by kexec from its FPBL; --network moves a nic to a network first',
    'hil node deploy node1 debian-12 --network nic0=runway-net --wait',
    async (name: string, image: string, o: JsonOption & { network: string[]; wait?: boolean; disk?: string }) => {
      const networks: Record<string, string> = {};
      for (const kv of o.network) {
        const i = kv.indexOf('=');
        if (i <= 0 || i === kv.length - 1) throw new CliError(`--network takes NIC=NETWORK, not ${JSON.stringify(kv)}`);
        networks[kv.slice(0, i)] = kv.slice(i + 1);
      }
      const c = client();
      let p = await c.node.deploy(name, image, o.network.length ? networks : undefined, o.disk === undefined ? {} : { disk: o.disk });
      if (o.wait) p = await waitFor(c, name, ['deployed'], p);
      printStatus(p, o);
    },
  )
    .option('--network <nic=network>', 'put NIC on NETWORK before the kexec (repeatable)', (v: string, all: string[]) => [...all, v], [])
    .option('--disk <disk>', "boot with the root filesystem on DISK (made from IMAGE if it does not exist), over the project's boot network")
    .option('--wait', 'wait until the node is deployed')
    .option('--json', 'print JSON');

  define(
    node,
    'reclaim <node>',
    'Take the node back into its FPBL and wipe its disks (kexec if its OS cooperates, else power cycle); enrolls a new node',
    'hil node reclaim node1 --wait',
    async (name: string, o: JsonOption & { wait?: boolean; powerCycle?: boolean; keepDisk?: boolean }) => {
      const c = client();
      let p = await c.node.reclaim(name, { powerCycle: o.powerCycle, keepDisk: o.keepDisk });
      if (o.wait) p = await waitFor(c, name, ['ready'], p);
      printStatus(p, o);
    },
  )
    .option('--power-cycle', "power-cycle into the FPBL instead of trusting the node's OS to return it by kexec")
    .option('--keep-disk', 'keep the disk a deploy --disk booted from (default: it is deleted)')
    .option('--wait', 'wait until the node is ready again')
    .option('--json', 'print JSON');

  define(node, 'provision-status <node>', "The node's provisioning state", 'hil node provision-status node1', async (name: string, o: JsonOption) =>
    printStatus(await client().node.provisioning(name), o),
  ).option('--json', 'print JSON');
}
