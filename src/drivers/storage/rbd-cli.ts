/**
 * What the rbd backend reads from the `rbd` tool: its JSON shapes, its
 * words for a missing image, QEMU's rbd: filename quoting, librados's
 * timeouts, and `rbd flatten`'s progress.
 */
import { execFile } from 'node:child_process';
import { summarise, ToolError } from '../../util/run-tool.ts';

export const RBD = 'rbd';

export interface ImageInfo {
  size: number;
  parent?: { pool: string; pool_namespace: string; image: string; snapshot: string; trash?: boolean };
}

export interface SnapInfo {
  id: number;
  name: string;
  protected: 'true' | 'false';
  namespace?: { type: 'user' | 'trash' | 'group' };
}

export interface ChildInfo {
  pool: string;
  pool_namespace: string;
  image: string;
}

/** What librados waits at most, in seconds: a little under the kill, so the tool says what went wrong. */
export function radosTimeoutSeconds(timeoutMs: number): number {
  return Math.max(1, Math.floor((timeoutMs * 0.8) / 1000));
}

/** rbd's words for "no image by that name" (not a missing pool, which reads the same apart from the noun). */
export function isMissing(err: unknown): boolean {
  return err instanceof ToolError && /error opening image [^:]*: \(2\)|delete error: \(2\)/.test(err.detail);
}

/** Escapes a value for QEMU's `rbd:pool/image:key=value` filename syntax. */
export function rbdFilenameValue(v: string): string {
  return v.replace(/[\\:]/g, (c) => `\\${c}`);
}

/** Runs `rbd flatten …` (`args`), turning its "Image flatten: NN% complete..." lines (stderr, split by CR) into progress. */
export function flattenWithProgress(args: string[], o: { progress: (fraction: number) => void; signal: AbortSignal; timeoutMs: number }): Promise<void> {
  const timeoutMs = o.timeoutMs;
  return new Promise((resolve, reject) => {
    let stderr = '';
    let last = -1;
    const child = execFile(RBD, args, { timeout: timeoutMs, killSignal: 'SIGKILL', signal: o.signal, maxBuffer: 16 << 20 }, (err) => {
      if (!err) return resolve();
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.name === 'AbortError') return reject(o.signal.reason ?? err);
      if (e.code === 'ENOENT') return reject(new ToolError('rbd flatten', 'rbd is not installed', 'ENOENT'));
      if (e.killed) return reject(new ToolError('rbd flatten', `no answer within ${timeoutMs} ms`, 'timeout'));
      reject(new ToolError('rbd flatten', summarise(stderr.replace(/[^\r\n]*% complete\.\.\./g, '')), String(e.code)));
    });
    let scanned = 0;
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // Whole segments only: a chunk may end inside "NN% complete".
      const end = Math.max(stderr.lastIndexOf('\r'), stderr.lastIndexOf('\n'));
      if (end < scanned) return;
      for (const m of stderr.slice(scanned, end).matchAll(/(\d+)% complete/g)) {
        const pct = Number(m[1]);
        // 100 % is reported once the disk's snapshot is gone too.
        if (pct > last && pct < 100) o.progress(pct / 100);
        last = Math.max(last, pct);
      }
      scanned = end;
    });
  });
}
