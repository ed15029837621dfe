/**
 * This host's Open vSwitch, as headnodes use it: a headnode's tap is an
 * access port of its hnic's network's VLAN, or not on the bridge at all
 * while the hnic has no network. ovs-vsctl waits for ovs-vswitchd to apply
 * each change, so a VM started after `plug` is on its network.
 */
import type { HostSwitchSettings } from '../config/headnode-settings.ts';
import { runTool } from '../util/run-tool.ts';

export class HostSwitch {
  readonly #s: HostSwitchSettings;

  constructor(s: HostSwitchSettings) {
    this.#s = s;
  }

  get netns(): string | undefined {
    return this.#s.netns;
  }

  /** Puts `port` on the bridge tagged `vlan` (null: off the bridge), and up (QEMU leaves the taps it makes down). Idempotent. */
  async plug(port: string, vlan: number | null, signal?: AbortSignal): Promise<void> {
    if (vlan === null) return this.unplug(port, signal);
    await this.#vsctl(['--may-exist', 'add-port', this.#s.bridge, port, '--', 'set', 'port', port, `tag=${vlan}`], signal);
    const ns = this.#s.netns ? ['-n', this.#s.netns] : [];
    await runTool('ip', [...ns, 'link', 'set', port, 'up'], { signal, timeoutMs: 10_000 });
  }

  async unplug(port: string, signal?: AbortSignal): Promise<void> {
    await this.#vsctl(['--if-exists', 'del-port', this.#s.bridge, port], signal);
  }

  /** The bridge's ports whose names start with `prefix`. */
  async ports(prefix: string, signal?: AbortSignal): Promise<string[]> {
    const out = await this.#vsctl(['list-ports', this.#s.bridge], signal);
    return out.split('\n').filter((p) => p.startsWith(prefix));
  }

  #vsctl(args: string[], signal?: AbortSignal): Promise<string> {
    const db = this.#s.ovsdb ? [`--db=${this.#s.ovsdb}`] : [];
    return runTool('ovs-vsctl', [...db, '--timeout=20', ...args], { signal, timeoutMs: 30_000 });
  }
}
