import type { Faults } from './model.ts';

/**
 * Whether a command has hung the emulated switch (Faults.hangAfterCommands):
 * DeviceState.change counts it down past zero on the command that hangs.
 * From then on the switch answers no session or request, old or new.
 */
export function isHung(faults: Faults): boolean {
  return faults.hangAfterCommands !== undefined && faults.hangAfterCommands < 0;
}

/** Waits forever once the switch hung; at once otherwise. */
export async function stillAnswering(faults: Faults): Promise<void> {
  if (isHung(faults)) await new Promise<never>(() => {});
}
