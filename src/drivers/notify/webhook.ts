/**
 * The maintenance service of upstream HIL: told by POST {"node": label} when
 * a node enters the maintenance project. A failure is only a warning (as
 * upstream): the node is already there.
 */
import type { Logger } from 'pino';
import type { Notifier } from './interface.ts';

export function webhookNotifier(url: string, o: { timeoutMs: number; log: Logger }): Notifier {
  return {
    async nodeArrived(node) {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ node }),
          signal: AbortSignal.timeout(o.timeoutMs),
        });
        await res.body?.cancel();
        if (!res.ok) o.log.warn({ node, url, status: res.status }, 'maintenance service refused node');
      } catch (err) {
        o.log.warn({ node, url, err: (err as Error).message }, 'maintenance service unreachable');
      }
    },
  };
}
