/**
 * The vendor-neutral interpreter behind every SSH CLI emulator: modes with
 * prompts, commands declared as word patterns and matched keyword by keyword
 * with unique-prefix abbreviation ("sw tr al vl add 10"), the vendor's own
 * messages for invalid, incomplete and ambiguous input, `exit`/`end`/`do`,
 * a "--More--" pager, an optional in-shell login, and the faults of
 * device-state.ts. A vendor emulator declares its grammar and starts:
 *
 * ```ts
 * import { caret, startCliEmulator, VendorError, type CliGrammar } from './cli-engine.ts';
 * import { DeviceState } from './device-state.ts';
 *
 * interface ToyPort { access: number }
 * const grammar: CliGrammar<ToyPort> = {
 *   hostname: 'switch',
 *   start: 'exec',
 *   builtins: { exit: true, end: true, do: true },
 *   pager: { prompt: ' --More-- ', lines: 24 },
 *   messages: {
 *     // p.column: where the offending word starts on the screen (prompt included)
 *     invalid: (p) => [caret(p.column), "% Invalid command at '^' marker."],
 *     incomplete: () => '% Incomplete command',
 *     ambiguous: (p) => [caret(p.column), "% Ambiguous command at '^' marker."],
 *     configLocked: '% Configuration locked by another session',
 *   },
 *   modes: {
 *     exec: { prompt: (h) => `${h}#`, commands: [
 *       { pattern: 'terminal length <lines>', run: (c) => { c.session.paging = c.args.lines !== '0'; } },
 *       { pattern: 'configure terminal', run: (c) => c.enter('config') },
 *       { pattern: 'show vlan', run: (c) => [...c.state.vlans].map(String) },
 *       { pattern: 'copy running-config startup-config', run: (c) => { c.state.save(); return 'Copy complete.'; } },
 *     ] },
 *     // config: true → every command here goes through state.change() (and
 *     // must then be synchronous); inherit: true → a command of the parent
 *     // mode typed here runs there (the session drops back to the parent).
 *     config: { prompt: (h) => `${h}(config)#`, parent: 'exec', config: true, commands: [
 *       // <port...> takes the rest of the line: "interface ethernet 1/1" and "int eth1/1" both reach run()
 *       { pattern: 'interface <port...>', run: (c) => {
 *         const port = 'Ethernet' + c.args.port.replace(/^e(th(ernet)?)? ?/i, '');
 *         if (!c.state.port(port)) return c.invalid('port'); // the vendor's invalid-input message, "^" under the argument
 *         c.enter('config-if', port);                   // the mode's context: which port
 *       } },
 *       { pattern: 'vlan <id>', accept: { id: /^\d+$/ }, run: (c) => { c.state.vlans.add(Number(c.args.id)); } },
 *     ] },
 *     'config-if': { prompt: (h) => `${h}(config-if)#`, parent: 'config', config: true, inherit: true, commands: [
 *       { pattern: 'switchport access vlan <vlan>', run: (c) => {
 *         if (!c.state.vlans.has(Number(c.args.vlan))) throw new VendorError('ERROR: VLAN does not exist');
 *         c.state.port(c.context as string)!.access = Number(c.args.vlan);
 *       } },
 *       { pattern: 'no switchport access vlan', run: (c) => { c.state.port(c.context as string)!.access = 1; } },
 *     ] },
 *   },
 * };
 *
 * export function startToy(o: EmulatorOptions): Promise<CliEmulator<ToyPort>> {
 *   const state = new DeviceState<ToyPort>({ ports: o.ports, freshPort: () => ({ access: 1 }),
 *     effective: (p, vlans) => ({ native: vlans.has(p.access) ? p.access : null, tagged: [] }),
 *     stateFile: o.stateFile, backing: o.backing, faults: o.faults });
 *   return startCliEmulator({ vendor: 'toy', grammar, state, options: o });
 * }
 * ```
 *
 * Errors: ConfigLockedError (from state.change) prints `messages.configLocked`;
 * any other error a handler throws (VendorError for the vendor's refusals)
 * prints its message as the command's output, and the prompt comes back — a
 * switch never closes the session for a refused command. Every command line
 * received (never a password typed at a dialog, never an empty line) is
 * appended to the emulator's `log`. A hung switch (Faults.hangAfterCommands)
 * prints nothing more to any session, old or new (./hung.ts).
 *
 * A complete, tested grammar using every feature: ./toy.ts.
 */
