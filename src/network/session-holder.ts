/** The current session with one switch: opened on first use, discarded after a failure, every call bounded. */
import type { SwitchSession } from '../drivers/switch/interface.ts';
import { openWithin } from '../drivers/switch/open.ts';
import { SwitchError } from '../errors.ts';
import { withTimeout } from '../util/timeout.ts';

export class SessionHolder {
  readonly label: string;
  /** The switch model's short name (metrics label), e.g. "ovs". */
  readonly model: string;
  readonly #open: (() => Promise<SwitchSession>) | null;
  readonly #timeoutMs: number;
  #session: SwitchSession | null = null;

  constructor(open: (() => Promise<SwitchSession>) | null, label: string, model: string, timeoutMs: number) {
    this.#open = open;
    this.label = label;
    this.model = model;
    this.#timeoutMs = timeoutMs;
  }

  get canOpen(): boolean {
    return this.#open !== null;
  }

  async get(): Promise<SwitchSession> {
    const open = this.#open;
    if (!open) throw new SwitchError(`no driver for switch ${this.label}`);
    this.#session ??= await openWithin(this.#timeoutMs, this.label, open);
    return this.#session;
  }

  /** A failed or hung session is not trusted again; closing it is best effort. */
  discard(): void {
    const broken = this.#session;
    this.#session = null;
    void broken?.close().catch(() => {});
  }

  async close(): Promise<void> {
    const s = this.#session;
    this.#session = null;
    if (s) await withTimeout(this.#timeoutMs, `closing the session with switch ${this.label}`, () => s.close());
  }
}
