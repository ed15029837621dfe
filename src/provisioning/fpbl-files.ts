/**
 * The FPBL's kernel and initrd (hil-admin fpbl build), served to nodes that
 * boot it, and their SHA-256 for the return command (hashed again only when
 * a file changes).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError } from '../errors.ts';

const FPBL_FILES = ['vmlinuz', 'initrd.img'] as const;

export class FpblFiles {
  readonly #dir: string;
  readonly #hashes = new Map<string, { mtimeMs: number; sha256: string }>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  path(name: string): string {
    if (!(FPBL_FILES as readonly string[]).includes(name)) throw new NotFoundError(`no FPBL file ${name}`);
    const path = join(this.#dir, name);
    if (!existsSync(path)) throw new NotFoundError(`the FPBL has not been built: ${path} is missing (hil-admin fpbl build)`);
    return path;
  }

  async sha256(name: string): Promise<string> {
    const path = this.path(name);
    const { mtimeMs } = statSync(path);
    const cached = this.#hashes.get(name);
    if (cached?.mtimeMs === mtimeMs) return cached.sha256;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    const sha256 = hash.digest('hex');
    this.#hashes.set(name, { mtimeMs, sha256 });
    return sha256;
  }
}
