/** Waiting for networking actions with visible progress (--wait, --force). */
import type { HilClient, NetworkingAction } from '../client/index.ts';
import { CliError, waitTimeoutMs } from './context.ts';
import { progress } from './output.ts';

export async function waitAndReport(client: HilClient, statusId: string, what: string): Promise<NetworkingAction> {
  const started = Date.now();
  let shown = false;
  const action = await client.waitForAction(statusId, {
    timeoutMs: waitTimeoutMs(),
    onPoll: (_a, elapsed) => {
      if (!shown && elapsed > 250) {
        progress(`${what}: waiting for the switch (action ${statusId})…`);
        shown = true;
      }
    },
  });
  const ms = Date.now() - started;
  if (action.status === 'ERROR') throw new CliError(`${what} failed: ${action.error ?? 'the switch reported an error'} (action ${statusId})`);
  progress(`${what}: ${action.status} in ${ms} ms`);
  return action;
}
