/**
 * The plumbing of a network's VPN namespace, each step idempotent: make what
 * is missing, correct what differs, leave what is right alone (so a second
 * apply changes nothing and a running tunnel is not disturbed).
 */
import { attempt, inNetns, ip, run } from './run.ts';

/** Named network namespaces on this host (`ip netns list` prints "name (id: n)"). */
export async function listNamespaces(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
}

export async function ensureNamespace(ns: string): Promise<void> {
  if (!(await listNamespaces()).includes(ns)) await run('ip', ['netns', 'add', ns]);
  await ip(ns, 'link', 'set', 'lo', 'up');
}

/** Deleting a namespace deletes every interface in it, and so the far end of each veth. */
export async function deleteNamespace(ns: string): Promise<void> {
  if ((await listNamespaces()).includes(ns)) await run('ip', ['netns', 'delete', ns]);
}

export async function linkExists(netns: string | undefined, dev: string): Promise<boolean> {
  return (await attempt('ip', [...(netns ? ['-n', netns] : []), 'link', 'show', 'dev', dev])).ok;
}

export async function deleteLink(netns: string | undefined, dev: string): Promise<void> {
  if (await linkExists(netns, dev)) await ip(netns, 'link', 'delete', 'dev', dev);
}

/** One end of a veth: its name and the namespace it lives in (undefined: the host's). */
export interface VethEnd {
  name: string;
  netns: string | undefined;
}

/**
 * A veth pair with both ends in place and up. A pair with one end missing
 * (its namespace was recreated, a switch restarted) is made again whole:
 * half a veth cannot be reattached.
 */
export async function ensureVeth(a: VethEnd, b: VethEnd): Promise<void> {
  const [haveA, haveB] = await Promise.all([linkExists(a.netns, a.name), linkExists(b.netns, b.name)]);
  if (!haveA || !haveB) {
    if (haveA) await ip(a.netns, 'link', 'delete', 'dev', a.name);
    if (haveB) await ip(b.netns, 'link', 'delete', 'dev', b.name);
    // Created straight into their namespaces, so neither name passes through the host's (where it might be taken).
    const where = (e: VethEnd) => (e.netns ? ['netns', e.netns] : []);
    await run('ip', ['link', 'add', a.name, ...where(a), 'type', 'veth', 'peer', 'name', b.name, ...where(b)]);
  }
  await ip(a.netns, 'link', 'set', 'dev', a.name, 'up');
  await ip(b.netns, 'link', 'set', 'dev', b.name, 'up');
}

/** Makes `dev`'s IPv4 addresses exactly `cidrs`. */
export async function setAddresses(netns: string | undefined, dev: string, cidrs: string[]): Promise<void> {
  const out = await ip(netns, '-j', '-4', 'addr', 'show', 'dev', dev);
  const parsed = JSON.parse(out || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[];
  const have = (parsed[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
  for (const extra of have.filter((c) => !cidrs.includes(c))) await ip(netns, 'addr', 'del', extra, 'dev', dev);
  for (const missing of cidrs.filter((c) => !have.includes(c))) await ip(netns, 'addr', 'add', missing, 'dev', dev);
}

export async function setDefaultRoute(netns: string, via: string, dev: string): Promise<void> {
  await ip(netns, 'route', 'replace', 'default', 'via', via, 'dev', dev);
}

/** Turns IPv4 forwarding on inside `netns` (the host's when undefined); tee, not sysctl, which procps may lack. */
export async function enableForwarding(netns: string | undefined): Promise<void> {
  const args = ['/proc/sys/net/ipv4/ip_forward'];
  if (netns) await inNetns(netns, 'tee', args, { input: '1\n' });
  else await run('tee', args, { input: '1\n' });
}

/**
 * Has the veth compute its own checksums. Open vSwitch's userspace datapath
 * (the lab's) forwards a frame a veth left to checksum offload without
 * filling the checksum in, and the receiver drops it.
 */
export async function disableTxChecksumOffload(netns: string | undefined, dev: string): Promise<void> {
  const args = ['-K', dev, 'tx', 'off'];
  if (netns) await inNetns(netns, 'ethtool', args);
  else await run('ethtool', args);
}

/** Interface names in `netns` (the host's when undefined). */
export async function listLinks(netns: string | undefined): Promise<string[]> {
  const out = await ip(netns, '-j', 'link', 'show');
  return (JSON.parse(out || '[]') as { ifname: string }[]).map((l) => l.ifname);
}
