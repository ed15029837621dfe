/** Small helpers for the command trees: every command gets a description, an example in --help, and one action. */
import { Argument, CommanderError, type Command } from 'commander';
import { printJson } from './output.ts';

/**
 * `usage` is the command's name and its arguments as --help shows them. An
 * argument written `<free|all>` accepts only those words, checked before the
 * action runs (as upstream's CLI did); anything else is an error.
 */
export function define(parent: Command, usage: string, description: string, example: string, action: (...args: any[]) => Promise<void>): Command {
  const [name, ...args] = usage.split(' ');
  const cmd = parent.command(name).description(description);
  for (const a of args) {
    const choices = /^<([\w-]+(?:\|[\w-]+)+)>$/.exec(a)?.[1]?.split('|');
    cmd.addArgument(choices ? new Argument(a).choices(choices) : new Argument(a));
  }
  cmd.addHelpText('after', `\nExample:\n  $ ${example}\n`);
  cmd.action(action);
  return cmd;
}

interface ChangeOptions {
  json?: boolean;
  quiet?: boolean;
}

/**
 * A command that creates, deletes or changes something. It says what it did
 * in one line ("Created network runway-net."), or nothing with --quiet; with
 * --json it prints the object the action answers (the created thing, as its
 * show command would), or {"message": …} when there is none. The
 * confirmation gets the command's arguments, then what the action answered.
 */
export function defineChange(
  parent: Command,
  usage: string,
  description: string,
  example: string,
  confirmation: (...args: any[]) => string,
  action: (...args: any[]) => Promise<unknown>,
): Command {
  const cmd = define(parent, usage, description, example, async (...args: any[]) => {
    const command = args.at(-1) as Command;
    const o = command.optsWithGlobals() as ChangeOptions;
    const result = await action(...args);
    const message = confirmation(...args.slice(0, command.registeredArguments.length), result);
    if (o.json) printJson(result ?? { message });
    else if (!o.quiet) process.stdout.write(`${message}\n`);
  });
  return cmd.option('--json', 'print the result as JSON');
}

/** A command that only groups subcommands (`hil node nic …`); its help shows an example too. */
export function group(parent: Command, name: string, description: string, example: string): Command {
  return parent.command(name).description(description).addHelpText('after', `\nExample:\n  $ ${example}\n`);
}

/** Every command must fail loudly, also on extra arguments. */
export function strictArguments(program: Command): Command {
  const strict = (c: Command) => {
    c.allowExcessArguments(false);
    c.commands.forEach(strict);
  };
  strict(program);
  return program;
}

/**
 * Commander's own messages ("error: missing required argument…") in the
 * CLI's form, "Error: <msg>", with a pointer to --help instead of the whole
 * help text. Set on the program before any command is added: commands copy
 * their parent's output settings when they are created.
 */
export function cliOutput(program: Command): Command {
  return program
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'Error: ')) })
    .showHelpAfterError('(add --help for usage and an example)');
}

/**
 * Runs a command tree: commander has already printed its own errors; an
 * error `expected` says prints as "Error: <message>", anything else with its
 * stack (a bug). Exits 1 on any error.
 */
export async function runProgram(program: Command, expected: (err: unknown) => boolean, describe: (err: unknown) => string = (err) => (err as Error).message): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const text = expected(err) ? describe(err) : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`Error: ${text}\n`);
    process.exit(1);
  }
}
