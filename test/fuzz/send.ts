/**
 * Sends a FuzzRequest to a test HIL and reads the answer, bounded in time:
 * through inject (the answer read as a stream, so a live console cannot
 * hang the test), or over a socket for raw HTTP.
 */
import type { Readable } from 'node:stream';
import type { TestHil } from '../support/hil.ts';
import { rawRequest } from '../support/raw-http.ts';
import type { FuzzRequest } from './requests.ts';

export interface Answer {
  /** 0 when there was no answer (see `failure`). */
  status: number;
  headers: Record<string, unknown>;
  text: string;
  /** Why there is no (complete) answer: a timeout, a closed connection, an exception. */
  failure?: string;
  /** The request as sent, `{action:N}` resolved. */
  url: string;
}

export interface Target {
  t: TestHil;
  /** The port the HIL listens on, for raw requests. */
  port: number;
  /** status_ids the server handed out (202 answers), for `{action:N}`. */
  actions: string[];
}

const ANSWER_TIMEOUT_MS = 10_000;
/** A live console is read this long, then cut. */
const CONSOLE_READ_MS = 50;

export async function send(target: Target, req: FuzzRequest): Promise<Answer> {
  const url = req.url.replace(/\{action:(\d+)\}/g, (_, n) => target.actions[Number(n) % Math.max(target.actions.length, 1)] ?? 'no-action-yet');
  if (req.via === 'socket') {
    const a = await rawRequest(target.port, req.raw!, ANSWER_TIMEOUT_MS);
    if (a.kind === 'answer') return { status: a.status, headers: a.headers, text: a.body, url };
    return { status: 0, headers: {}, text: a.received, failure: a.kind === 'timeout' ? `no answer within ${ANSWER_TIMEOUT_MS} ms` : 'connection closed without an answer', url };
  }
  let res;
  try {
    res = await withTimeout(
      target.t.hil.app!.inject({ method: req.method as 'GET', url, headers: req.headers, payload: req.body, payloadAsStream: true }),
      ANSWER_TIMEOUT_MS,
    );
  } catch (err) {
    return { status: 0, headers: {}, text: '', failure: `inject failed: ${(err as Error).message}`, url };
  }
  if (res === 'timeout') return { status: 0, headers: {}, text: '', failure: `no answer within ${ANSWER_TIMEOUT_MS} ms`, url };
  const streaming = res.statusCode === 200 && /\/console$/.test(url.split(/[?#]/)[0]!);
  const body = await readBounded(res.stream(), streaming ? CONSOLE_READ_MS : ANSWER_TIMEOUT_MS);
  const answer: Answer = { status: res.statusCode, headers: res.headers, text: body.text, url };
  if (!body.ended && !streaming) answer.failure = `the answer did not end within ${ANSWER_TIMEOUT_MS} ms (${body.text.length} bytes so far)`;
  if (res.statusCode === 202) {
    try {
      const id = JSON.parse(body.text).status_id;
      if (typeof id === 'string') target.actions.push(id);
    } catch {
      // judged by the checks
    }
  }
  return answer;
}

/** Reads a stream to its end, or until `maxBytes` arrived or `ms` passed; then destroys it. */
async function readBounded(stream: Readable, ms: number, maxBytes = 16 * 1024 * 1024): Promise<{ text: string; ended: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  const ended = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = (end: boolean) => (clearTimeout(timer), resolve(end));
    stream.on('data', (d: Buffer) => {
      chunks.push(Buffer.from(d));
      size += d.length;
      if (size >= maxBytes) done(false);
    });
    stream.on('end', () => done(true));
    stream.on('error', () => done(true));
  });
  stream.destroy();
  return { text: Buffer.concat(chunks).toString('utf8'), ended };
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