import { compilePattern, matchLine, progress, tokenize, type MatchResult, type Pattern, type Token } from './cli-match.ts';
import { ConfigLockedError, type DeviceState } from './device-state.ts';
import type { EmulatorOptions, RunningEmulator } from './model.ts';
import { stillAnswering } from './hung.ts';
import { startSshServer, type SshShell } from './ssh-server.ts';
import { Terminal } from './terminal.ts';

/** What a command prints: lines (a string may hold several, split on "\n"); nothing for none. Written with "\r\n" line ends. */
export type Output = string | readonly string[] | void | undefined;

/** A vendor's refusal: its message is printed as the command's output. */
export class VendorError extends Error {}

/** A marker line: spaces up to `column`, then "^". */
export function caret(column: number): string {
  return `${' '.repeat(column)}^`;
}

/**
 * `terminal length <lines>` as every emulated CLI has it: 0 turns paging
 * off, another number pages by that many lines. `refuse` throws the
 * vendor's words for a number its switch does not take.
 */
export function terminalLength<P>(refuse: (c: CommandContext<P>, lines: number) => void = () => {}): CliCommand<P> {
  return {
    pattern: 'terminal length <lines>',
    accept: { lines: /^\d+$/ },
    run: (c) => {
      const n = Number(c.args.lines);
      refuse(c, n);
      c.session.paging = n !== 0;
      if (n) c.session.pageLines = n;
    },
  };
}

/** Where the interpreter gave up on a line, for the vendor's message. */
export interface InputProblem {
  /** The line as typed (trimmed of the line end). */
  line: string;
  /** The prompt it was typed at. */
  prompt: string;
  /** The screen column (0-based, prompt included) of the offending word; for an incomplete command, just past the line's end. */
  column: number;
  /** The offending word (absent for incomplete). */
  word?: string;
}

export interface CliMessages {
  invalid(p: InputProblem): Output;
  incomplete(p: InputProblem): Output;
  ambiguous(p: InputProblem): Output;
  /** Printed when state.change throws ConfigLockedError (Faults.configLocked). */
  configLocked: Output;
}

export interface CliSession {
  readonly id: number;
  /** The current mode's name. */
  readonly mode: string;
  /** The vendor's data for the current mode (e.g. the port of an interface mode), as given to enter(). */
  readonly context: unknown;
  /** The user logged in (SSH or in-shell login). */
  readonly username: string;
  /** Whether long output stops at the pager's prompt; the vendor's "terminal length 0" sets it false. */
  paging: boolean;
  /** Lines per page (the pager's prompt takes the last one); default the grammar's pager.lines. */
  pageLines: number;
  /** The vendor's own per-session data (enable state, …). */
  readonly vars: Record<string, unknown>;
}

export interface CommandContext<P> {
  /** Argument values by name: "<vlans>" → args.vlans; a "<rest...>" argument holds its words joined by single spaces. */
  readonly args: Readonly<Record<string, string>>;
  /** The words as typed (abbreviations unexpanded). */
  readonly words: readonly string[];
  readonly line: string;
  readonly state: DeviceState<P>;
  readonly session: CliSession;
  /** Same as session.context. */
  readonly context: unknown;
  readonly hostname: string;
  /** Moves the session to `mode` (its context: `context`); the prompt changes after this command. */
  enter(mode: string, context?: unknown): void;
  /** Prints `prompt` and reads a line (echo off for passwords). Not for config commands (those are synchronous). */
  ask(prompt: string, o?: { echo?: boolean }): Promise<string>;
  /** Prints `prompt` and reads one key (a confirmation like "[Yes/press any key for no]"). */
  askKey(prompt: string): Promise<string>;
  /** Throws the vendor's invalid-input message with the marker under the first word of argument `arg`. */
  invalid(arg: string): never;
  /** Ends the session (as `exit` at exec does). */
  close(): void;
}

export interface CliCommand<P> {
  /**
   * Words: keywords (matched case-insensitively, abbreviable to a unique
   * prefix among the commands still possible at that word) and arguments
   * "<name>" (one word) or "<name...>" (the rest of the line, at the end
   * only). A `no` form is just another pattern: 'no switchport access vlan'.
   */
  pattern: string;
  /** Per argument, what it must look like; a word that does not match is invalid input there (so 'interface vlan <id>' and 'interface <port...>' can live side by side). */
  accept?: Record<string, RegExp>;
  /** Whether this is a configuration command (through state.change, synchronous); default: the mode's `config`. */
  config?: boolean;
  run(c: CommandContext<P>): Output | Promise<Output>;
}

