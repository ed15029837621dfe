/**
 * Dell Networking OS9's REST API, as the dellnos9 driver uses it (Dell
 * Networking Open Automation Guide, "REST API"): HTTP Basic auth on every
 * request; the interface resource
 * `/api/running/dell/interfaces/interface/<prefix><unit-slot-port>` (GET
 * with `?with-defaults` to see default-valued leaves such as `shutdown`,
 * PUT to replace the interface's own configuration); and "CLI over REST",
 * POST `/api/running/dell/_operations/cli` with one of
 * `<config-commands>`, `<show-command>` (without the word "show") or
 * `<exec-command>`, commands separated by CR LF, at most 1000 characters
 * per request. The CLI's transcript comes back in `<output><command>`.
 *
 * A refused command can come back two ways, and both are failures here:
 * an HTTP status of 400 or more (the body is the REST server's
 * `<errors><error><error-message>`), or a 200 whose transcript carries the
 * CLI's "% Error: …" line (the guide: "the corresponding command output or
 * error message returns … in the XML response"). Either way the error
 * carries the switch's own words.
 *
 * Every request has a timeout. A request that times out or cannot connect
 * breaks the client: every later request fails at once, so a hung switch
 * ends the action and the session is never reused. close() breaks it from
 * outside (the worker gave up on the batch): the request in flight is
 * aborted, its answer if one came is not acted on, and nothing more is
 * sent, so an abandoned batch never writes after a newer session started.
 * Messages never carry the password (scrubbed in every form, see
 * scrubSecrets).
 */
import { SwitchError } from '../../errors.ts';
import { scrubSecrets } from '../params.ts';
import { descendants, escapeXml, parseXml, XmlError, type XmlElement } from './xml.ts';

/** OS9 refuses a CLI request whose commands are longer than this (the guide's limit). */
export const MAX_CLI_CHARS = 1000;
export const CLI_PATH = '/api/running/dell/_operations/cli';
export const INTERFACE_PATH = '/api/running/dell/interfaces/interface/';

export type CliKind = 'config-commands' | 'show-command' | 'exec-command';

/** A line of CLI output that means the switch refused a command. */
const CLI_ERROR = /^\s*%\s*Error\b.*$/m;

export interface ApiCredentials {
  /** The switch's base URL, e.g. http://sw:8008 (no trailing slash). */
  base: string;
  username: string;
  password: string;
  /** Everything registered, for scrubbing secrets out of messages. */
  params: Record<string, unknown>;
}

export interface ApiAnswer {
  status: number;
  body: string;
}

export class Os9Api {
  readonly #c: ApiCredentials;
  readonly #timeoutMs: number;
  #broken: string | undefined;
  /** Aborts the request in flight when the client is closed. */
  readonly #closer = new AbortController();
  /** Requests sent, by method (for the report on how chatty a batch was). */
  readonly counts = { GET: 0, PUT: 0, POST: 0 };

  constructor(c: ApiCredentials, timeoutMs: number) {
    this.#c = c;
    this.#timeoutMs = timeoutMs;
  }

  get broken(): boolean {
    return this.#broken !== undefined;
  }

  /** Ends the client: aborts the request in flight; every later request fails unsent. */
  close(): void {
    this.#broken ??= 'the session was closed';
    this.#closer.abort();
  }

