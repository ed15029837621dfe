/**
 * What a switch's terminal output says, once the terminal's noise is gone:
 * pagers and the characters that erase them, ANSI sequences, carriage
 * returns; a command's echo and the prompt after it; the vendor's refusal.
 */

/** Pagers of the CLI vendors HIL drives: Cisco and OS10 "--More--", Dell N-series "--More-- or (q)uit", PowerConnect "More: <space>,  Quit: q …". */
export const PAGER = /--\s*[Mm]ore\s*--(?:\s*or \(q\)uit)?|<--- More --->|More: <space>,\s*Quit: q[^\n]*?One line: <return>\s?/;

/** The in-shell login dialog some Dell switches show after SSH login. */
export const USER_NAME_PROMPT = /User ?Name:\s*$/i;
export const PASSWORD_PROMPT = /Password:\s*$/i;

/** Any prompt line at the end of the output, before the hostname is known: name, optional (mode), ">" or "#". Names start with a letter or digit, so banner rules ("#####") are not prompts. */
export const ANY_PROMPT = /(?:^|\n)([A-Za-z0-9][^\s()#>]*)(\([^)\n]*\))?([>#]) ?$/;

/** The prompt of a switch whose hostname is known, in any mode: "sw1#", "sw1>", "sw1(config-if)#". */
export function promptOf(hostname: string): RegExp {
  const host = hostname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(?:^|\\n)${host}(?:\\([^)\\n]*\\))?[>#] ?$`);
}

/** Removes ANSI/VT100 control sequences (colours, cursor moves, erase-line). */
export function stripAnsi(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHM]/g, '');
}

/** A pager's regular expressions: waiting at the end of the output, and anywhere in it. */
export function pagerPatterns(pager: RegExp = PAGER): { atEnd: RegExp; anywhere: RegExp } {
  return { atEnd: new RegExp(`(?:${pager.source})[\\s\\x08]*$`), anywhere: new RegExp(`(?:${pager.source})`, 'g') };
}

/**
 * The output as a terminal would show it: no pager text, no ANSI, none of
 * the backspaces, spaces and carriage returns that erase a pager, "\n"
 * line ends.
 */
export function cleanTerminalText(raw: string, pagerAnywhere: RegExp): string {
  return stripAnsi(raw)
    .replace(pagerAnywhere, '')
    .replace(/\x08+ *\x08*/g, '')
    .replace(/\r +\r/g, '')
    .replace(/\r*\n/g, '\n')
    .replace(/\r/g, '');
}

/** What a command printed: the text without the echo of the command (its first line, when it is that) and the prompt after it (the last line), and without blank lines around. */
export function commandOutput(text: string, command: string): string {
  const lines = text.split('\n');
  lines.pop();
  if (lines.length > 0 && command.trim() !== '' && lines[0]!.trimEnd().endsWith(command.trim())) lines.shift();
  while (lines.length > 0 && lines[0]!.trim() === '') lines.shift();
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines.join('\n');
}

/** The switch's words when a line of the output matches one of its error patterns: that line and what follows, on one line; null when none does. */
export function refusalIn(output: string, errorPatterns: readonly RegExp[]): string | null {
  const lines = output.split('\n');
  const at = lines.findIndex((line) => errorPatterns.some((p) => matches(p, line)));
  if (at < 0) return null;
  return oneLine(lines.slice(at).join('\n'));
}

/** Several lines of switch output as one line for a message. */
export function oneLine(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

function matches(p: RegExp, line: string): boolean {
  p.lastIndex = 0; // a pattern with the g or y flag keeps state between tests
  return p.test(line);
}