export interface CliMode<P> {
  prompt(hostname: string, session: CliSession): string;
  /** Where `exit` goes; absent: `exit` ends the session, and this is where `end` comes back to. */
  parent?: string;
  /** Commands here are configuration commands: they go through state.change and must be synchronous. */
  config?: boolean;
  /** A command not found here is tried in the parent (recursively); if it matches there, the session drops to that mode first (IOS/NX-OS behaviour). */
  inherit?: boolean;
  commands: CliCommand<P>[];
}

export interface PagerSpec {
  /** e.g. " --More-- " or "--More-- or (q)uit". */
  prompt: string;
  /** Lines per page, the prompt's line included; default 24. */
  lines?: number;
  /** Written after the key, to wipe the prompt; default "\r" + spaces + "\r". */
  erase?: string;
}

/** An in-shell login, for vendors that ask after the SSH handshake (the SSH layer then lets anyone in). */
export interface LoginDialog {
  /** e.g. "User Name:" */
  username: string;
  /** e.g. "Password:" (the answer is not echoed). */
  password: string;
  /** Printed after wrong credentials, before asking again. */
  failed: Output;
  /** Tries before the session is closed; default 3. */
  attempts?: number;
}

export interface CliGrammar<P> {
  /** The default hostname (EmulatorOptions.hostname overrides it). */
  hostname: string;
  /** The mode a session starts in. */
  start: string;
  modes: Record<string, CliMode<P>>;
  messages: CliMessages;
  /** Built-in commands the vendor opts into: `exit` (every mode), `end` (modes with a parent), `do <exec command>` (config modes). */
  builtins?: { exit?: boolean; end?: boolean; do?: boolean };
  pager?: PagerSpec;
  login?: LoginDialog;
  /** Printed once after login, before the first prompt. */
  banner?: Output;
  /** Line end the switch writes; default "\r\n". */
  newline?: string;
}

export interface CliEmulatorSpec<P> {
  vendor: string;
  grammar: CliGrammar<P>;
  state: DeviceState<P>;
  options: EmulatorOptions;
}

export interface CliEmulator<P> extends RunningEmulator {
  readonly hostKeyFingerprint: string;
  readonly state: DeviceState<P>;
  /** Shells open now. */
  readonly sessions: number;
}

export async function startCliEmulator<P>(spec: CliEmulatorSpec<P>): Promise<CliEmulator<P>> {
  const { grammar, state, options: o } = spec;
  const cli = new CliInterpreter(grammar, state, o.hostname ?? grammar.hostname);
  await state.applyAll(); // the data plane starts as the (saved) running configuration says
  const log: string[] = [];
  let open = 0;
  const ssh = await startSshServer({
    hostKey: o.hostKey,
    listenPort: o.listenPort,
    // A switch that logs in inside the shell lets anyone through SSH (its CLI then asks).
    auth: grammar.login ? 'any' : { username: o.username, password: o.password },
    onShell(shell) {
      open++;
      shell.onClose(() => open--);
      void runShell(cli, shell, { log, username: o.username, password: o.password });
    },
  });
  return {
    vendor: spec.vendor,
    host: '127.0.0.1',
    port: ssh.port,
    hostKeyFingerprint: ssh.hostKeyFingerprint,
    state,
    log,
    faults: state.faults,
    effective: (p) => state.effective(p),
    get unsaved() {
      return state.unsaved;
    },
    get sessions() {
      return open;
    },
    dropSessions: () => ssh.dropSessions(),
    // The backing (options.backing) belongs to whoever made it, and is closed by them.
    close: () => ssh.close(),
  };
}

// ——— the interpreter ———

type Builtin = 'exit' | 'end' | 'do';
interface Entry<P> {
  command?: CliCommand<P>;
  builtin?: Builtin;
}

interface ModeFrame {
  mode: string;
  context: unknown;
}

/** A line the vendor's invalid-input message is printed for, with the marker at `token`. */
class InvalidAt extends Error {
  readonly token: number;
  constructor(token: number) {
    super('invalid input');
    this.token = token;
  }
}

class CliInterpreter<P> {
  readonly grammar: CliGrammar<P>;
  readonly state: DeviceState<P>;
  readonly hostname: string;
  readonly nl: string;
  readonly #patterns = new Map<string, Pattern<Entry<P>>[]>();

