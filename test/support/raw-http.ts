/**
 * Sends bytes to an HTTP server exactly as given, over a fresh TCP
 * connection, and reads back one answer. For what no HTTP client sends:
 * malformed request lines and percent-encoding, oversized URLs and headers,
 * conflicting framing headers.
 */
import { connect } from 'node:net';

export type RawAnswer =
  | { kind: 'answer'; status: number; headers: Record<string, string>; body: string }
  /** The server closed the connection without answering. */
  | { kind: 'closed'; received: string }
  /** No complete answer within the time limit. */
  | { kind: 'timeout'; received: string };

/** The answer once `buf` holds a complete one (head plus Content-Length or chunked body); undefined while more is needed. */
function parse(buf: Buffer, ended: boolean): RawAnswer | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = buf.subarray(headEnd + 4);
  const answer = (body: Buffer): RawAnswer => ({ kind: 'answer', status, headers, body: body.toString('utf8') });
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const chunks: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd < 0) return ended ? answer(Buffer.concat(chunks)) : undefined;
      const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (size === 0) return answer(Buffer.concat(chunks));
      if (rest.length < lineEnd + 2 + size + 2) return ended ? answer(Buffer.concat(chunks)) : undefined;
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = headers['content-length'];
  if (length !== undefined) return rest.length >= Number(length) || ended ? answer(rest.subarray(0, Number(length))) : undefined;
  return ended ? answer(rest) : undefined;
}

/** Writes `request` to host:port and resolves with the first answer (or what happened instead). */
export async function rawRequest(port: number, request: string | Buffer, timeoutMs = 5000, host = '127.0.0.1'): Promise<RawAnswer> {
  const connection = await rawConnection(port, host).catch(() => undefined);
  return connection ? connection.send(request, timeoutMs) : { kind: 'closed', received: '' };
}

export interface RawConnection {
  /** Writes `request` and resolves with the first answer (or what happened instead); then the connection is gone. */
  send(request: string | Buffer, timeoutMs?: number): Promise<RawAnswer>;
}

/** A TCP connection made now, for a request sent later (what a server sees from a client that connects ahead). */
export function rawConnection(port: number, host = '127.0.0.1'): Promise<RawConnection> {
  return new Promise((resolveConnected, rejectConnected) => {
    const socket = connect({ port, host });
    let buf = Buffer.alloc(0);
    let ended = false;
    let onChange: (() => void) | undefined;
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      onChange?.();
    });
    const end = () => {
      ended = true;
      onChange?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    // A reset after the server answered still leaves the answer in `buf`.
    socket.on('error', end);
    socket.once('error', rejectConnected);
    socket.once('connect', () => {
      socket.off('error', rejectConnected);
      resolveConnected({
        send(request, timeoutMs = 5000) {
          return new Promise((resolve) => {
            const finish = (a: RawAnswer) => {
              onChange = undefined;
              clearTimeout(timer);
              socket.destroy();
              resolve(a);
            };
            const timer = setTimeout(() => finish({ kind: 'timeout', received: buf.toString('latin1') }), timeoutMs);
            onChange = () => {
              const a = parse(buf, ended) ?? (ended ? { kind: 'closed' as const, received: buf.toString('latin1') } : undefined);
              if (a) finish(a);
            };
            if (!ended) socket.write(request);
            onChange();
          });
        },
      });
    });
  });
}