  scrub(text: string): string {
    return scrubSecrets(text, this.#c.params, ['password']);
  }

  fail(message: string): never {
    throw new SwitchError(this.scrub(`dellnos9 switch ${this.#c.base}: ${message}`));
  }

  /** One request; a SwitchError if the switch cannot be reached or does not answer in time (and the client is then broken). */
  async request(method: 'GET' | 'PUT' | 'POST', path: string, body?: string): Promise<ApiAnswer> {
    if (this.#broken) this.fail(`not sending ${method} ${path}: this session already failed (${this.#broken})`);
    this.counts[method]++;
    const headers: Record<string, string> = {
      authorization: 'Basic ' + Buffer.from(`${this.#c.username}:${this.#c.password}`).toString('base64'),
      accept: 'application/vnd.yang.data+xml, application/xml',
    };
    if (body !== undefined) headers['content-type'] = 'application/vnd.yang.data+xml';
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const closed = this.#closer.signal;
    let answer: ApiAnswer;
    try {
      const res = await fetch(this.#c.base + path, { method, headers, body, signal: AbortSignal.any([timeout, closed]) });
      answer = { status: res.status, body: await res.text() };
    } catch (err) {
      if (closed.aborted) this.fail(`${method} ${path}: abandoned, the session was closed`);
      const why = timeout.aborted ? `no answer within ${this.#timeoutMs} ms` : `could not be reached (${describe(err)})`;
      this.#broken = why;
      this.fail(`${method} ${path}: ${why}`);
    }
    // Closed while the answer was on its way: it is not acted on, so nothing follows it.
    if (closed.aborted) this.fail(`${method} ${path}: abandoned, the session was closed`);
    return answer;
  }

  /** A request that must succeed (2xx); otherwise a SwitchError with the switch's words. */
  async ok(method: 'GET' | 'PUT' | 'POST', path: string, body?: string): Promise<string> {
    const a = await this.request(method, path, body);
    if (a.status >= 200 && a.status < 300) return a.body;
    this.fail(`${method} ${path} answered ${a.status}${statusWords(a)}`);
  }

  /**
   * Runs CLI commands (at most MAX_CLI_CHARS together; see cliBatches) and
   * returns the transcript; a SwitchError with the switch's words when it
   * refused one.
   */
  async cli(kind: CliKind, commands: readonly string[]): Promise<string> {
    const text = commands.join('\r\n');
    if (text.length > MAX_CLI_CHARS) this.fail(`internal: ${text.length} characters of CLI in one request (the switch takes ${MAX_CLI_CHARS})`);
    const a = await this.request('POST', CLI_PATH, `<input><${kind}>${escapeXml(text)}</${kind}></input>`);
    const what = kind === 'show-command' ? `show ${text}` : commands.join(' / ');
    if (a.status < 200 || a.status >= 300) this.fail(`the switch refused "${what}" (HTTP ${a.status})${statusWords(a)}`);
    const transcript = cliTranscript(a.body);
    if (transcript === undefined) this.fail(`"${what}": the answer has no <command> output: ${a.body.slice(0, 200)}`);
    const refused = CLI_ERROR.exec(transcript!);
    if (refused) this.fail(`the switch refused "${what}": ${refusalContext(transcript!, refused.index)}`);
    return transcript!;
  }
}

/** Packs command groups (`interface vlan V` and its member command) into as few CLI requests as fit the switch's limit; a group is never split, so every request enters the VLAN it works in. */
export function cliBatches(groups: readonly (readonly string[])[]): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  const size = (cmds: string[]) => cmds.join('\r\n').length;
  for (const g of groups) {
    if (cur.length && size([...cur, ...g]) > MAX_CLI_CHARS) {
      out.push(cur);
      cur = [];
    }
    cur.push(...g);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** The CLI's transcript from an <output><command>…</command></output> answer. */
export function cliTranscript(body: string): string | undefined {
  let root: XmlElement;
  try {
    root = parseXml(body);
  } catch (err) {
    if (err instanceof XmlError) return undefined;
    throw err;
  }
  if (root.name === 'command') return root.text;
  const cmd = descendants(root, 'command')[0];
  return cmd?.text;
}

/** The "% Error" line with the command before it, as the transcript shows them (the prompt line names the command). */
function refusalContext(transcript: string, at: number): string {
  const lines = transcript.slice(0, at).split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '' && !/^\s*\^\s*$/.test(l));
  const command = lines.at(-1);
  const error = transcript.slice(at).split('\n')[0]!.trim();
  return command ? `${error} (after ${command.trim()})` : error;
}

/** The words of a non-2xx answer: the REST server's <error-message>s, else its text. */
function statusWords(a: ApiAnswer): string {
  let words: string[] = [];
  try {
    words = descendants(parseXml(a.body), 'error-message').map((e) => e.text.trim()).filter(Boolean);
  } catch {
    const t = a.body.trim();
    if (t) words = [t.slice(0, 300)];
  }
  return words.length ? `: ${words.join('; ')}` : '';
}

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
