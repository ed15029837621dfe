/**
 * How a deploy's FPBL learns that its boot NIC has reached the boot network
 * (docs/fast-provisioning.md, "Told to jump"): it takes the node's fixed
 * address there before the move, and asks the boot server's `deployed` URL
 * until it answers "jump", which it does once every NIC of the node is where
 * the deploy wanted it. Reaching that server at all proves the NIC left the
 * provisioning network; its answer proves HIL is done with the others.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import { BOOT_PREFIX_LENGTH, bootAddress, bootServerUrl, storageAddress, type BootSubnets } from './boot-addresses.ts';

export interface JumpProbe {
  /** The node's address on its boot network, with the prefix length (10.130.0.2/24). */
  address: string;
  /** The boot server's URL that answers "jump". */
  url: string;
  /** The boot server itself (http://<storage address>:<port>), which relays a returning OS's reports (src/exports/agent-relay.ts). */
  server: string;
}

export async function jumpProbeOf(db: Kysely<Database>, boot: { subnets: BootSubnets; httpPort: number }, nodeId: number): Promise<JumpProbe | undefined> {
  const row = await db
    .selectFrom('node_boot')
    .innerJoin('nic', 'nic.id', 'node_boot.nic_id')
    .innerJoin('boot_network', 'boot_network.id', 'node_boot.boot_network_id')
    .select(['nic.macaddr', 'boot_network.subnet', 'node_boot.host'])
    .where('node_boot.node_id', '=', nodeId)
    .executeTakeFirst();
  if (!row?.macaddr) return undefined;
  const storage = storageAddress(boot.subnets, row.subnet);
  return {
    address: `${bootAddress(boot.subnets, row.subnet, row.host)}/${BOOT_PREFIX_LENGTH}`,
    url: bootServerUrl(storage, boot.httpPort, row.macaddr.toLowerCase(), 'deployed'),
    server: `http://${storage}:${boot.httpPort}`,
  };
}
