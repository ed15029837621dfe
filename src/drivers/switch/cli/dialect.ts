/**
 * What one vendor's CLI looks like to the shared SSH session layer
 * (./ssh-cli.ts, ./cli-session.ts). A vendor driver is a CliDialect plus
 * its registration fields: the session layer logs in, learns the prompt,
 * turns paging off, enters configuration mode, runs the dialect's
 * commands, recognises the vendor's error output and saves; the dialect
 * only says which words to type and how to read `show` output.
 *
 * Every change goes through the same three steps (cli-session.ts):
 *   1. read each port the batch touches (readPort), so that a port the
 *      switch lacks fails the batch before anything is typed;
 *   2. type portCommands(port, as read, as wanted) for each port that
 *      differs, in configuration mode;
 *   3. read the ports again and fail, naming the port, unless each reads
 *      as wanted; then save, if the switch is registered to.
 */
import type { PortVlans } from '../port-vlans.ts';

/** Runs one command at the current prompt and returns what it printed (without the echo and the next prompt). Throws SwitchError with the switch's words when the output matches an error pattern. */
export type RunCommand = (command: string) => Promise<string>;

export interface SaveSequence {
  /** e.g. "copy running-config startup-config". */
  command: string;
  /** A question the switch may ask first, and the answer (PowerConnect: "Overwrite file [startup-config] ?[Yes/press any key for no]" → "Y"). */
  confirm?: { prompt: RegExp; answer: string };
  /** What the switch prints once the copy succeeded; anything else fails the save. */
  success: RegExp;
}

export interface CliDialect {
  /** The device's name in messages, e.g. "Cisco Nexus". */
  readonly device: string;
  /** Lines that mean the switch refused a command; the matching line (and what follows it) becomes the SwitchError's message. */
  readonly errorPatterns: readonly RegExp[];
  /** Typed once after login at the privileged exec prompt: paging off, etc. */
  readonly sessionSetup: readonly string[];
  /** Enters global configuration mode from exec ("configure terminal"). */
  readonly configure: string;
  /** Leaves configuration mode back to exec ("end"). */
  readonly end: string;
  /** Typed in configuration mode once per session before its first change (the N3000's and Nexus's dummy VLAN, VLANs the batch needs). */
  prepare?(vlansNeeded: readonly number[]): string[];
  /**
   * The commands, typed in global configuration mode, that take `port` from
   * `from` (as read) to `to`. They must leave the session in global
   * configuration mode again (e.g. end with "exit" from interface mode).
   */
  portCommands(port: string, from: PortVlans, to: PortVlans): string[];
  /** What the port carries, read with `show` commands at the exec prompt. A port the switch lacks: a SwitchError naming the port. */
  readPort(run: RunCommand, port: string): Promise<PortVlans>;
  /** How to save the running configuration; absent when the switch saves by itself. */
  readonly save?: SaveSequence;
}
