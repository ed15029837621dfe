/**
 * One conversation with a VDX's REST API: HTTP Basic on every request (the
 * password lives only in the Authorization header: never in a URL, a log
 * line or a message), a timeout on every request, and the switch's refusals
 * turned into SwitchErrors that carry its own words.
 *
 * Network OS answers a refused request with a 4xx/5xx and an XML error
 * document in the REST namespace:
 *
 *   <errors xmlns="http://brocade.com/ns/rest">
 *     <error>
 *       <error-type>application</error-type>
 *       <error-tag>data-exists</error-tag>
 *       <error-message>object already exists</error-message>
 *     </error>
 *   </errors>
 *
 * A request that timed out or lost its connection leaves the switch in an
 * unknown state and the connection in an unknown one: the conversation is
 * then over, and every later request fails at once (the worker opens a new
 * session). A refusal leaves it usable. close() ends it from outside (the
 * worker gave up on the batch): the request in flight is aborted and no
 * further one is sent, so an abandoned batch never writes after a newer
 * session has started.
 */
import { SwitchError } from '../../../errors.ts';
import { find, parseXml, type XmlElement } from '../xml.ts';

export const MEDIA_TYPE = 'application/vnd.configuration.resource+xml';

export interface VdxRestOptions {
  /** Every request, from sending it to the end of the answer; default 30000 ms. */
  requestTimeoutMs?: number;
  /** Removes secrets from text that leaves the driver (the device's words could echo anything). */
  scrub?: (text: string) => string;
}

export interface VdxAnswer {
  status: number;
  /** The parsed body, when there was one. */
  doc?: XmlElement;
}

export interface VdxRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The path below the switch's URL, e.g. "/rest/config/running/interface/TenGigabitEthernet/%221/0/1%22". */
  path: string;
  body?: string;
  /** GET: how deep to expand nested resources (the Resource-Depth header). */
  depth?: number;
  /** A refusal that means "already so": POST of something that exists (409 data-exists), DELETE of something absent (404). */
  already?: 'exists' | 'absent';
  /** Names what the request is about in errors, e.g. "port 1/0/5". */
  about: string;
}

/** The switch's error document's words: every error-message, else the error-tag, else the body's text. */
export function deviceWords(body: string): { tag?: string; words: string } {
  try {
    const doc = parseXml(body);
    const messages: string[] = [];
    let tag: string | undefined;
    const walk = (e: XmlElement) => {
      if (e.name === 'error') {
        tag ??= find(e, 'error-tag')?.text.trim();
        const m = find(e, 'error-message')?.text.trim();
        if (m) messages.push(m);
      }
      e.children.forEach(walk);
    };
    walk(doc);
    if (messages.length || tag) return { tag, words: messages.length ? messages.join('; ') : tag! };
  } catch {
    // Not XML: the body's text as it is.
  }
  const text = body.replace(/\s+/g, ' ').trim();
  return { words: text.length > 500 ? `${text.slice(0, 500)}…` : text };
}

export class VdxRest {
  readonly #url: string;
  readonly #authorization: string;
  readonly #timeoutMs: number;
  readonly #scrub: (text: string) => string;
  #broken: string | null = null;
  /** Aborts the request in flight when the session is closed. */
  readonly #closer = new AbortController();

  constructor(url: string, username: string, password: string, o: VdxRestOptions = {}) {
    this.#url = url;
    this.#authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    this.#timeoutMs = o.requestTimeoutMs ?? 30000;
    this.#scrub = o.scrub ?? ((t) => t);
  }

  /** Why the conversation is over, or null while it is usable. */
  get broken(): string | null {
    return this.#broken;
  }

  /** Ends the conversation: aborts the request in flight, and every later request fails unsent. */
  close(): void {
    this.#broken ??= 'the session was closed';
    this.#closer.abort();
  }

  /** Waits `ms` (e.g. between polls of a save), or fails at once when the session is closed meanwhile. */
  async pause(ms: number, about: string): Promise<void> {
    const signal = this.#closer.signal;
    if (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    if (this.#broken) throw new SwitchError(this.#scrub(`Brocade VDX (${about}): stopped, the session with the switch ended (${this.#broken})`));
  }

  async request(r: VdxRequest): Promise<VdxAnswer> {
    const what = `${r.method} ${r.path}`;
    if (this.#broken) throw new SwitchError(this.#scrub(`Brocade VDX (${r.about}): not sent, the session with the switch broke earlier (${this.#broken})`));
    const headers: Record<string, string> = { authorization: this.#authorization, accept: MEDIA_TYPE };
    if (r.body !== undefined) headers['content-type'] = MEDIA_TYPE;
    if (r.depth !== undefined) headers['resource-depth'] = String(r.depth);
    let res: Response;
    let text: string;
    try {
      const timeout = AbortSignal.timeout(this.#timeoutMs);
      res = await fetch(this.#url + r.path, { method: r.method, headers, body: r.body, redirect: 'error', signal: AbortSignal.any([timeout, this.#closer.signal]) });
      text = await res.text();
    } catch (err) {
      if (this.#closer.signal.aborted) throw new SwitchError(this.#scrub(`Brocade VDX (${r.about}): ${what} abandoned, the session was closed`));
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      this.#broken = timedOut ? `${what} got no answer within ${this.#timeoutMs} ms` : `${what} failed: ${err instanceof Error ? err.message : String(err)}${cause}`;
      throw new SwitchError(this.#scrub(`Brocade VDX (${r.about}): ${this.#broken}`));
    }
    // Closed while the answer was on its way: it is not acted on, so nothing follows it.
    if (this.#closer.signal.aborted) throw new SwitchError(this.#scrub(`Brocade VDX (${r.about}): ${what} abandoned, the session was closed`));
    if (res.status < 400) return { status: res.status, doc: text.trim() ? this.#parse(text, r, what) : undefined };
    const { tag, words } = deviceWords(text);
    if (r.already === 'exists' && res.status === 409 && (tag === 'data-exists' || /already exists/i.test(words))) return { status: res.status };
    if (r.already === 'absent' && res.status === 404) return { status: res.status };
    if (res.status === 401) throw new SwitchError(this.#scrub(`Brocade VDX (${r.about}): the switch refused the registered credentials (HTTP 401 on ${what})`));
    throw new SwitchError(this.#scrub(`Brocade VDX (${r.about}): ${what} refused with HTTP ${res.status}: ${words || res.statusText}`));
  }

  #parse(text: string, r: VdxRequest, what: string): XmlElement {
    try {
      return parseXml(text);
    } catch (err) {
      throw new SwitchError(this.#scrub(`Brocade VDX (${r.about}): cannot read the answer to ${what}: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
}
