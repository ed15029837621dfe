/**
 * What a switch model must provide. Adding a model is one file implementing
 * SwitchDriver, one line in ./index.ts (the catalog), and one row in the
 * switch contract suite (test/drivers/switch/contract.test.ts).
 *
 * Channels follow upstream: "vlan/native" is the port's untagged VLAN,
 * "vlan/<n>" a tagged (trunk) VLAN, "null" the channel of the null allocator.
 */

import type { DriverParams } from '../params.ts';

export const TYPE_PREFIX = 'http://schema.massopencloud.org/haas/v0/switches/';

export interface SwitchRecord<P = Record<string, unknown>> {
  id: number;
  label: string;
  /** The driver fields given at registration, secrets included, as the driver's params parsed them. */
  params: P;
}

/** One change to a port, as the networking worker hands it to a session. */
export type PortChange =
  | { op: 'modify'; port: string; channel: string; networkId: string | null; action?: string }
  | { op: 'revert'; port: string; action?: string };

/**
 * Which worker may change the switch, and under which generation of its
 * claim on it (docs/operations.md, "Claims"). The worker stops before any
 * call once its claim may have passed to another; a device that can keep a
 * fencing token would refuse an older generation. The mock switch records
 * both with every call, so tests can prove no fenced holder changed it.
 */
export interface SessionFence {
  holder: string;
  generation: number;
}

export interface PortNetwork {
  channel: string;
  networkId: string;
}

export interface SwitchDriver<P = any> {
  /** Upstream's api_name, e.g. "http://schema.massopencloud.org/haas/v0/switches/mock". */
  readonly type: string;
  /** Reported by GET /v0/active_extensions, e.g. "hil.ext.switches.mock". */
  readonly extensionName: string;
  /** The registration fields (validation, secrets, OpenAPI). */
  readonly params: DriverParams<P>;
  /** Throws BadArgumentError when the switch could not have such a port. */
  validatePortName(port: string): void;
  capabilities(): string[];
  /**
   * Opens a session for applying several changes in a row (one login, one
   * save). May block on the network; the worker bounds it with a timeout.
   */
  openSession(sw: SwitchRecord<P>, fence?: SessionFence): Promise<SwitchSession>;
  /**
   * Optional: the SSH host key HIL trusts for this switch ("SHA256:…"), pinned
   * at registration or recorded on first use; null before the first
   * connection. Shown to the admin by GET /v0/switch/<name>.
   */
  hostKey?(sw: SwitchRecord<P>): Promise<string | null>;
}

/**
 * One conversation with a switch. Every method is idempotent: applying the
 * same change twice leaves the port as applying it once, which is what makes
 * re-running an action after a crash safe.
 */
export interface SwitchSession {
  /**
   * Puts `networkId` on `channel` of `port`, or removes that channel when
   * null. `action` names the networking action (its uuid) for drivers that
   * log it; most ignore it.
   */
  modifyPort(port: string, channel: string, networkId: string | null, action?: string): Promise<void>;
  /** Removes every VLAN from `port`. */
  revertPort(port: string, action?: string): Promise<void>;
  /**
   * Optional: applies several changes, in order, as one unit (all or none),
   * e.g. one OVSDB transaction. Without it the worker calls modifyPort and
   * revertPort one change at a time. Idempotent like the single calls.
   */
  applyBatch?(changes: PortChange[]): Promise<void>;
  /** What the switch says each port carries, for drift detection. */
  getPortNetworks(ports: string[]): Promise<Map<string, PortNetwork[]>>;
  close(): Promise<void>;
}