  constructor(grammar: CliGrammar<P>, state: DeviceState<P>, hostname: string) {
    this.grammar = grammar;
    this.state = state;
    this.hostname = hostname;
    this.nl = grammar.newline ?? '\r\n';
    if (!grammar.modes[grammar.start]) throw new Error(`grammar: no start mode "${grammar.start}"`);
    const b = grammar.builtins ?? {};
    for (const [name, mode] of Object.entries(grammar.modes)) {
      if (mode.parent && !grammar.modes[mode.parent]) throw new Error(`grammar: mode "${name}" has an unknown parent "${mode.parent}"`);
      const patterns = mode.commands.map((c) => compilePattern<Entry<P>>({ command: c }, c.pattern, c.accept));
      if (b.exit) patterns.push(compilePattern({ builtin: 'exit' }, 'exit'));
      if (b.end && mode.parent) patterns.push(compilePattern({ builtin: 'end' }, 'end'));
      if (b.do && mode.parent) patterns.push(compilePattern({ builtin: 'do' }, 'do <command...>'));
      this.#patterns.set(name, patterns);
    }
  }

  prompt(s: ShellSession): string {
    return this.grammar.modes[s.mode].prompt(this.hostname, s);
  }

  /** The modes from the root down to `mode`, following parents. */
  chain(mode: string): string[] {
    const out: string[] = [];
    for (let m: string | undefined = mode; m; m = this.grammar.modes[m].parent) out.unshift(m);
    return out;
  }

  /** Runs one typed line in the session's mode; returns what to print. */
  async execute(s: ShellSession, line: string, prompt: string): Promise<string[]> {
    const tokens = tokenize(line);
    if (!tokens.length) return [];
    return this.#dispatch(s, line, prompt, tokens, s.stack.length - 1);
  }

  async #dispatch(s: ShellSession, line: string, prompt: string, tokens: Token[], depth: number): Promise<string[]> {
    // Try the mode at `depth`, then (inherit) its ancestors; the first that matches runs.
    let best: MatchResult<Entry<P>> | undefined;
    let at = depth;
    for (let d = depth; d >= 0; d--) {
      const r = matchLine(this.#patterns.get(s.stack[d].mode)!, tokens);
      if (r.ok) {
        best = r;
        at = d;
        break;
      }
      if (!best || progress(r) > progress(best)) best = r;
      if (!this.grammar.modes[s.stack[d].mode].inherit) break;
    }
    const m = this.grammar.messages;
    const problem = (token: number): InputProblem => ({
      line,
      prompt,
      column: prompt.length + (token < tokens.length ? tokens[token].index : line.trimEnd().length),
      word: tokens[token]?.text,
    });
    if (!best!.ok) {
      const p = problem(best!.at);
      return lines(best!.problem === 'invalid' ? m.invalid(p) : best!.problem === 'ambiguous' ? m.ambiguous(p) : m.incomplete(p));
    }
    const { command: entry, args, argTokens } = best!;
    if (at < s.stack.length - 1) s.stack.length = at + 1; // a parent's command: the session drops to that mode

    if (entry.builtin === 'exit') {
      if (s.stack.length > 1) s.stack.pop();
      else if (this.grammar.modes[s.mode].parent) s.stack = [{ mode: this.grammar.modes[s.mode].parent!, context: undefined }];
      else s.closing = true;
      return [];
    }
    if (entry.builtin === 'end') {
      s.stack.length = 1;
      return [];
    }
    if (entry.builtin === 'do') {
      // `do` runs an exec command without leaving the mode the session is in.
      const saved = s.stack;
      s.stack = [saved[0]];
      try {
        return await this.#dispatch(s, line, prompt, tokens.slice(1), 0);
      } finally {
        if (!s.closing) s.stack = saved;
      }
    }

    const command = entry.command!;
    const isConfig = command.config ?? this.grammar.modes[s.mode].config ?? false;
    let entered: ModeFrame | undefined;
    const c: CommandContext<P> = {
      args,
      words: tokens.map((t) => t.text),
      line,
      state: this.state,
      session: s,
      context: s.context,
      hostname: this.hostname,
      enter: (mode, context) => {
        if (!this.grammar.modes[mode]) throw new Error(`grammar: enter() of unknown mode "${mode}"`);
        entered = { mode, context };
      },
      ask: (question, o) => s.ask(question, o?.echo ?? true),
      askKey: (question) => s.askKey(question),
      invalid: (arg) => {
        throw new InvalidAt(argTokens[arg] ?? 0);
      },
      close: () => {
        s.closing = true;
      },
    };
    try {
      let out: Output;
      if (isConfig) {
        await this.state.change(() => {
          const r = command.run(c);
          if (r instanceof Promise) throw new Error(`grammar: the configuration command "${command.pattern}" must be synchronous`);
          out = r;
        });
      } else {
        out = await command.run(c);
      }
      if (entered) this.#enter(s, entered);
      return lines(out);
    } catch (err) {
      if (err instanceof InvalidAt) return lines(m.invalid(problem(err.token)));
      if (err instanceof ConfigLockedError) return lines(m.configLocked);
      // Not a refusal the vendor meant: most likely a bug in its emulator, which its author wants to see.
      if (!(err instanceof VendorError)) console.error(`emulator: "${command.pattern}" threw`, err);
      return lines(err instanceof Error ? err.message : String(err));
    }
  }

