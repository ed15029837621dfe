/** The chaos test's HTTP client: one call to one API process, and a few answers it must get. */
import assert from 'node:assert/strict';

export interface Answer {
  status: number;
  body: any;
}

/** One request; throws only when the process could not be reached (down, killed mid-request). */
export async function call(base: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? '' : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed };
}

/** A setup step: it must answer `status`. */
export async function must(base: string, method: string, path: string, body?: unknown, status = 200): Promise<Answer> {
  const r = await call(base, method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r;
}
