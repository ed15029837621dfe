/**
 * The client side of ./routes/internal.routes.ts: how this process reads a
 * console another process holds. A relayed stream that ends without the
 * holder saying so (it was killed, it stopped holding the console) fails,
 * so that the reader follows the console to its next holder.
 */
import type { ConsolePeer, ConsolePeers } from '../core/console-peers.ts';
import { INTERNAL_PREFIX, INTERNAL_TOKEN_HEADER } from './routes/internal.routes.ts';

const headers = (peer: ConsolePeer) => ({ [INTERNAL_TOKEN_HEADER]: peer.token });
/** Connecting to a live peer on the same network takes milliseconds; a dead one must not hold a reader for long. */
const CONNECT_TIMEOUT_MS = 2000;

export function consolePeersClient(): ConsolePeers {
  return {
    async *stream(peer, nodeId, signal) {
      const res = await fetch(`${peer.address}${INTERNAL_PREFIX}/console/${nodeId}`, { headers: headers(peer), signal: AbortSignal.any([signal, AbortSignal.timeout(CONNECT_TIMEOUT_MS)]) }).catch(() => null);
      if (!res?.ok || !res.body) {
        await res?.body?.cancel();
        throw new Error(`the console of node ${nodeId} is not held at ${peer.address}`);
      }
      // The connect timeout must not cut the stream itself: read under the caller's signal only.
      const reader = res.body.getReader();
      const cancel = () => void reader.cancel().catch(() => {});
      signal.addEventListener('abort', cancel, { once: true });
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          yield value;
        }
      } finally {
        signal.removeEventListener('abort', cancel);
      }
      // The holder ended this reader's stream itself (displaced, disabled): a normal end.
    },

    async log(peer, nodeId, projectId) {
      const res = await fetch(`${peer.address}${INTERNAL_PREFIX}/console/${nodeId}/log?project=${projectId ?? ''}`, { headers: headers(peer), signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`the console log of node ${nodeId} is not at ${peer.address}`);
      return Buffer.from(await res.arrayBuffer());
    },

    async write(peer, nodeId, data) {
      await fetch(`${peer.address}${INTERNAL_PREFIX}/console/${nodeId}/input`, {
        method: 'POST',
        headers: { ...headers(peer), 'content-type': 'application/octet-stream' },
        body: data,
        signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS),
      });
    },
  };
}
