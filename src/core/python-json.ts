/**
 * JSON text as Python's json.dumps writes it (", " and ": " separators,
 * non-ASCII as \uXXXX). Upstream stored node metadata that way and returns
 * the stored text verbatim, so scripts may compare it byte for byte.
 */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || typeof value !== 'object') return asciiOnly(JSON.stringify(value) ?? 'null');
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${asciiOnly(JSON.stringify(k))}: ${pythonJsonDumps(v)}`);
  return `{${entries.join(', ')}}`;
}

function asciiOnly(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
