/**
 * Serial consoles of nodes with a built-in BMC driver. While a node's OBM is
 * enabled, one background reader holds its console (a BMC allows a single
 * SOL session) and keeps the last `logBytes` in a rolling log; a client
 * reading the console gets the live bytes. One client at a time, as upstream:
 * a new one displaces the old. The log is tagged with the project the node
 * was in, so a node's next tenant never sees the previous tenant's output.
 * The hub is this process's part: which process holds a node's console is
 * its claim (./console-owner.ts); when the claim is lost or handed over,
 * readers' streams fail instead of ending, so that they follow the console
 * to its next holder.
 */
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

import type { ConsoleSession } from '../drivers/bmc/interface.ts';

/** Opens the node's console; `write` is absent for a read-only console. */
type Open = (signal: AbortSignal) => { output: AsyncIterable<Uint8Array>; write?: ConsoleSession['write'] };

interface NodeConsole {
  projectId: number | null;
  ctl: AbortController;
  chunks: Buffer[];
  bytes: number;
  reader?: PassThrough;
  write?: ConsoleSession['write'];
  /** Ends when this process may no longer hold the console; the stream passes to the next holder. */
  held?: AbortSignal;
}

/** Why a reader's stream failed: the console went on elsewhere (readers reconnect to it). */
export class ConsoleMovedError extends Error {
  constructor() {
    super('the console moved to another HIL process');
  }
}

/** A slow client is dropped rather than letting its backlog grow without bound. */
const MAX_READER_BACKLOG = 1 << 20;

export class ConsoleHub {
  readonly #nodes = new Map<number, NodeConsole>();
  readonly #logs = new Map<number, { projectId: number | null; chunks: Buffer[]; bytes: number }>();
  readonly #logBytes: number;
  readonly #log: Logger;

  constructor(o: { logBytes: number; log: Logger }) {
    this.#logBytes = o.logBytes;
    this.#log = o.log;
  }

  /** Starts holding a node's console (idempotent), for as long as `held` has not aborted. */
  start(nodeId: number, projectId: number | null, open: Open, held?: AbortSignal): void {
    const running = this.#nodes.get(nodeId);
    if (running && running.projectId === projectId) return;
    this.stop(nodeId);
    const log = this.#logs.get(nodeId);
    const keep = log && log.projectId === projectId; // a new tenant starts with an empty log
    const nc: NodeConsole = { projectId, ctl: new AbortController(), chunks: keep ? log.chunks : [], bytes: keep ? log.bytes : 0, held };
    this.#nodes.set(nodeId, nc);
    this.#logs.set(nodeId, nc);
    held?.addEventListener('abort', () => this.#nodes.get(nodeId) === nc && this.stop(nodeId, { moved: true }), { once: true });
    void this.#pump(nodeId, nc, open);
  }

  /**
   * The node now belongs to `projectId` (it was free, its OBM enabled): the
   * console keeps running, but its log starts afresh for the new tenant, and
   * whoever was watching it until now is cut off.
   */
  newTenant(nodeId: number, projectId: number | null): void {
    const nc = this.#nodes.get(nodeId);
    if (!nc || nc.projectId === projectId) return;
    nc.projectId = projectId;
    nc.chunks = [];
    nc.bytes = 0;
    nc.reader?.end();
    nc.reader = undefined;
  }

  /**
   * Stops reading the console; the log stays. The client's stream ends, or,
   * when the console goes on in another process (`moved`), fails so that
   * the client follows it there.
   */
  stop(nodeId: number, o: { moved?: boolean } = {}): void {
    const nc = this.#nodes.get(nodeId);
    if (!nc) return;
    this.#nodes.delete(nodeId);
    nc.ctl.abort();
    if (o.moved) nc.reader?.destroy(new ConsoleMovedError());
    else nc.reader?.end();
  }

  /** Shutting down: every console goes on in another process. */
  stopAll(): void {
    for (const id of [...this.#nodes.keys()]) this.stop(id, { moved: true });
  }


  running(nodeId: number): boolean {
    return this.#nodes.has(nodeId);
  }

  /** The live console from now on; ends when displaced, stopped, or `signal` aborts. */
  subscribe(nodeId: number, signal: AbortSignal): AsyncIterable<Uint8Array> {
    const nc = this.#nodes.get(nodeId);
    const reader = new PassThrough();
    if (!nc) {
      reader.end();
      return reader;
    }
    nc.reader?.end();
    nc.reader = reader;
    const leave = () => {
      if (nc.reader === reader) nc.reader = undefined;
      reader.end();
    };
    signal.addEventListener('abort', leave, { once: true });
    reader.once('close', leave);
    return reader;
  }

  /** Types into the console; false when it is not running or is read-only. */
  write(nodeId: number, data: Uint8Array): boolean {
    const write = this.#nodes.get(nodeId)?.write;
    if (!write) return false;
    write(data);
    return true;
  }

  /** The rolling log, if it belongs to `projectId`'s time with the node. */
  log(nodeId: number, projectId: number | null): Buffer {
    const log = this.#logs.get(nodeId);
    return log && log.projectId === projectId ? Buffer.concat(log.chunks) : Buffer.alloc(0);
  }

  /** Adds bytes to the rolling log and passes them to the live reader, if any. */
  #append(nc: NodeConsole, buf: Buffer): void {
    nc.chunks.push(buf);
    nc.bytes += buf.length;
    while (nc.bytes - nc.chunks[0].length >= this.#logBytes) nc.bytes -= nc.chunks.shift()!.length;
    const reader = nc.reader;
    if (!reader) return;
    if (reader.readableLength > MAX_READER_BACKLOG) reader.destroy(new Error('console reader too slow'));
    else reader.write(buf);
  }

  async #pump(nodeId: number, nc: NodeConsole, open: Open): Promise<void> {
    let backoff = 500;
    while (!nc.ctl.signal.aborted) {
      try {
        const session = open(nc.ctl.signal);
        nc.write = session.write;
        for await (const chunk of session.output) {
          this.#append(nc, Buffer.from(chunk));
          backoff = 500;
        }
      } catch (err) {
        if (nc.ctl.signal.aborted) break;
        this.#log.warn({ nodeId, err: (err as Error).message }, 'console: reading failed; retrying');
        // Whoever watches should know the silence is not the node's. The
        // details (the BMC's address, its error) are for the admin's log only.
        this.#append(nc, Buffer.from(`\r\n[hil: console unavailable; retrying in ${backoff / 1000} s]\r\n`));
      }
      // The BMC closed the console (or failed): reopen it while the OBM stays enabled.
      await sleep(backoff, undefined, { signal: nc.ctl.signal }).catch(() => {});
      backoff = Math.min(backoff * 2, 30_000);
    }
  }
}
