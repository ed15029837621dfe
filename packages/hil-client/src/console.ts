/**
 * The interactive console, over the server's WebSocket
 * (`/v0/node/<node>/console/ws`): what the node prints, and input typed into
 * its serial line. Node's WebSocket client sends the Basic credentials as a
 * header, or the bearer token (browsers cannot; they use the streaming `console` route).
 */
import { HilApiError, type HttpClient } from './http.ts';

export interface InteractiveConsole {
  /** Console output until the server closes the console, the socket drops, or `close()`. */
  output: AsyncIterable<Uint8Array>;
  /** Typed into the node's serial line (dropped once the console is closed). */
  write(data: Uint8Array): void;
  close(): void;
}

/** `kind`: whose console, a node's or a headnode's (the same WebSocket protocol). */
export async function openInteractiveConsole(http: HttpClient, node: string, signal?: AbortSignal, kind: 'node' | 'headnode' = 'node'): Promise<InteractiveConsole> {
  if (typeof WebSocket === 'undefined') {
    throw new HilApiError('ConnectionError', 'the interactive console needs a WebSocket client: Node.js 22 or newer (this is ' + runtime() + '); the read-only console() works everywhere', 0);
  }
  const url = http.url([kind, node, 'console', 'ws']).replace(/^http/, 'ws');
  const authorization = await http.authorization();
  const headers: Record<string, string> = authorization ? { authorization } : {};
  const socket = new WebSocket(url, { headers } as unknown as string[]); // Node's WebSocket takes { headers }
  socket.binaryType = 'arraybuffer';
  const chunks: Uint8Array[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  socket.addEventListener('message', (e) => {
    chunks.push(typeof e.data === 'string' ? new TextEncoder().encode(e.data) : new Uint8Array(e.data as ArrayBuffer));
    poke();
  });
  socket.addEventListener('close', () => {
    ended = true;
    poke();
  });
  const close = () => socket.close();
  signal?.addEventListener('abort', close, { once: true });

  const opened = await new Promise<boolean>((resolve) => {
    socket.addEventListener('open', () => resolve(true), { once: true });
    socket.addEventListener('error', () => resolve(false), { once: true });
  });
  if (!opened) throw await whyRefused(http, node);

  async function* output(): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        const chunk = chunks.shift();
        if (chunk) yield chunk;
        else if (ended) return;
        else await new Promise<void>((r) => (wake = r));
      }
    } finally {
      close();
      signal?.removeEventListener('abort', close);
    }
  }
  return {
    output: output(),
    write: (data) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(data as Uint8Array<ArrayBuffer>); // a view of a SharedArrayBuffer cannot be sent; ours never are
    },
    close,
  };
}

function runtime(): string {
  const version = (globalThis as { process?: { version?: string } }).process?.version;
  return version ? `Node.js ${version}` : 'a runtime without WebSocket';
}

/**
 * A WebSocket that fails to open says nothing of why (401, 404, OBM not
 * enabled): ask the same question over plain HTTP to hear the server's error.
 */
async function whyRefused(http: HttpClient, node: string): Promise<HilApiError> {
  const probe = new AbortController();
  try {
    await http.send('GET', ['node', node, 'console'], { signal: probe.signal });
    return new HilApiError('ConnectionError', `the console WebSocket of node ${node} at ${http.endpoint} could not be opened`, 0);
  } catch (err) {
    return err instanceof HilApiError ? err : new HilApiError('ConnectionError', (err as Error).message, 0, { cause: err });
  } finally {
    probe.abort();
  }
}
