/**
 * The fenced code blocks of a markdown file, and the shell commands in a
 * block, each with the line it starts on, so that a failure names the place
 * in the documentation.
 */
import { readFileSync } from 'node:fs';

export interface Block {
  /** Path relative to the repository, e.g. "docs/lab.md". */
  file: string;
  /** Line of the opening fence (1-based). */
  line: number;
  /** The first word of the info string ("sh", "toml", or "" for none). */
  lang: string;
  /** `doc-test=NAME` in the info string (renderers ignore all but the first word): how test/docs/blocks.ts handles it. */
  docTest?: string;
  /** The lines between the fences. */
  body: string[];
}

export interface Command {
  /** The command as the shell gets it: continuation lines and here-documents included. */
  text: string;
  /** Line in the markdown file where it starts. */
  line: number;
}

export function fencedBlocks(path: string, file: string): Block[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, fence, info] = open;
    // Closed by a fence of the same character, at least as long, and nothing else on the line.
    const close = new RegExp(`^ {0,3}\\${fence[0]}{${fence.length},}\\s*$`);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !close.test(lines[j]); j++) body.push(lines[j]);
    if (j === lines.length) throw new Error(`${file}:${i + 1}: code block is never closed`);
    const words = info.trim().split(/\s+/).filter(Boolean);
    const docTest = words.find((w) => w.startsWith('doc-test='))?.slice('doc-test='.length);
    blocks.push({ file, line: i + 1, lang: words[0] ?? '', ...(docTest ? { docTest } : {}), body });
    i = j;
  }
  return blocks;
}

/**
 * Splits a shell block into commands: one per line, except that a line
 * ending in a backslash continues on the next and a here-document (`<<WORD`)
 * runs to its terminator. Blank lines and whole-line comments are not
 * commands; a trailing comment stays (the shell ignores it).
 */
export function shellCommands(block: Block): Command[] {
  const commands: Command[] = [];
  const body = block.body;
  for (let i = 0; i < body.length; i++) {
    const first = body[i];
    if (!first.trim() || first.trim().startsWith('#')) continue;
    const start = i;
    const parts = [first];
    while (parts.at(-1)!.endsWith('\\') && i + 1 < body.length) parts.push(body[++i]);
    const heredoc = /<<-?\s*['"]?(\w+)['"]?/.exec(parts.join('\n').replace(/<<</g, ''));
    if (heredoc) {
      while (i + 1 < body.length && body[i].trim() !== heredoc[1]) parts.push(body[++i]);
      if (body[i].trim() !== heredoc[1]) throw new Error(`${block.file}:${block.line + 1 + start}: here-document ${heredoc[1]} is never closed`);
    }
    commands.push({ text: parts.join('\n'), line: block.line + 1 + start });
  }
  return commands;
}
