/**
 * What a BMC type provides, composed the way Ironic composes hardware types:
 * a power interface, and where the BMC has them a boot-device interface and
 * a serial-console interface. A type without one answers that interface's
 * OBM routes with 501. Some BMCs are run by another service (obmd): such a
 * type delegates instead, and callers are sent there (307).
 *
 * Adding a type: a file exporting a BmcDriver, one line in ./index.ts (the
 * catalog), one row in the BMC contract suite (test/drivers/bmc/contract.test.ts).
 * Each call may block on the BMC; the OBM service bounds every call with the
 * configured timeout and turns failures into OBMError.
 */
import type { DriverParams } from '../params.ts';

export const BOOT_DEVICES = ['pxe', 'disk', 'none'] as const;
export type BootDevice = (typeof BOOT_DEVICES)[number];

/** `unknown` when the BMC answers without a usable state. */
export type PowerState = 'on' | 'off' | 'unknown';

/** The node a call is for, with its BMC's registration fields as the type's params parsed them. */
export interface BmcTarget<P = Record<string, unknown>> {
  nodeLabel: string;
  params: P;
}

export interface PowerInterface<P> {
  /** Idempotent: powering on a node that is on is not an error. */
  setPower(t: BmcTarget<P>, action: 'on' | 'off'): Promise<void>;
  /** force: hard reset; otherwise an orderly (ACPI) cycle where the BMC can. */
  powerCycle(t: BmcTarget<P>, force: boolean): Promise<void>;
  powerStatus(t: BmcTarget<P>): Promise<PowerState>;
}

export interface BootInterface<P> {
  /** persistent: every boot from now on; otherwise the next boot only. */
  setBootDevice(t: BmcTarget<P>, device: BootDevice, persistent: boolean): Promise<void>;
}

/** An open serial console: what the node prints, and, where the line takes input, a way to type into it. */
export interface ConsoleSession {
  output: AsyncIterable<Uint8Array>;
  write?(data: Uint8Array): void;
}

export interface ConsoleInterface<P> {
  /** Opens the console; it ends when `signal` aborts (or the BMC drops it: the holder reopens it). */
  open(t: BmcTarget<P>, signal: AbortSignal): ConsoleSession;
}

/** An OBM operation, as the API names it. */
export type ObmOperation = 'power_on' | 'power_off' | 'power_cycle' | 'power_status' | 'boot_device' | 'console';

/** A BMC that another service drives (obmd): HIL hands out access, the service does the work. */
export interface DelegateInterface<P> {
  /** When the node's OBM is enabled: a fresh credential for the service's node, kept with the node. */
  enable(t: BmcTarget<P>, timeoutMs: number): Promise<string>;
  /** When it is disabled: the credential stops working. */
  disable(t: BmcTarget<P>, timeoutMs: number): Promise<void>;
  /** Where a caller is sent for `op`, with the credential `enable` gave. */
  location(t: BmcTarget<P>, op: ObmOperation, credential: string | null): string;
}

interface BmcType<P> {
  /** The `type` of `{"obm": {"type": ...}}` at node registration. */
  readonly type: string;
  /** The registration fields (validation, secrets, OpenAPI). */
  readonly params: DriverParams<P>;
}

/** A BMC HIL drives itself. */
export interface ManagedBmcDriver<P = any> extends BmcType<P> {
  readonly power: PowerInterface<P>;
  readonly boot?: BootInterface<P>;
  readonly console?: ConsoleInterface<P>;
  readonly delegate?: never;
}

/** A BMC another service drives. */
export interface DelegatingBmcDriver<P = any> extends BmcType<P> {
  readonly delegate: DelegateInterface<P>;
  readonly power?: never;
  readonly boot?: never;
  readonly console?: never;
}

export type BmcDriver<P = any> = ManagedBmcDriver<P> | DelegatingBmcDriver<P>;
