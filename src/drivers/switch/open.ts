/** Opens a session with a stored switch, its registration fields parsed by its driver. */
import { withTimeout } from '../../util/timeout.ts';
import type { SessionFence, SwitchDriver, SwitchSession } from './interface.ts';

export interface StoredSwitch {
  id: number;
  label: string;
  /** The registration fields as stored (JSON). */
  params: string;
}

export function openSwitchSession(driver: SwitchDriver, sw: StoredSwitch, fence?: SessionFence): Promise<SwitchSession> {
  const params = driver.params.parse(JSON.parse(sw.params) as Record<string, unknown>);
  return driver.openSession({ id: sw.id, label: sw.label, params }, fence);
}

/**
 * `open()` bounded by `ms`. A login the caller gave up on may still succeed
 * later (an SSH login has timeouts of its own): that session is closed as
 * soon as it opens, instead of staying logged in with no one to close it.
 */
export async function openWithin(ms: number, label: string, open: () => Promise<SwitchSession>): Promise<SwitchSession> {
  const opening = open();
  try {
    return await withTimeout(ms, `connecting to switch ${label}`, () => opening);
  } catch (err) {
    opening.then((late) => late.close()).catch(() => {});
    throw err;
  }
}
