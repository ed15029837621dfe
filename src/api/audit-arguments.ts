/**
 * A request body as its audit line shows it: every field, with the value of
 * any field whose name says it is a secret replaced, at any depth (a BMC's
 * password sits inside "obm"). Bodies that are not JSON objects (uploads)
 * are not shown.
 */
const SECRET = /pass(word)?|secret|token|key|psk|credential/i;
export const CENSORED = '<<CENSORED>>';

export function auditedArguments(body: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(body)) return undefined;
  return censor(body) as Record<string, unknown>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

function censor(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(censor);
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET.test(k) ? CENSORED : censor(v)]));
}
