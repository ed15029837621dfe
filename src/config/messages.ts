/**
 * What a configuration mistake is called, in one line a person can act on:
 * an unknown key with the nearest valid one ("did you mean server.listen?"),
 * a value of the wrong kind by its dotted key, a file that does not parse by
 * its line and column. The schema's own messages ("schema is false" at
 * "/server/listn") say none of that.
 */
import type { TSchema } from 'typebox';

interface ObjectSchema {
  properties?: Record<string, TSchema & ObjectSchema>;
  type?: string;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** The closest of `candidates` to `word`, if it is close enough to be a typo. */
export function nearest(word: string, candidates: string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = distance(word.toLowerCase(), name.toLowerCase());
    if (!best || d < best.d) best = { name, d };
  }
  return best && best.d <= Math.max(2, Math.floor(word.length / 3)) ? best.name : undefined;
}

/** The first key of `parsed` (a TOML document) that `schema` does not know, described; undefined if there is none. */
export function unknownKey(schema: ObjectSchema, parsed: Record<string, unknown>, path: string[] = []): string | undefined {
  const known = schema.properties ?? {};
  for (const [key, value] of Object.entries(parsed)) {
    const here = [...path, key].join('.');
    const sub = known[key];
    if (!sub) {
      const guess = nearest(key, Object.keys(known));
      const where = path.length ? `key "${here}"` : `section [${key}]`;
      const hint = guess ? `; did you mean "${[...path, guess].join('.')}"?` : `; valid ${path.length ? `keys of [${path.join('.')}]` : 'sections'} are ${Object.keys(known).join(', ')}`;
      return `unknown configuration ${where}${hint}`;
    }
    if (sub.properties && value && typeof value === 'object' && !Array.isArray(value)) {
      const deeper = unknownKey(sub, value as Record<string, unknown>, [...path, key]);
      if (deeper) return deeper;
    }
  }
  return undefined;
}

/** What the value at `instancePath` must be, where the schema's own words say less ("must be equal to constant" for a list of choices). */
export function expectation(schema: ObjectSchema, instancePath: string, fallback: string): string {
  let node: (ObjectSchema & { anyOf?: Array<{ const?: unknown }> }) | undefined = schema;
  for (const key of instancePath.split('/').filter(Boolean)) node = node?.properties?.[key];
  const choices = node?.anyOf?.map((a) => a.const);
  if (choices?.length && choices.every((c) => typeof c === 'string')) return `must be one of ${choices.map((c) => `"${c}"`).join(', ')}`;
  return fallback;
}

/** "/server/listen" → "server.listen". */
export const dotted = (instancePath: string) => instancePath.replace(/^\//, '').replaceAll('/', '.') || '(the whole file)';

/** A TOML parser's error (smol-toml prints a code frame over several lines) as one line. */
export function tomlProblem(err: Error & { line?: number; column?: number }): string {
  const first = err.message.split('\n')[0].replace(/^Invalid TOML document: /, '');
  return err.line ? `line ${err.line}, column ${err.column}: ${first}` : first;
}