  /** Moves to `f.mode`, keeping the contexts of the modes above it that the session is already in. */
  #enter(s: ShellSession, f: ModeFrame): void {
    const chain = this.chain(f.mode);
    s.stack = chain.map((mode, i) => (i === chain.length - 1 ? f : s.stack[i]?.mode === mode ? s.stack[i] : { mode, context: undefined }));
  }
}

/** Output → lines (each without its line end). */
function lines(out: Output): string[] {
  if (out === undefined) return [];
  const text = typeof out === 'string' ? out : out.join('\n');
  if (text === '') return [];
  return text.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n');
}

// ——— one shell ———

class ShellSession implements CliSession {
  static #ids = 0;
  readonly id = ++ShellSession.#ids;
  username: string;
  paging = true;
  pageLines: number;
  readonly vars: Record<string, unknown> = {};
  stack: ModeFrame[];
  closing = false;
  readonly term: Terminal;
  readonly #nl: string;

  constructor(term: Terminal, start: string, username: string, pageLines: number, nl: string) {
    this.term = term;
    this.stack = [{ mode: start, context: undefined }];
    this.username = username;
    this.pageLines = pageLines;
    this.#nl = nl;
  }

  get mode(): string {
    return this.stack[this.stack.length - 1].mode;
  }

  get context(): unknown {
    return this.stack[this.stack.length - 1].context;
  }

  async ask(question: string, echo: boolean): Promise<string> {
    this.term.write(question);
    return (await this.term.readLine({ echo })) ?? '';
  }

  async askKey(question: string): Promise<string> {
    this.term.write(question);
    return (await this.term.readKey()) ?? '';
  }

  writeLines(ls: readonly string[]): void {
    for (const l of ls) this.term.write(l + this.#nl);
  }
}

async function runShell<P>(cli: CliInterpreter<P>, shell: SshShell, o: { log: string[]; username: string; password: string }): Promise<void> {
  const term = new Terminal((text) => shell.write(text));
  shell.onData((d) => term.feed(d));
  shell.onClose(() => term.close());
  const g = cli.grammar;
  const s = new ShellSession(term, g.start, shell.username, g.pager?.lines ?? 24, cli.nl);

  if (g.login && !(await login(g.login, s, o))) return shell.end();
  s.writeLines(lines(g.banner));
  while (!term.closed) {
    await stillAnswering(cli.state.faults);
    const prompt = cli.prompt(s);
    term.write(prompt);
    const line = await term.readLine();
    if (line === null) break;
    if (line.trim()) o.log.push(line.trim());
    const out = await cli.execute(s, line, prompt);
    await stillAnswering(cli.state.faults);
    await page(s, out, g.pager);
    if (s.closing) break;
  }
  shell.end();
}

async function login(d: LoginDialog, s: ShellSession, o: { username: string; password: string }): Promise<boolean> {
  for (let i = 0; i < (d.attempts ?? 3); i++) {
    const user = await s.ask(d.username, true);
    const password = await s.ask(d.password, false);
    if (s.term.closed) return false;
    if (user === o.username && password === o.password) {
      s.username = user;
      return true;
    }
    s.writeLines(lines(d.failed));
  }
  return false;
}

/** Writes a command's output, stopping at the pager's prompt every page while the session pages. */
async function page(s: ShellSession, out: string[], pager: PagerSpec | undefined): Promise<void> {
  const perPage = Math.max(1, s.pageLines - 1);
  if (!pager || !s.paging || out.length <= perPage) return s.writeLines(out);
  let shown = 0;
  let room = perPage;
  while (shown < out.length) {
    s.writeLines(out.slice(shown, shown + room));
    shown += room;
    if (shown >= out.length) return;
    s.term.write(pager.prompt);
    const key = await s.term.readKey();
    s.term.write(pager.erase ?? `\r${' '.repeat(pager.prompt.length)}\r`);
    if (key === ' ') room = perPage;
    else if (key === '\r' || key === '\n') room = 1;
    else return; // q (or any other key) stops the listing, as IOS-like CLIs do
  }
}
