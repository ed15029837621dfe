/**
 * The base HIL's nodes as a derived HIL's pool manager sees them: the base
 * project's nodes, the base's free pool, a node's NICs, and taking a node
 * into the base project or giving it back. Failures carry the base's words.
 */
import { atBase, type Upstream } from './upstream.ts';

export interface BaseNic {
  label: string;
  macaddr: string | null;
}

export interface BaseNodes {
  /** The nodes the base project owns. */
  owned(): Promise<string[]>;
  /** The base's free nodes. */
  free(): Promise<string[]>;
  nics(node: string): Promise<BaseNic[]>;
  /** Into the base project. */
  take(node: string): Promise<void>;
  /** Back to the base's free pool (the base refuses a node whose OBM is enabled, so it is disabled first). */
  giveBack(node: string): Promise<void>;
}

export function baseNodes(up: Upstream): BaseNodes {
  return {
    owned: () => atBase(`listing the nodes of project ${up.project}`, () => up.client.project.nodes(up.project)),
    free: () => atBase('listing free nodes', () => up.client.node.list('free')),
    nics: async (node) => (await atBase(`showing node ${node}`, () => up.client.node.show(node))).nics,
    take: (node) => atBase(`taking node ${node} into project ${up.project}`, () => up.client.project.connectNode(up.project, node)),
    async giveBack(node) {
      await atBase(`disabling the OBM of node ${node}`, () => up.client.node.disableObm(node));
      await atBase(`returning node ${node} to the free pool`, () => up.client.project.detachNode(up.project, node));
    },
  };
}
