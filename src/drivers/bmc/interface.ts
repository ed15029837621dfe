/**
 * What a built-in BMC driver must provide. Each call may block on the BMC;
 * the OBM service bounds every call with the configured timeout and turns
 * failures into OBMError. Secret fields are never returned or logged.
 */

export const BOOT_DEVICES = ['pxe', 'disk', 'none'] as const;
export type BootDevice = (typeof BOOT_DEVICES)[number];

/** `unknown` when the BMC does not say (or does not answer). */
export type PowerState = 'on' | 'off' | 'unknown';

export interface ObmTarget {
  nodeLabel: string;
  /** The driver fields given at registration, secrets included. */
  params: Record<string, unknown>;
}

/** An interactive console: what the node prints, and a way to type into it. */
export interface ConsoleSession {
  output: AsyncIterable<Uint8Array>;
  write(data: Uint8Array): void;
}

export interface ObmDriver {
  /** The `type` of `{"obm": {"type": ...}}` at node registration. */
  readonly type: string;
  /** False for BMCs without a serial console (Redfish): the console routes then answer 501. */
  readonly hasConsole?: boolean;
  /** Field names whose values are secrets (redacted from logs). */
  readonly secretFields: readonly string[];
  /** Throws BadArgumentError naming the first bad field. */
  validateParams(params: Record<string, unknown>): void;
  /** Idempotent: powering on a node that is on is not an error. */
  setPower(t: ObmTarget, action: 'on' | 'off'): Promise<void>;
  /** force: hard reset; otherwise an orderly (ACPI) cycle where the BMC can. */
  powerCycle(t: ObmTarget, force: boolean): Promise<void>;
  powerStatus(t: ObmTarget): Promise<PowerState>;
  /** persistent: every boot from now on; otherwise the next boot only. */
  setBootDevice(t: ObmTarget, device: BootDevice, persistent: boolean): Promise<void>;
  /** The serial console as a byte stream; ends when `signal` aborts. */
  console(t: ObmTarget, signal: AbortSignal): AsyncIterable<Uint8Array>;
  /** Optional: the console with input too (WebSocket clients). Without it the console is read-only. */
  openConsole?(t: ObmTarget, signal: AbortSignal): ConsoleSession;
}
