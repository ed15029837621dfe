/**
 * "Node N's row changed", within this process: a held agent report wakes up
 * on it to answer with the new command at once.
 */
import { EventEmitter } from 'node:events';

export class NodeChanges {
  readonly #emitter = new EventEmitter().setMaxListeners(0);

  changed(nodeId: number): void {
    this.#emitter.emit('changed', nodeId);
  }

  /** Resolves when the node's row changes, `ms` pass, or `signal` aborts, whichever comes first. */
  waitFor(nodeId: number, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#emitter.off('changed', onChange);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const onChange = (id: number) => id === nodeId && done();
      // Another server process may change the row: look again every second.
      const timer = setTimeout(done, Math.min(ms, 1000));
      this.#emitter.on('changed', onChange);
      signal.addEventListener('abort', done);
    });
  }
}
