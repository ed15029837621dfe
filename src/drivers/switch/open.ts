/** Opens a session with a stored switch, its registration fields parsed by its driver. */
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
