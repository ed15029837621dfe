/**
 * One interactive CLI conversation with a switch over SSH (the connection
 * and shell: ./ssh-connect.ts; reading terminal text: ./terminal-text.ts).
 *
 * Login. SSH authentication, then an interactive shell. Some Dell
 * switches accept any SSH login and then ask again inside the shell
 * ("User Name:" / "Password:"): those are answered once each; asked again,
 * the login was refused. At a ">" prompt `enable` is typed (with no enable
 * password, as upstream).
 *
 * Prompts. The first prompt line after login ("sw1#", "console>") gives
 * the hostname; every later prompt is `<hostname>` plus an optional mode in
 * parentheses ("sw1(config-if)#") and ">" or "#". It is confirmed once by
 * typing an empty line, which must answer the same prompt: a banner line
 * that merely looks like a prompt is not taken for one. A command has
 * finished when its output ends in such a prompt.
 *
 * Paging. The dialect's sessionSetup turns paging off; if a pager
 * ("--More--" and the like, PAGER) still appears at the end of the output,
 * a space is sent, and the pager text, the backspaces and spaces that erase
 * it and any ANSI sequences are removed from the output.
 *
 * Errors. Every command has a timeout; when it passes (a hung switch) or
 * the connection drops, the conversation is closed and marked broken, and
 * every later call fails at once: its state (the mode it was left in, half
 * an output) is unknown. Output matching one of the dialect's error
 * patterns fails the command with the switch's own words.
 *
 * Kept whole: login, commands and the pager share one conversation's state
 * (the output so far, who waits for what, whether it broke); split, each
 * part would reach into the others'.
 */
import ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import { SwitchError } from '../../../errors.ts';
import { openShell, type SshLogin } from './ssh-connect.ts';
import { scrubSecrets } from '../../params.ts';
import { ANY_PROMPT, cleanTerminalText, commandOutput, pagerPatterns, PASSWORD_PROMPT, promptOf, refusalIn, stripAnsi, USER_NAME_PROMPT } from './terminal-text.ts';

export { PAGER } from './terminal-text.ts';

export interface SshCliOptions extends SshLogin {
  /** Lines that mean the switch refused a command (the dialect's). */
  errorPatterns: readonly RegExp[];
  /** Typed once at the privileged prompt after login (the dialect's: paging off…). */
  sessionSetup?: readonly string[];
  /** Connecting, the handshake, logging in and the session setup together. */
  loginTimeoutMs: number;
  /** The default time one command may take. */
  commandTimeoutMs: number;
  pager?: RegExp;
}

/** A question a command may ask before it finishes, and what to type ("Overwrite file …?" → "Y"). */
export interface Confirmation {
  prompt: RegExp;
  /** Typed as is, without Enter (switches take the key alone); end it with "\n" when the switch wants Enter too. */
  answer: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Answered once, if the switch asks it. */
  confirm?: Confirmation;
}

/** What a wait looks for at the end of the cleaned output. */
type Matcher = (text: string) => boolean;

interface Waiter {
  matchers: Matcher[];
  resolve(found: { index: number; text: string }): void;
  reject(err: Error): void;
}

export class SshCli {
  /** Learned from the first prompt after login. */
  hostname = '';
  private prompt: RegExp = /$^/;
  private raw = '';
  private pagesAnswered = 0;
  private waiter: Waiter | null = null;
  private brokenBecause: string | null = null;
  private closed = false;
  private connectionClosed = false;
  private readonly pager: { atEnd: RegExp; anywhere: RegExp };
  private readonly client: InstanceType<typeof ssh2.Client>;
  private stream: ClientChannel | null = null;
  private readonly o: SshCliOptions;

  private constructor(o: SshCliOptions) {
    this.o = o;
    this.pager = pagerPatterns(o.pager);
    this.client = new ssh2.Client();
    this.client.on('close', () => (this.connectionClosed = true));
  }

