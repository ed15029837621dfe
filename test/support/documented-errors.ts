/**
 * The error answers docs/errors.md promises: each row of its table is one
 * `type` with its one status. Tests that judge answers read the table, so a
 * change to the document changes what they accept.
 */
import { readFileSync } from 'node:fs';

export interface DocumentedErrors {
  /** type → status, as the table says. */
  readonly statusOf: ReadonlyMap<string, number>;
  /** Whether the document lists this type with this status. */
  has(status: number, type: string): boolean;
}

export function documentedErrors(file = new URL('../../docs/errors.md', import.meta.url)): DocumentedErrors {
  const statusOf = new Map<string, number>();
  for (const m of readFileSync(file, 'utf8').matchAll(/^\| `(\w+)` \| (\d{3}) \|/gm)) statusOf.set(m[1]!, Number(m[2]));
  if (statusOf.size === 0) throw new Error(`no error table found in ${file}`);
  return { statusOf, has: (status, type) => statusOf.get(type) === status };
}
