/**
 * Matching a typed line against a mode's command patterns, keyword by
 * keyword, as switch CLIs do: a keyword may be abbreviated to any prefix
 * that no other still-possible keyword at that word shares; an exact
 * keyword beats a longer one it prefixes ("vlan" vs "vlan-range"); a
 * keyword beats an argument; "<name>" takes one word, "<name...>" the rest
 * of the line. Pure: no I/O, no vendor.
 */

/** A word of the typed line and where it starts in the line. */
export interface Token {
  text: string;
  index: number;
}

type PatternWord = { kind: 'keyword'; text: string } | { kind: 'arg'; name: string; rest: boolean };

export interface Pattern<C> {
  command: C;
  words: PatternWord[];
  accept: Record<string, RegExp>;
}

export type MatchResult<C> =
  | { ok: true; command: C; args: Record<string, string>; argTokens: Record<string, number> }
  /** `at`: the index of the offending token; for incomplete, the number of tokens. */
  | { ok: false; problem: 'invalid' | 'ambiguous' | 'incomplete'; at: number };

export function tokenize(line: string): Token[] {
  return [...line.matchAll(/\S+/g)].map((m) => ({ text: m[0], index: m.index }));
}

export function compilePattern<C>(command: C, pattern: string, accept: Record<string, RegExp> = {}): Pattern<C> {
  const words: PatternWord[] = pattern.trim().split(/\s+/).map((w) => {
    const arg = /^<([\w-]+)(\.\.\.)?>$/.exec(w);
    return arg ? { kind: 'arg', name: arg[1], rest: Boolean(arg[2]) } : { kind: 'keyword', text: w.toLowerCase() };
  });
  words.forEach((w, i) => {
    if (w.kind === 'arg' && w.rest && i !== words.length - 1) throw new Error(`pattern "${pattern}": <${w.name}...> must come last`);
  });
  return { command, words, accept };
}

interface Candidate<C> {
  pattern: Pattern<C>;
  args: Record<string, string>;
  argTokens: Record<string, number>;
}

export function matchLine<C>(patterns: readonly Pattern<C>[], tokens: readonly Token[]): MatchResult<C> {
  let alive: Candidate<C>[] = patterns.map((pattern) => ({ pattern, args: {}, argTokens: {} }));
  // A "<rest...>" candidate that took the rest of the line; used when nothing more specific matches.
  let restMatch: Candidate<C> | undefined;
  let failure: MatchResult<C> | undefined;

  for (let i = 0; i < tokens.length && !failure; i++) {
    const typed = tokens[i].text.toLowerCase();
    const keywordAt = (c: Candidate<C>) => {
      const w = c.pattern.words[i];
      return w?.kind === 'keyword' ? w.text : undefined;
    };
    const exact = alive.filter((c) => keywordAt(c) === typed);
    const prefixed = alive.filter((c) => keywordAt(c)?.startsWith(typed));
    if (exact.length) {
      alive = exact;
      continue;
    }
    if (new Set(prefixed.map(keywordAt)).size > 1) {
      failure = { ok: false, problem: 'ambiguous', at: i };
      break;
    }
    if (prefixed.length) {
      alive = prefixed;
      continue;
    }
    const next: Candidate<C>[] = [];
    for (const c of alive) {
      const w = c.pattern.words[i];
      if (w?.kind !== 'arg') continue;
      const value = w.rest ? tokens.slice(i).map((t) => t.text).join(' ') : tokens[i].text;
      const accept = c.pattern.accept[w.name];
      if (accept && !accept.test(value)) continue;
      const taken = { ...c, args: { ...c.args, [w.name]: value }, argTokens: { ...c.argTokens, [w.name]: i } };
      if (w.rest) restMatch ??= taken;
      else next.push(taken);
    }
    alive = next;
    if (!alive.length && !restMatch) failure = { ok: false, problem: 'invalid', at: i };
  }

  const complete = failure ? undefined : alive.find((c) => c.pattern.words.length === tokens.length);
  const found = complete ?? restMatch;
  if (found) return { ok: true, command: found.pattern.command, args: found.args, argTokens: found.argTokens };
  if (failure) return failure;
  if (alive.length) return { ok: false, problem: 'incomplete', at: tokens.length };
  return { ok: false, problem: 'invalid', at: Math.max(0, tokens.length - 1) };
}

/** How far a failed match got: to pick, between a mode and the parent it inherits from, the more telling message. */
export function progress<C>(r: MatchResult<C>): number {
  return r.ok ? Infinity : r.at;
}
