/**
 * A running `script -qfec "ipmitool … sol activate" /dev/null`: the serial
 * console of one IPMI BMC, its output queue, the input typed into it, and
 * its teardown.
 */
import type { ChildProcess } from 'node:child_process';
import { OBMError } from '../../../errors.ts';

/** ipmitool's output and errors on one line. */
export function oneLine(text: string): string {
  return text.replace(/\r/g, '').trim().split('\n').filter(Boolean).join('; ');
}

/** A running `script -c "ipmitool ... sol activate"`: its output queue and its teardown. */
export class SolSession {
  readonly queue: Buffer[] = [];
  exited = false;
  spawnError: Error | null = null;
  stderr = '';
  #wake: (() => void) | null = null;
  readonly #exit: Promise<void>;

  readonly child: ChildProcess;
  readonly grace: number;

  constructor(child: ChildProcess, grace: number) {
    this.child = child;
    this.grace = grace;
    this.#exit = new Promise<void>((resolve) => {
      child.once('close', () => {
        this.exited = true;
        this.poke();
        resolve();
      });
    });
    child.once('error', (err) => {
      this.spawnError = err;
      this.exited = true;
      this.poke();
    });
    child.stdin!.on('error', () => {});
    child.stdout!.on('data', (d: Buffer) => {
      this.queue.push(d);
      this.poke();
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
  }

  poke(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Until output, exit, abort or poke. */
  async wait(signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.queue.length || this.exited) return;
    const onAbort = () => this.poke();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((r) => (this.#wake = r));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** The next chunk of console output; null once the reader is gone. Throws if the session dies. */
  async next(signal: AbortSignal): Promise<Buffer | null> {
    for (;;) {
      if (signal.aborted) return null;
      const chunk = this.queue.shift();
      if (chunk) return chunk;
      if (this.exited) throw new OBMError(`the SOL session ended: ${oneLine(this.stderr) || 'ipmitool exited'}`);
      await this.wait(signal);
    }
  }

  #lineStart = true;

  /**
   * Input for the node. ipmitool takes `~` at the start of a line as its
   * escape character (`~.` ends the session), so such a `~` is sent as `~~`.
   */
  type(data: Uint8Array): void {
    if (this.exited || this.#closing) return;
    const out: number[] = [];
    for (const b of data) {
      if (b === 0x7e && this.#lineStart) out.push(0x7e);
      out.push(b);
      this.#lineStart = b === 0x0d || b === 0x0a;
    }
    this.child.stdin!.write(Buffer.from(out));
  }

  #closing = false;

  /** `~.`, then SIGTERM and SIGKILL, each after the grace period. */
  async close(): Promise<void> {
    const waitExit = (ms: number) => Promise.race([this.#exit, new Promise<void>((r) => setTimeout(r, ms).unref())]);
    this.#closing = true;
    if (this.exited) return;
    this.child.stdin!.write('\r~.');
    await waitExit(this.grace);
    if (this.exited) return;
    this.child.kill('SIGTERM');
    await waitExit(this.grace);
    if (this.exited) return;
    this.child.kill('SIGKILL');
    await waitExit(this.grace);
  }
}
