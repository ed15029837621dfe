/**
 * A headnode's serial console, from its files (./vm.ts): QEMU writes every
 * byte of the serial line to the console log whoever is connected, so the
 * log and a reader's stream come from that file (any number of readers,
 * nothing held open on the VM); typing goes through the console socket,
 * which QEMU lets one client use at a time — a new interactive session
 * displaces the previous one, as a node's console does.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** The last `maxBytes` of the log (empty when there is none yet). */
export function logTail(path: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const size = statSync(path).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** What the serial line prints from now on, until `signal` aborts or the log goes (the headnode was deleted). */
export async function* followLog(path: string, signal: AbortSignal, pollMs = 100): AsyncGenerator<Buffer> {
  let offset = size(path) ?? 0;
  while (!signal.aborted) {
    const now = size(path);
    if (now === undefined) return;
    if (now < offset) offset = 0; // started afresh
    if (now > offset) {
      const fd = openSync(path, 'r');
      try {
        const buf = Buffer.alloc(Math.min(now - offset, 1 << 20));
        const n = readSync(fd, buf, 0, buf.length, offset);
        offset += n;
        yield buf.subarray(0, n);
      } finally {
        closeSync(fd);
      }
      continue;
    }
    await sleep(pollMs, undefined, { signal }).catch(() => {});
  }
}

function size(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

const sessions = new Map<string, Socket>();

/** Opens the console socket for typing; output still comes from the log. Displaces an earlier session of this process. */
export async function openSerial(socketPath: string, logPath: string, signal: AbortSignal): Promise<{ output: AsyncIterable<Buffer>; write(data: Uint8Array): void }> {
  sessions.get(socketPath)?.destroy();
  const socket = connect(socketPath);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  sessions.set(socketPath, socket);
  const ctl = new AbortController();
  const end = () => {
    ctl.abort();
    socket.destroy();
    if (sessions.get(socketPath) === socket) sessions.delete(socketPath);
  };
  signal.addEventListener('abort', end, { once: true });
  socket.on('close', end);
  socket.on('error', end);
  socket.on('data', () => {}); // the same bytes reach the log; the socket's copy is dropped
  return { output: followLog(logPath, ctl.signal), write: (data) => socket.write(data) };
}
