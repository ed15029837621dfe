/**
 * A data plane for driver tests: it records what each emulated port is made
 * to carry after every configuration change, in order, so a test can check
 * every intermediate state, not only the last. hold() makes the next change
 * that reaches it wait until released: the command or request that made it
 * gets no answer meanwhile, as from a slow switch.
 */
import type { PortVlans } from '../../../src/drivers/switch/port-vlans.ts';
import type { PortBacking } from './model.ts';

export interface RecordingBacking extends PortBacking {
  /** [port, what it carries] after each change, oldest first. */
  readonly history: Array<[string, PortVlans]>;
  /** What `port` was made to carry, change by change. */
  of(port: string): PortVlans[];
  hold(): { reached(): Promise<void>; release(): void };
}

export function recordingBacking(): RecordingBacking {
  const history: Array<[string, PortVlans]> = [];
  let gate: Promise<void> | null = null;
  let held = false;
  return {
    history,
    of: (port) => history.filter(([p]) => p === port).map(([, v]) => v),
    async apply(changes) {
      for (const [port, v] of changes) history.push([port, v]);
      if (gate) {
        held = true;
        await gate;
      }
    },
    async close() {},
    hold() {
      let release!: () => void;
      held = false;
      gate = new Promise<void>((r) => (release = r));
      return {
        /** Resolves once a change is being held. */
        reached: async () => {
          while (!held) await new Promise((r) => setTimeout(r, 5));
        },
        release: () => {
          gate = null;
          release();
        },
      };
    },
  };
}
