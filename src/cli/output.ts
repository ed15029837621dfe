/** How the CLI prints: aligned tables for people, --json for scripts. */

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** A plain aligned table with a header row; empty tables print the header only. */
export function printTable(header: string[], rows: Array<Array<string | number | boolean | null | undefined>>): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  process.stdout.write([line(cells[0]), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n') + '\n');
}

export function printList(items: string[]): void {
  if (items.length) process.stdout.write(items.join('\n') + '\n');
}

/** Progress for people goes to stderr, so stdout stays parseable. */
export function progress(message: string): void {
  process.stderr.write(message + '\n');
}
