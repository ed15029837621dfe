/**
 * The shape every switch emulator in this directory shares. An emulator is
 * a vendor's management plane (an SSH CLI, or an HTTP API) in front of a
 * stateful model of that vendor's ports and VLANs, with its quirks; what
 * the model makes each port carry is its *effective* VLANs, which a
 * backing applies to a real Open vSwitch bridge, so namespace nodes send
 * real packets through an emulated "Nexus".
 *
 * The emulators are written from the vendors' public CLI and API
 * references (and shared/notes/imaging-switches-auth.md §B). They are test
 * code: they listen on 127.0.0.1 only.
 */
import type { PortVlans } from '../../../src/drivers/switch/port-vlans.ts';

/** Where an emulated port's effective VLANs go: a real data plane, or nowhere. */
export interface PortBacking {
  /** Called after every configuration change, with the effective VLANs of each port whose effective VLANs changed. Synchronous from the emulator's view: it awaits this before printing the next prompt. */
  apply(changes: ReadonlyMap<string, PortVlans>): Promise<void>;
  close(): Promise<void>;
}

/** Faults a test can switch on while the emulator runs. */
export interface Faults {
  /** Configuration commands are refused with the vendor's "configuration locked" message. */
  configLocked?: boolean;
  /** After this many more configuration commands the emulator stops answering (a hung switch): it reads but never prints again. */
  hangAfterCommands?: number;
  /** After this many more configuration commands the emulator process exits at once (SIGKILL-like; only for emulators run as a child process, see process.ts); the running configuration up to that command is kept in its state file, as a switch's data plane keeps forwarding. */
  dieAfterCommands?: number;
}

export interface EmulatorOptions {
  /** The vendor's port names the device has, e.g. ["Ethernet1/1", …]. */
  ports: string[];
  /** Login accepted (SSH password auth, or HTTP Basic). */
  username: string;
  password: string;
  /** The switch's hostname, shown in its prompt. Default: the vendor's usual ("switch", "console"…). */
  hostname?: string;
  /** Where to keep running and startup configuration between runs (JSON); absent: memory only. */
  stateFile?: string;
  /** Applies effective VLANs to a data plane (ovs-backing.ts). */
  backing?: PortBacking;
  /** An SSH host key (PEM, OpenSSH or PKCS#1/8) to present; default: one generated per emulator. */
  hostKey?: string;
  faults?: Faults;
  /** The TCP port to listen on (127.0.0.1); default: any free one. A restarted switch keeps its address. */
  listenPort?: number;
}

export interface RunningEmulator {
  /** The vendor, e.g. "nexus". */
  readonly vendor: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** SSH emulators: the host key's fingerprint as OpenSSH prints it ("SHA256:…"). */
  readonly hostKeyFingerprint?: string;
  /** What each port carries now (effective VLANs), for tests to compare with what HIL asked. */
  effective(port: string): PortVlans;
  /** Every command (or HTTP request line) received, in order, for tests. */
  readonly log: readonly string[];
  /** The fault switches, changeable while it runs. */
  readonly faults: Faults;
  /** Running vs startup: whether the running configuration has unsaved changes. */
  readonly unsaved: boolean;
  /** Drops every session at once, as a switch whose management plane restarts. */
  dropSessions(): void;
  close(): Promise<void>;
}

/**
 * What the shared tests (contract, isolation, verify after a kill, error
 * output, host keys) need to know about one vendor: each vendor file in this
 * directory exports one, and ./index.ts lists them.
 */
export interface VendorFixture {
  /** Short name, e.g. "nexus"; also the emulator's `vendor`. */
  vendor: string;
  /** The driver's type URL, e.g. "http://schema.massopencloud.org/haas/v0/switches/nexus". */
  type: string;
  /** Whether the management plane is SSH (host keys apply) or HTTP. */
  transport: 'ssh' | 'http';
  /** Port names the emulator should have (at least 12), in the vendor's spelling as HIL registers them. */
  ports: string[];
  /** Well-formed port names the device does not have. */
  missingPorts: string[];
  /** Names the driver's validatePortName must refuse. */
  badPortNames: string[];
  /** Starts the vendor's emulator in this process. */
  start(o: EmulatorOptions): Promise<RunningEmulator>;
  /** The registration fields (besides "type") for a running emulator, as an admin sends them. */
  fields(e: RunningEmulator, o: { username: string; password: string }): Record<string, unknown>;
  /** Upstream's registration body for this type (spec §11), with hostname/username/password placeholders: it must be accepted unchanged. */
  upstreamBody: Record<string, unknown>;
  /** A VLAN this vendor refuses, and the vendor's words for it; `tagged`: refused only as a tagged VLAN (OS9's default VLAN 1). */
  invalidVlan: { vlan: number; message: RegExp; tagged?: boolean };
  /** The vendor's words for a port it does not have (as the driver's error carries them). */
  missingPortMessage: RegExp;
  /** The vendor's words when the configuration is locked (Faults.configLocked). */
  configLockedMessage: RegExp;
  /** What an untouched port reads as through the driver, when not as an isolated port (nothing), and why. */
  untouched?: { reads: { channel: string; networkId: string }[]; why: string };
}
