/**
 * A small QMP client (QEMU's JSON monitor protocol over a unix socket): one
 * command at a time (a second waits for the first), each with an id its
 * answer must carry, events skipped. A command given up on (its signal
 * aborted) may still be carried out by QEMU, and its late answer is told
 * apart by the id. Enough to drive a qemu-storage-daemon: add a block node,
 * push an overlay, quit.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { untilAborted } from './timeout.ts';

export class QmpError extends Error {}

export class Qmp {
  readonly #socket: Socket;
  #buffer = '';
  readonly #lines: string[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  #nextId = 0;
  /** The command being run: the next one waits for it. */
  #busy: Promise<unknown> = Promise.resolve();

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
  execute(command: string, args: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    const run = this.#busy.catch(() => {}).then(() => this.#run(command, args, signal));
    this.#busy = run;
    return run;
  }

  async #run(command: string, args: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    const id = `hil-${++this.#nextId}`;
    this.#socket.write(`${JSON.stringify({ execute: command, arguments: args, id })}\n`);
    for (;;) {
      const msg = await this.#next(signal);
      if (msg.id !== id) continue; // an event, or the late answer of a command given up on
      if ('return' in msg) return msg.return;
      if ('error' in msg) throw new QmpError(`${command}: ${(msg.error as { desc?: string }).desc ?? JSON.stringify(msg.error)}`);
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}
