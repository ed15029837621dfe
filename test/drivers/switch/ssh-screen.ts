/**
 * An interactive SSH shell on an emulated switch as a test sees it
 * (emulator-core.test.ts, nexus.test.ts, os10.test.ts): everything
 * received, and a cursor to wait from. Any host key is accepted (its
 * fingerprint is told to the caller who asks).
 */
import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';

export interface Screen {
  stream: ClientChannel;
  client: ssh2.Client;
  /** Everything received so far. */
  all(): string;
  /** Waits until the text after the cursor matches, returns it up to the match's end and moves the cursor there. */
  expect(what: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Sends text as typed. */
  type(text: string): void;
  /** Types a line and returns what came back up to the next prompt matching `prompt` (its "$" dropped: output may follow it). */
  run(line: string, prompt?: RegExp): Promise<string>;
  closed: Promise<void>;
  end(): void;
}

export interface ScreenLogin {
  username: string;
  password: string;
  /** Told the host key's fingerprint ("SHA256:…"). */
  fingerprint?: (f: string) => void;
}

/** Logs in and opens a vt100 shell of 80 × 24; `prompt` is what run() waits for unless told otherwise. */
export function openScreen(port: number, login: ScreenLogin, prompt: RegExp): Promise<Screen> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.on('ready', () => {
      client.shell({ term: 'vt100', rows: 24, cols: 80 }, (err, stream) => {
        if (err) return reject(err);
        let text = '';
        let cursor = 0;
        const waiters = new Set<() => void>();
        stream.on('data', (d: Buffer) => {
          text += d.toString('utf8');
          for (const w of waiters) w();
        });
        const closed = new Promise<void>((r) => stream.on('close', () => r()));
        const screen: Screen = {
          stream,
          client,
          all: () => text,
          expect(what, timeoutMs = 5000) {
            return new Promise((res, rej) => {
              const check = () => {
                const rest = text.slice(cursor);
                const m = typeof what === 'string' ? (rest.includes(what) ? { index: rest.indexOf(what), 0: what } : null) : what.exec(rest);
                if (!m) return false;
                const end = m.index + m[0].length;
                cursor += end;
                waiters.delete(check);
                clearTimeout(timer);
                res(rest.slice(0, end));
                return true;
              };
              const timer = setTimeout(() => {
                waiters.delete(check);
                rej(new Error(`timed out waiting for ${what}; after the cursor: ${JSON.stringify(text.slice(cursor))}`));
              }, timeoutMs);
              if (!check()) waiters.add(check);
            });
          },
          type: (t) => void stream.write(t),
          async run(line, until = prompt) {
            stream.write(`${line}\r`);
            return screen.expect(new RegExp(until.source.replace(/\$$/, ''), until.flags));
          },
          closed,
          end: () => client.end(),
        };
        resolve(screen);
      });
    });
    client.connect({
      host: '127.0.0.1',
      port,
      username: login.username,
      password: login.password,
      readyTimeout: 5000,
      hostVerifier: (key: Buffer) => {
        login.fingerprint?.(`SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`);
        return true;
      },
    });
  });
}

/** A shell at a switch's CLI prompt, whose commands answer with their output and the next prompt. */
export interface PromptShell {
  /** Types a line; the output up to the next prompt (at the end of what came), with "\n" line ends. */
  run(line: string): Promise<string>;
  type(text: string): void;
  expect(what: RegExp): Promise<string>;
  end(): void;
}

/** Logs in and waits for the first prompt; `prompt` ends in "$" (nothing after it) and matches every mode's prompt. */
export async function promptShell(port: number, login: ScreenLogin, prompt: RegExp): Promise<PromptShell> {
  const screen = await openScreen(port, login, prompt);
  await screen.expect(prompt);
  return {
    async run(line) {
      screen.type(`${line}\r`);
      return (await screen.expect(prompt)).replace(/\r\n/g, '\n');
    },
    type: screen.type,
    expect: (what) => screen.expect(what),
    end: screen.end,
  };
}
