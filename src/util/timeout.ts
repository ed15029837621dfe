/**
 * Bounds work that may hang on hardware or on another server. The work gets
 * an AbortSignal that fires when the time is up, so whatever it waits for
 * (a queue, a lock, a request) can give up at once; work that ignores the
 * signal is abandoned to settle on its own.
 */
import { TimeoutError } from '../errors.ts';

export { TimeoutError };

export function withTimeout<T>(ms: number, what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TimeoutError(`${what} timed out after ${ms} ms`)), ms);
  return untilAborted(work(controller.signal), controller.signal).finally(() => clearTimeout(timer));
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts (whichever comes first). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {}); // abandoned: its failure is nobody's to hear
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      promise.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
