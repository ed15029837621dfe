/**
 * How the fuzz test judges one answer. A failure names its class (the
 * check, the status, the error type and, for server errors, what the log
 * says went wrong), so that one bug hit from sixty routes is one finding.
 *
 * - An answer must come, complete, in time.
 * - A 5xx must be a type docs/errors.md lists with that status, and never
 *   ServerError (the catch-all for an unexpected exception). Documented
 *   5xx of other types (hardware failing) pass, but are reported.
 * - Every error body is exactly `{"type": string, "msg": string}`, with a
 *   (status, type) pair docs/errors.md lists.
 * - A success is a status the route's OpenAPI entry lists.
 */
import type { DocumentedErrors } from '../support/documented-errors.ts';
import type { Answer } from './send.ts';
import type { FuzzRequest } from './requests.ts';
import type { Operation } from './routes.ts';

export interface Verdict {
  /** Set when the answer fails a check: the class it belongs to. */
  failure?: string;
  /** Set for a documented 5xx: its status and type, to report. */
  documented5xx?: string;
}

/** The error line the server logged for this answer's request id, if any. */
export type LogLookup = (requestId: string | undefined) => string | undefined;

/** A log message with its particulars (names, numbers, ids) blanked, to group by. */
const shape = (msg: string) => msg.replace(/"[^"]*"/g, '"…"').replace(/\d+/g, 'N').slice(0, 80);

export function judge(req: FuzzRequest, op: Operation | undefined, a: Answer, docs: DocumentedErrors, loggedError: LogLookup): Verdict {
  if (a.failure) return { failure: `no complete answer: ${a.failure.replace(/\d+/g, 'N')}` };
  const body = parseJson(a.text);
  const type = isErrorBody(body) ? body.type : undefined;
  const status = a.status;

  // A HEAD answer has no body to carry the type; a 501 says the route exists and is not configured (as its GET does).
  if (status === 501 && req.method === 'HEAD') return { documented5xx: '501 (HEAD, no body)' };
  if (status >= 500) {
    const logged = loggedError(header(a, 'x-request-id'));
    const why = logged ? `; log: ${shape(logged)}` : '';
    if (type === 'ServerError' || type === undefined || !docs.has(status, type)) return { failure: `${status} ${type ?? describeBody(a.text)}${why}` };
    return { documented5xx: `${status} ${type}` };
  }
  if (status >= 400 && req.method !== 'HEAD') {
    if (!isErrorBody(body) || Object.keys(body).length !== 2) return { failure: `${status} not {type, msg}: ${describeBody(a.text)}` };
    if (!docs.has(status, body.type)) return { failure: `${status} ${body.type} is not in docs/errors.md` };
    return {};
  }
  if (status >= 200 && status < 400 && op && req.method === op.method && !op.statuses.has(status) && !req.route.startsWith('raw')) {
    return { failure: `${status} is not among the statuses of ${op.method} ${op.template} (${[...op.statuses].join(', ')})` };
  }
  return {};
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isErrorBody(b: unknown): b is { type: string; msg: string } {
  return typeof b === 'object' && b !== null && typeof (b as any).type === 'string' && typeof (b as any).msg === 'string';
}

/** What an error body that is not ours looks like: Fastify's code, its keys, or "not JSON". */
function describeBody(text: string): string {
  const b = parseJson(text);
  if (b === undefined) return text === '' ? 'empty body' : 'not JSON';
  if (typeof b !== 'object' || b === null) return `JSON ${typeof b}`;
  const code = (b as any).code;
  return `{${Object.keys(b).sort().join(', ')}}${typeof code === 'string' ? ` ${code}` : ''}`;
}

function header(a: Answer, name: string): string | undefined {
  const v = a.headers[name];
  return typeof v === 'string' ? v : undefined;
}
