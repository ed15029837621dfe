/**
 * The line discipline of an emulated switch console: what the client types
 * is buffered, and echoed only as the CLI reads it (so a hung switch echoes
 * nothing), CR, LF and CR LF each end a line, backspace erases, and other
 * control characters (arrows, tab) are dropped, as a CLI without line
 * editing would.
 */
export class Terminal {
  readonly #write: (text: string) => void;
  #input = '';
  #closed = false;
  /** A CR ended the last line; an LF right after it belongs to the same line end. */
  #afterCR = false;
  #wake: (() => void) | null = null;

  constructor(write: (text: string) => void) {
    this.#write = write;
  }

  get closed(): boolean {
    return this.#closed;
  }

  feed(chunk: string): void {
    this.#input += chunk;
    this.#wakeUp();
  }

  close(): void {
    this.#closed = true;
    this.#wakeUp();
  }

  write(text: string): void {
    if (!this.#closed) this.#write(text);
  }

  /** The next line typed (null once the client is gone), echoed unless `echo` is false; the line end is echoed as "\r\n". */
  async readLine(o: { echo?: boolean } = {}): Promise<string | null> {
    const echo = o.echo ?? true;
    let line = '';
    for (;;) {
      const c = await this.#next();
      if (c === null) return null;
      if (c === '\r' || c === '\n') {
        this.#afterCR = c === '\r';
        this.write('\r\n');
        return line;
      }
      if (c === '\x7f' || c === '\b') {
        if (line) {
          line = line.slice(0, -1);
          if (echo) this.write('\b \b');
        }
        continue;
      }
      if (c < ' ') continue;
      line += c;
      if (echo) this.write(c);
    }
  }

  /** One key, not echoed (null once the client is gone). */
  readKey(): Promise<string | null> {
    return this.#next();
  }

  async #next(): Promise<string | null> {
    for (;;) {
      while (!this.#input) {
        if (this.#closed) return null;
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
      const c = this.#input[0];
      this.#input = this.#input.slice(1);
      const wasAfterCR = this.#afterCR;
      this.#afterCR = false;
      if (c === '\n' && wasAfterCR) continue;
      if (c === '\x1b') {
        this.#dropEscapeSequence();
        continue;
      }
      return c;
    }
  }

  /** An arrow key's "ESC [ A" and the like: dropped whole when it arrived whole (it does, in one packet). */
  #dropEscapeSequence(): void {
    const m = /^\[[0-9;]*[A-Za-z~]/.exec(this.#input);
    if (m) this.#input = this.#input.slice(m[0].length);
  }

  #wakeUp(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}
