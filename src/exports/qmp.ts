/**
 * A small QMP client (QEMU's JSON monitor protocol over a unix socket): one
 * command at a time, events skipped. Enough to drive a qemu-storage-daemon:
 * add a block node, push an overlay, quit.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { untilAborted } from '../util/timeout.ts';

export class QmpError extends Error {}

export class Qmp {
  readonly #socket: Socket;
  #buffer = '';
  readonly #lines: string[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      for (let i = this.#buffer.indexOf('\n'); i >= 0; i = this.#buffer.indexOf('\n')) {
        this.#lines.push(this.#buffer.slice(0, i));
        this.#buffer = this.#buffer.slice(i + 1);
      }
      this.#wake?.();
    });
    const end = () => {
      this.#closed = true;
      this.#wake?.();
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Connects, reads the greeting and leaves capabilities negotiation mode. */
  static async open(path: string, signal: AbortSignal): Promise<Qmp> {
    const socket = connect(path);
    await untilAborted(once(socket, 'connect'), signal).catch((err: unknown) => {
      socket.destroy();
      throw err;
    });
    const qmp = new Qmp(socket);
    try {
      await qmp.#next(signal); // {"QMP": {...}}
      await qmp.execute('qmp_capabilities', {}, signal);
      return qmp;
    } catch (err) {
      qmp.close();
      throw err;
    }
  }

  async #next(signal: AbortSignal): Promise<Record<string, unknown>> {
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) return JSON.parse(line) as Record<string, unknown>;
      if (this.#closed) throw new QmpError('the QMP connection closed');
      await untilAborted(new Promise<void>((resolve) => (this.#wake = resolve)), signal);
    }
  }

  /** Runs a command; resolves with its return value, rejects with QEMU's error description. */
  async execute(command: string, args: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    this.#socket.write(`${JSON.stringify({ execute: command, arguments: args })}\n`);
    for (;;) {
      const msg = await this.#next(signal);
      if ('return' in msg) return msg.return;
      if ('error' in msg) throw new QmpError(`${command}: ${(msg.error as { desc?: string }).desc ?? JSON.stringify(msg.error)}`);
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}