  /** Logs in, learns the prompt, reaches privileged exec and runs the session setup. */
  static async connect(o: SshCliOptions): Promise<SshCli> {
    const cli = new SshCli(o);
    const tooLong = `logging in took longer than ${o.loginTimeoutMs} ms`;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cli.breakWith(tooLong);
    }, o.loginTimeoutMs);
    try {
      await cli.open();
      await cli.login();
      for (const command of o.sessionSetup ?? []) await cli.run(command);
      return cli;
    } catch (err) {
      cli.destroy();
      // Cut off mid-handshake, the connection reports only that it closed: say why it was cut.
      throw timedOut ? new SwitchError(`${o.label}: ${tooLong}`) : cli.asSwitchError(err);
    } finally {
      clearTimeout(timer);
    }
  }

  /** True once the conversation cannot be trusted any more (timeout, dropped connection). */
  get broken(): boolean {
    return this.brokenBecause !== null;
  }

  /**
   * Types `command` and returns what it printed, without its echo and the
   * prompt after it. Fails with the switch's words when the output matches
   * an error pattern, and breaks the session when it does not finish in
   * time.
   */
  async run(command: string, ro: RunOptions = {}): Promise<string> {
    this.usable();
    const timeoutMs = ro.timeoutMs ?? this.o.commandTimeoutMs;
    // The prompt counts only after the switch echoed this command: a stray
    // prompt (reprinted after a log message) must not end the command before
    // its output, crediting each later output to the command before it.
    const echo = command.trim();
    const matchers: Matcher[] = [(t) => this.prompt.test(t) && (echo === '' || stripAnsi(t).includes(echo))];
    if (ro.confirm) {
      const q = new RegExp(`(?:${ro.confirm.prompt.source})\\s*$`, ro.confirm.prompt.flags.replace('g', ''));
      matchers.push((t) => q.test(t));
    }
    this.startOutput();
    this.write(`${command}\n`);
    let found = await this.waitFor(matchers, timeoutMs, `"${command}"`);
    if (found.index === 1) {
      this.write(ro.confirm!.answer);
      found = await this.waitFor([matchers[0]!], timeoutMs, `"${command}" after answering its question`);
    }
    const output = commandOutput(found.text, command);
    this.checkErrors(command, output);
    return output;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.markBroken('the session was closed');
    this.closed = true;
    if (this.connectionClosed) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, 1000);
      this.client.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      this.client.end();
    });
  }

  // -- connection -----------------------------------------------------------

  private async open(): Promise<void> {
    const o = this.o;
    this.stream = await openShell(this.client, { ...o, readyTimeoutMs: o.loginTimeoutMs }, {
      onData: (d) => this.onData(d),
      onClosed: (why) => this.markBroken(why),
    });
  }

  /**
   * From the shell's first output to privileged exec: answers the in-shell
   * "User Name:" / "Password:" dialog once each, types `enable` at ">",
   * and learns the prompt.
   */
  private async login(): Promise<void> {
    const asked = { user: false, password: false, enable: false };
    for (;;) {
      const found = await this.waitFor([(t) => USER_NAME_PROMPT.test(t), (t) => PASSWORD_PROMPT.test(t), (t) => ANY_PROMPT.test(t)], this.o.loginTimeoutMs, 'the login prompt');
      if (found.index === 0 || found.index === 1) {
        const which = found.index === 0 ? 'user' : 'password';
        if (asked[which] || asked.enable) throw new SwitchError(asked.enable ? `${this.o.label}: "enable" asks for a password; HIL needs an account that reaches privileged exec ("#") without one` : `${this.o.label}: the switch refused the login of user ${JSON.stringify(this.o.username)} at its own login prompt (wrong password?)`);
        asked[which] = true;
        this.startOutput();
        this.write(`${which === 'user' ? this.o.username : this.o.password}\n`);
        continue;
      }
      const m = ANY_PROMPT.exec(found.text)!;
      if (m[3] === '>') {
        if (asked.enable) throw new SwitchError(`${this.o.label}: "enable" did not reach privileged exec (the prompt is still ${JSON.stringify(m[0].trim())})`);
        asked.enable = true;
        this.startOutput();
        this.write('enable\n');
        continue;
      }
      this.hostname = m[1]!;
      this.prompt = promptOf(this.hostname);
      // Confirm it: an empty line answers the same prompt, and leaves the output clean for the first command.
      this.startOutput();
      this.write('\n');
      await this.waitFor([(t) => this.prompt.test(t)], this.o.loginTimeoutMs, 'the prompt');
      return;
    }
  }

  // -- reading --------------------------------------------------------------

  private startOutput(): void {
    this.raw = '';
    this.pagesAnswered = 0;
  }

  private onData(d: Buffer): void {
    this.raw += d.toString('latin1');
    // A pager waiting at the end: one space for each page not yet answered.
    const bare = stripAnsi(this.raw);
    if (this.pager.atEnd.test(bare)) {
      const pages = bare.match(this.pager.anywhere)?.length ?? 0;
      if (pages > this.pagesAnswered) {
        this.pagesAnswered = pages;
        this.write(' ');
        return;
      }
    }
    this.check();
  }

  private check(): void {
    const w = this.waiter;
    if (!w) return;
    const text = cleanTerminalText(this.raw, this.pager.anywhere);
    const index = w.matchers.findIndex((m) => m(text));
    if (index < 0) return;
    this.waiter = null;
    w.resolve({ index, text });
  }

  private waitFor(matchers: Matcher[], timeoutMs: number, what: string): Promise<{ index: number; text: string }> {
    this.usable();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const why = `no answer to ${what} within ${timeoutMs} ms`;
        this.breakWith(why);
      }, timeoutMs);
      this.waiter = {
        matchers,
        resolve: (found) => {
          clearTimeout(timer);
          resolve(found);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.check();
    });
  }

  private checkErrors(command: string, output: string): void {
    const words = refusalIn(output, this.o.errorPatterns);
    if (words !== null) throw new SwitchError(this.scrub(`${this.o.label} refused "${command}": ${words}`));
  }

  // -- state ----------------------------------------------------------------

  private write(text: string): void {
    this.stream?.write(text);
  }

  private usable(): void {
    if (this.brokenBecause !== null) throw new SwitchError(`${this.o.label}: this session cannot be used any more (${this.brokenBecause}); a new one must be opened`);
  }

  /** Marks the session broken, fails whoever waits, and cuts the connection. */
  private breakWith(why: string): void {
    this.markBroken(why);
    this.destroy();
  }

  private markBroken(why: string): void {
    if (this.brokenBecause === null) this.brokenBecause = why;
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w.reject(new SwitchError(`${this.o.label}: ${why}; the session is closed and will not be reused`));
    }
  }

  private destroy(): void {
    this.stream?.destroy();
    this.client.destroy();
  }

  private asSwitchError(err: unknown): SwitchError {
    if (err instanceof SwitchError) return new SwitchError(this.scrub(err.message));
    return new SwitchError(this.scrub(`${this.o.label}: ${(err as Error).message ?? String(err)}`));
  }

  /** The switch may echo a typed password (a dialog answered late): never let it out in a message. */
  private scrub(text: string): string {
    return scrubSecrets(text, { username: this.o.username, password: this.o.password, privateKey: this.o.privateKey }, ['password', 'privateKey']);
  }
}
