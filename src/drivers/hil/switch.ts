/**
 * The `hil` switch of a derived HIL: the base HIL's switching, seen through
 * the base's public API. A port of this switch stands for one NIC of one base
 * node, and is named "<base node>/<base nic>"; putting a network on it is the
 * base's connect_network of that NIC to the network's base network (the
 * network ID, see the `hil` allocator), and so on down. The derived HIL never
 * learns the base's switches or ports: those are the base's admin objects.
 *
 * Every change waits for the base's own networking action; a base action that
 * ends ERROR, or a base that does not answer, fails the derived action with
 * the base's words. Changes are idempotent (the port's state at the base is
 * read first), which is what lets the worker re-run an action after a crash.
 */
import { Type } from 'typebox';
import { BadArgumentError, SwitchError } from '../../errors.ts';
import { driverParams } from '../params.ts';
import { NATIVE, taggedChannel } from './allocator.ts';
import { atBase, baseActionDone, isNotFound, type Upstream } from './upstream.ts';
import { TYPE_PREFIX, type PortNetwork, type SwitchDriver, type SwitchSession } from '../switch/interface.ts';

export const HIL_SWITCH_TYPE = `${TYPE_PREFIX}hil`;

/** "node/nic" → its parts (a base node's name may contain "/", a NIC's name is taken after the last one). */
export function parseHilPort(port: string): { node: string; nic: string } {
  const i = port.lastIndexOf('/');
  if (i <= 0 || i === port.length - 1) throw new BadArgumentError(`A port of a hil switch is "<base node>/<base nic>", not ${JSON.stringify(port)}.`);
  return { node: port.slice(0, i), nic: port.slice(i + 1) };
}

export const hilPortName = (node: string, nic: string) => `${node}/${nic}`;

/** The base node, as a port's device: a node the base does not have is a port that does not exist. */
async function showNode(up: Upstream, node: string, port: string) {
  try {
    return await atBase(`showing node ${node}`, () => up.client.node.show(node));
  } catch (err) {
    if (isNotFound(err)) throw new SwitchError(`base HIL: node ${node} does not exist (port ${port})`, { cause: err });
    throw err;
  }
}

/** The base networks on the NIC, by base channel. */
async function nicNetworks(up: Upstream, node: string, nic: string): Promise<Record<string, string>> {
  const n = (await showNode(up, node, hilPortName(node, nic))).nics.find((x) => x.label === nic);
  if (!n) throw new SwitchError(`base HIL: node ${node} has no nic ${nic}`);
  return n.networks;
}

async function detach(up: Upstream, node: string, nic: string, network: string): Promise<void> {
  const what = `detaching ${node} ${nic} from network ${network}`;
  await baseActionDone(up, what, await atBase(what, () => up.client.node.detachNetwork(node, nic, network)));
}

/** The base's tagged channel of one of its networks ("vlan/<base vlan>"). */
async function baseTagged(up: Upstream, network: string): Promise<string> {
  const shown = await atBase(`showing network ${network}`, () => up.client.network.show(network));
  const tagged = shown.channels.find((c) => c !== NATIVE);
  if (!tagged) throw new SwitchError(`base HIL: network ${network} offers no tagged channel`);
  return tagged;
}

/** One session for every change: each is a call (and a wait) at the base. */
function hilSession(up: Upstream): SwitchSession {
  return {
    async modifyPort(port, channel, networkId) {
      const { node, nic } = parseHilPort(port);
      const attached = await nicNetworks(up, node, nic);
      if (channel === NATIVE) {
        if (attached[NATIVE] === (networkId ?? undefined)) return; // already so
        if (attached[NATIVE]) await detach(up, node, nic, attached[NATIVE]);
        if (networkId === null) return;
        const what = `connecting ${node} ${nic} to network ${networkId}`;
        await baseActionDone(up, what, await atBase(what, () => up.client.node.connectNetwork(node, nic, networkId)));
        return;
      }
      // A tagged channel names its base network: "vlan/<base network>".
      const network = networkId ?? channel.slice('vlan/'.length);
      if (channel !== taggedChannel(network)) throw new SwitchError(`channel ${channel} does not carry network ${network}`);
      const isAttached = Object.entries(attached).some(([ch, n]) => n === network && ch !== NATIVE);
      if (networkId === null) {
        if (isAttached) await detach(up, node, nic, network);
        return;
      }
      if (isAttached) return;
      const baseChannel = await baseTagged(up, network);
      const what = `connecting ${node} ${nic} to network ${network} on ${baseChannel}`;
      await baseActionDone(up, what, await atBase(what, () => up.client.node.connectNetwork(node, nic, network, baseChannel)));
    },

    async revertPort(port) {
      const { node, nic } = parseHilPort(port);
      for (const network of Object.values(await nicNetworks(up, node, nic))) await detach(up, node, nic, network);
    },

    async getPortNetworks(ports) {
      const byNode = new Map<string, Awaited<ReturnType<typeof up.client.node.show>>>();
      const out = new Map<string, PortNetwork[]>();
      for (const port of ports) {
        const { node, nic } = parseHilPort(port);
        if (!byNode.has(node)) byNode.set(node, await showNode(up, node, port));
        const found = byNode.get(node)!.nics.find((x) => x.label === nic);
        if (!found) throw new SwitchError(`base HIL: node ${node} has no nic ${nic}`);
        const networks = found.networks;
        // The base's channels, in this HIL's names.
        out.set(
          port,
          Object.entries(networks).map(([channel, networkId]) => ({ channel: channel === NATIVE ? NATIVE : taggedChannel(networkId), networkId })),
        );
      }
      return out;
    },

    async close() {},
  };
}

export function hilSwitchDriver(up: Upstream): SwitchDriver {
  const session = hilSession(up);
  return {
    type: HIL_SWITCH_TYPE,
    extensionName: 'hil.ext.switches.hil',
    // No fields: its base HIL is this server's [upstream].
    params: driverParams('hil switch', Type.Object({})),
    validatePortName(port) {
      parseHilPort(port);
    },
    capabilities: () => [],
    openSession: async () => session,
  };
}
